import { InvalidSparseDeltaError, MergeInputError } from './errors.js'
import { topKIndices } from './select.js'
import type { SparseDelta } from './types.js'

/**
 * How many elements of `length` to send: an integer k >= 1 is a count (capped at `length`),
 * a value in (0, 1) is a fraction of `length` (rounded up, at least one), 0 sends nothing.
 */
export function resolveK (k: number, length: number): number {
  if (typeof k !== 'number' || !Number.isFinite(k) || k < 0 || (k > 1 && !Number.isInteger(k))) {
    throw new MergeInputError(`k must be 0, a fraction in (0, 1) or an integer count, got ${String(k)}`)
  }
  if (k === 0 || length === 0) return 0
  if (k < 1) return Math.min(length, Math.max(1, Math.ceil(k * length)))
  return Math.min(length, k)
}

// 0 for finite values, NaN as soon as one is NaN or ±Infinity.
function nonFiniteProbe (data: Float32Array): number {
  let probe = 0
  for (let j = 0; j < data.length; j++) { const v = data[j]!; probe += v - v }
  return probe
}

/**
 * Top-k sparsification with error feedback (Deep Gradient Compression): each call adds the
 * delta to what earlier calls left unsent for the same key (one key per tensor), sends the k
 * entries of largest magnitude and keeps the rest as the new residual. Nothing is lost, only
 * delayed: small coordinates accumulate until they are large enough to be sent.
 */
export class TopKCompressor {
  private readonly residuals = new Map<string, Float32Array>()

  /**
   * Sparsifies `delta` (not modified) for tensor `key`. Exactly, in float32:
   * sent + new residual = delta + old residual, element by element.
   */
  compress (delta: Float32Array, k: number, key = ''): SparseDelta {
    if (!(delta instanceof Float32Array)) throw new MergeInputError('TopKCompressor.compress: delta must be a Float32Array')
    const length = delta.length
    const count = resolveK(k, length)
    let residual = this.residuals.get(key)
    if (residual != null && residual.length !== length) {
      throw new MergeInputError(`TopKCompressor.compress: delta for "${key}" has ${length} elements, its residual ${residual.length}; reset() after changing the model`)
    }
    // Checked before the residual changes, so one bad delta cannot poison every later one.
    if (nonFiniteProbe(delta) !== 0) throw new MergeInputError(`TopKCompressor.compress: delta for "${key}" holds NaN or Infinity`)
    if (residual == null) {
      residual = new Float32Array(length)
      this.residuals.set(key, residual)
    }
    for (let j = 0; j < length; j++) residual[j] = residual[j]! + delta[j]!
    const indices = topKIndices(residual, count)
    const values = new Float32Array(indices.length)
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i]!
      values[i] = residual[j]!
      residual[j] = 0
    }
    return { indices, values, length }
  }

  /** What is still unsent for `key` (live; do not modify), or undefined before its first compress. */
  residual (key = ''): Float32Array | undefined {
    return this.residuals.get(key)
  }

  /** Forgets the residual of `key`, or of every key when omitted (e.g. after a merge replaced the model). */
  reset (key?: string): void {
    if (key == null) this.residuals.clear()
    else this.residuals.delete(key)
  }
}

/**
 * Adds a sparse delta to `base` in place and returns `base`. The delta is checked whole
 * before anything changes (it usually comes from another peer): matching length, indices
 * strictly increasing and in range, finite values; otherwise an `InvalidSparseDeltaError`.
 */
export function applySparse (base: Float32Array, sparse: SparseDelta): Float32Array {
  const { indices, values, length } = sparse
  if (!(indices instanceof Uint32Array) || !(values instanceof Float32Array)) {
    throw new InvalidSparseDeltaError('a sparse delta needs Uint32Array indices and Float32Array values')
  }
  if (length !== base.length) throw new InvalidSparseDeltaError(`the sparse delta is for ${String(length)} elements, the tensor has ${base.length}`)
  if (indices.length !== values.length) {
    throw new InvalidSparseDeltaError(`the sparse delta has ${indices.length} indices but ${values.length} values`)
  }
  let previous = -1
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!
    if (j <= previous || j >= length) {
      throw new InvalidSparseDeltaError(`index ${j} at position ${i} is out of order or out of range (length ${length})`)
    }
    previous = j
  }
  if (nonFiniteProbe(values) !== 0) throw new InvalidSparseDeltaError('the sparse delta holds NaN or Infinity')
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!
    base[j] = base[j]! + values[i]!
  }
  return base
}

/** The dense tensor a sparse delta stands for: zeros except at its indices. */
export function densify (sparse: SparseDelta): Float32Array {
  return applySparse(new Float32Array(sparse.length), sparse)
}
