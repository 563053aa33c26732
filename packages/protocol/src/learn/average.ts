import { MergeInputError } from './errors.js'
import { commonLength, dropZeroWeights, normaliseWeights } from './check.js'
import { affineInPlace, weightedSumInto, weightedSumWithStats } from './kernels.js'
import { simdWeightedSumInto, simdWeightedSumWithStats } from './simd.js'

/** Options of `varianceCorrectedAverage`. */
export interface VarianceCorrectionOptions {
  /**
   * Added to both variances before their ratio is taken, which bounds the rescale for
   * near-constant tensors. The vanishing-variance paper's code uses 1e-4.
   *
   * @default 0
   */
  epsilon?: number
}

// Var(m) below this fraction of E[m²] is float32 rounding noise around a constant tensor:
// rescaling it would only amplify the noise, so the average is returned as is.
const CONSTANT_TENSOR = 1e-12

/** A MergeInputError unless `out` has the inputs' length and shares no memory with any of them. */
function checkOutput (out: Float32Array, tensors: readonly Float32Array[], length: number, what: string): void {
  if (!(out instanceof Float32Array) || out.length !== length) {
    throw new MergeInputError(`${what}: the output must be a Float32Array of ${length} elements`)
  }
  const start = out.byteOffset
  const end = start + out.byteLength
  for (const t of tensors) {
    if (t.buffer === out.buffer && t.byteOffset < end && start < t.byteOffset + t.byteLength) {
      throw new MergeInputError(`${what}: the output overlaps an input; merge into a separate array`)
    }
  }
}

/**
 * The weighted element-wise average Σ a_i·t_i with a_i = weights[i] / Σ weights (uniform
 * when `weights` is omitted). Returns a new array.
 */
export function weightedAverage (tensors: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  return weightedAverageInto(new Float32Array(commonLength(tensors, 'weightedAverage')), tensors, weights)
}

/**
 * `weightedAverage` written into `out` (same length, not overlapping any input), which is
 * returned. Reusing one output per tensor spares a long-running peer a fresh allocation,
 * and its page faults, every round.
 */
export function weightedAverageInto (out: Float32Array, tensors: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  const length = commonLength(tensors, 'weightedAverage')
  checkOutput(out, tensors, length, 'weightedAverage')
  const kept = dropZeroWeights(tensors, normaliseWeights(weights, tensors.length, 'weightedAverage'))
  if (!simdWeightedSumInto(out, kept.tensors, kept.weights)) weightedSumInto(out, kept.tensors, kept.weights)
  return out
}

/**
 * Variance-corrected averaging: the weighted average m, rescaled about its own mean so that
 * its variance equals Σ a_i·Var(t_i), the weighted mean of the inputs' variances:
 * `out = mean(m) + (m − mean(m))·sqrt((target + ε) / (Var(m) + ε))`. Averaging models that
 * were trained apart shrinks the variance of a layer roughly as 1/n, undoing its
 * initialisation scale; this restores it. Population variances over the whole tensor; the
 * rescale is skipped when m is constant. Identity for one input. Returns a new array.
 */
export function varianceCorrectedAverage (
  tensors: readonly Float32Array[],
  weights?: readonly number[],
  options: VarianceCorrectionOptions = {}
): Float32Array {
  const length = commonLength(tensors, 'varianceCorrectedAverage')
  return varianceCorrectedAverageInto(new Float32Array(length), tensors, weights, options)
}

/** `varianceCorrectedAverage` written into `out` (same length, not overlapping any input), which is returned. */
export function varianceCorrectedAverageInto (
  out: Float32Array,
  tensors: readonly Float32Array[],
  weights?: readonly number[],
  options: VarianceCorrectionOptions = {}
): Float32Array {
  const length = commonLength(tensors, 'varianceCorrectedAverage')
  checkOutput(out, tensors, length, 'varianceCorrectedAverage')
  const epsilon = options.epsilon ?? 0
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) {
    throw new MergeInputError(`varianceCorrectedAverage: epsilon must be a finite number >= 0, got ${String(epsilon)}`)
  }
  const kept = dropZeroWeights(tensors, normaliseWeights(weights, tensors.length, 'varianceCorrectedAverage'))
  const only = kept.tensors[0]
  if (kept.tensors.length === 1 && only != null) {
    out.set(only)
    return out
  }
  if (length === 0) return out
  const { target, mean, variance } = simdWeightedSumWithStats(out, kept.tensors, kept.weights) ??
    weightedSumWithStats(out, kept.tensors, kept.weights)
  if (!(variance > CONSTANT_TENSOR * (variance + mean * mean))) return out
  const scale = Math.sqrt((target + epsilon) / (variance + epsilon))
  affineInPlace(out, scale, mean * (1 - scale))
  return out
}
