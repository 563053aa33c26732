import { InvalidModelError, MergeInputError } from './errors.js'
import type { ModelSnapshot, NamedTensor } from './types.js'

/** Options of `validateModel`. */
export interface ValidateModelOptions {
  /**
   * Largest accepted ‖candidate − reference‖ per tensor, as a multiple of the reference's
   * scale for that tensor (its norm, but at least the reference model's RMS × sqrt(size), so
   * zero-initialised biases do not refuse every update). Two models trained apart from
   * different initialisations differ by about 1.4× their norm; 10 leaves room for that and
   * for long local training, and refuses updates scaled up by an attacker or a diverged
   * optimiser.
   *
   * @default 10
   */
  maxNormRatio?: number
}

function fail (message: string, reason: InvalidModelError['reason'], tensor?: string): never {
  throw new InvalidModelError(message, reason, tensor)
}

function sameShape (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

function firstNonFinite (data: Float32Array): number {
  for (let j = 0; j < data.length; j++) if (!Number.isFinite(data[j])) return j
  return -1
}

// ‖c‖² overflows doubles only through Inf/NaN (float32 squares stay below 1.2e77), so a finite
// sum proves every element finite in the same pass that measures the distance.
function sumsOfSquares (c: Float32Array, r: Float32Array): { diff: number, own: number } {
  let diff = 0; let own = 0
  for (let j = 0; j < c.length; j++) {
    const x = c[j]!
    const d = x - r[j]!
    own += x * x
    diff += d * d
  }
  return { diff, own }
}

function checkLayout (c: NamedTensor, r: NamedTensor, index: number): void {
  if (c == null || typeof c !== 'object') fail(`tensor ${index} is missing`, 'structure')
  if (c.name !== r.name) fail(`tensor ${index} is named "${String(c.name)}", expected "${r.name}"`, 'name', String(c.name))
  if (!Array.isArray(c.shape) || !sameShape(c.shape, r.shape)) {
    fail(`tensor "${r.name}" has shape [${Array.isArray(c.shape) ? c.shape.join(', ') : String(c.shape)}], expected [${r.shape.join(', ')}]`, 'shape', r.name)
  }
  if (!(c.data instanceof Float32Array) || c.data.length !== r.data.length) {
    const got = c.data instanceof Float32Array ? `${c.data.length} values` : 'no Float32Array'
    fail(`tensor "${r.name}" has ${got}, expected ${r.data.length} values`, 'shape', r.name)
  }
}

/**
 * Refuses, with an `InvalidModelError` naming the tensor, a model that must not be merged
 * into `reference` (normally our own model): a different tensor list, names or shapes,
 * NaN/Inf values, or a tensor whose distance from the reference is more than
 * `maxNormRatio` times the reference's scale. Returns normally when the model is usable.
 */
export function validateModel (candidate: ModelSnapshot, reference: ModelSnapshot, options: ValidateModelOptions = {}): void {
  const maxNormRatio = options.maxNormRatio ?? 10
  if (!(maxNormRatio > 0)) throw new MergeInputError(`validateModel: maxNormRatio must be > 0, got ${String(maxNormRatio)}`)
  if (candidate == null || !Array.isArray(candidate.tensors)) fail('the model has no tensor list', 'structure')
  const refs = reference.tensors
  if (candidate.tensors.length !== refs.length) {
    fail(`the model has ${candidate.tensors.length} tensors, expected ${refs.length}`, 'structure')
  }
  let refSquares = 0
  let refSize = 0
  const refNorms = refs.map(r => {
    let s = 0
    for (let j = 0; j < r.data.length; j++) s += r.data[j]! * r.data[j]!
    refSquares += s
    refSize += r.data.length
    return Math.sqrt(s)
  })
  // A zero-initialised tensor (biases) has no scale of its own; the model's RMS stands in.
  const modelRms = refSize > 0 ? Math.sqrt(refSquares / refSize) : 0
  for (let t = 0; t < refs.length; t++) {
    const r = refs[t]!
    const c = candidate.tensors[t]!
    checkLayout(c, r, t)
    const { diff, own } = sumsOfSquares(c.data, r.data)
    if (!Number.isFinite(diff) || !Number.isFinite(own)) {
      const at = firstNonFinite(c.data)
      if (at >= 0) fail(`tensor "${r.name}" holds ${String(c.data[at])} at index ${at}`, 'non-finite', r.name)
      throw new MergeInputError(`validateModel: the reference's tensor "${r.name}" is not finite`)
    }
    const scale = Math.max(refNorms[t]!, modelRms * Math.sqrt(r.data.length))
    // A reference of all zeros gives no scale to judge by: only finiteness is checked.
    if (scale > 0 && Math.sqrt(diff) > maxNormRatio * scale) {
      fail(`tensor "${r.name}" is ${(Math.sqrt(diff) / scale).toFixed(1)}× the reference's scale away from it (limit ${maxNormRatio}×)`, 'outlier', r.name)
    }
  }
}
