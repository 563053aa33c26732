/**
 * Shapes the averaging and compression math works on. Plain data (typed arrays aside), no
 * tfjs: the training layer converts its variables to and from these.
 */

/**
 * What a tensor is, which decides how merges treat it: variance correction rescales only
 * `weight`s (kernels, matrices, embeddings); `bias` and `norm` (batch/layer-norm gamma, beta
 * and moving statistics) are averaged plainly, because their spread carries no
 * initialisation scale to restore.
 */
export type TensorKind = 'weight' | 'bias' | 'norm'

/** One named tensor of a model as a flat, row-major Float32Array. */
export interface NamedTensor {
  name: string
  shape: number[]
  kind: TensorKind
  data: Float32Array
}

/** Every tensor of a model, in the model's own weight order. */
export interface ModelSnapshot {
  tensors: NamedTensor[]
}

/** How models are merged; the same names the session config uses for its averaging rule. */
/** A merge rule's name: a built-in one, or one given to `registerMergeRule`. */
export type MergeRule = 'plain' | 'variance-corrected' | 'median' | 'trimmed-mean' | (string & {})

/** Options of `mergeModels`. */
export interface MergeOptions {
  rule: MergeRule
  /**
   * One non-negative weight per model (e.g. sample counts, or the peer's self-weight first),
   * normalised inside. Used by `plain` and `variance-corrected`; the robust rules
   * (`median`, `trimmed-mean`) treat every model alike and ignore it.
   *
   * @default uniform
   */
  weights?: readonly number[]
  /**
   * Fraction of models trimmed from each side per coordinate by `trimmed-mean`, in [0, 0.5).
   *
   * @default 0.2
   */
  trim?: number
  /**
   * Added to both variances by `variance-corrected` (the paper's code uses 1e-4).
   *
   * @default 0
   */
  epsilon?: number
}

/**
 * A sparsified tensor delta: `values[i]` belongs at `indices[i]` of a dense tensor of
 * `length` elements. Indices are strictly increasing.
 */
export interface SparseDelta {
  indices: Uint32Array
  values: Float32Array
  length: number
}
