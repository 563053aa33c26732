import { MergeInputError } from './errors.js'

// Argument checks shared by the per-tensor rules. They run once per call, never per element.

/** The common length of `tensors`, or a `MergeInputError` naming the first one that differs. */
export function commonLength (tensors: readonly Float32Array[], what: string): number {
  if (tensors == null || tensors.length === 0) {
    throw new MergeInputError(`${what} needs at least one tensor, got none`)
  }
  let length = -1
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]
    if (!(t instanceof Float32Array)) throw new MergeInputError(`${what}: input ${i} is not a Float32Array`)
    if (length === -1) length = t.length
    else if (t.length !== length) {
      throw new MergeInputError(`${what}: input ${i} has ${t.length} elements, input 0 has ${length}`)
    }
  }
  return length
}

/**
 * Weights scaled to sum to 1 (uniform when omitted), as a Float64Array so the kernels read
 * doubles. Negative, NaN or infinite weights, a count that differs from the inputs, or weights
 * that are all zero are refused: each would silently produce a model nobody asked for.
 */
export function normaliseWeights (weights: readonly number[] | undefined, n: number, what: string): Float64Array {
  const out = new Float64Array(n)
  if (weights == null) return out.fill(1 / n)
  if (weights.length !== n) {
    throw new MergeInputError(`${what}: got ${weights.length} weights for ${n} tensors`)
  }
  let sum = 0
  for (let i = 0; i < n; i++) {
    const w = weights[i]
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
      throw new MergeInputError(`${what}: weight ${i} is ${String(w)}; weights must be finite and >= 0`)
    }
    sum += w
  }
  if (!(sum > 0)) throw new MergeInputError(`${what}: all weights are zero`)
  if (!Number.isFinite(sum)) throw new MergeInputError(`${what}: weights sum to infinity`)
  for (let i = 0; i < n; i++) out[i] = (weights[i] ?? 0) / sum
  return out
}

/** The inputs and weights that matter: zero-weight inputs add nothing, so the kernels skip them. */
export function dropZeroWeights (tensors: readonly Float32Array[], weights: Float64Array): { tensors: Float32Array[], weights: Float64Array } {
  const kept: Float32Array[] = []
  const kw: number[] = []
  for (let i = 0; i < tensors.length; i++) {
    const w = weights[i] ?? 0
    const t = tensors[i]
    if (w > 0 && t != null) { kept.push(t); kw.push(w) }
  }
  return { tensors: kept, weights: Float64Array.from(kw) }
}
