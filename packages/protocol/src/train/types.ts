/**
 * Shapes the training layer shares with the rest of Murmur. Everything here is plain,
 * JSON-friendly data (typed arrays aside) so it can travel in the session document and
 * between workers without tfjs.
 */

// The snapshot shapes belong to learn (the averaging math); train produces and consumes them.
export type { NamedTensor, ModelSnapshot } from '../learn/types.js'

/** A labelled classification data set held in memory. */
export interface Dataset {
  /** `count` samples of `prod(inputShape)` features each, row-major, normalised to 0..1. */
  images: Float32Array
  /** One class index per sample, in [0, numClasses). */
  labels: Uint8Array
  count: number
  /** Shape of one sample, e.g. [784] or [28, 28, 1]; models may reshape as long as sizes agree. */
  inputShape: number[]
  numClasses: number
}

/** Optimisers a session may name; both are stateless enough to restart after a merge. */
export type OptimizerName = 'sgd' | 'adam'

/**
 * A model's topology as tfjs layers JSON: what `model.toJSON(null, false)` returns, or a
 * hand-written `{ class_name: 'Sequential', config: { layers: [...] } }`. Layers should carry
 * explicit names: weight names come from them and must agree across peers.
 */
export interface LayersTopology {
  class_name: string
  config: Record<string, unknown>
  [key: string]: unknown
}

/** Everything a peer needs to build and train the session's model; JSON-serialisable. */
export interface ModelConfig {
  architecture: LayersTopology
  optimizer: { name: OptimizerName, learningRate: number }
  batchSize: number
  /** Minibatch steps each peer takes between merges (E in the design). */
  localSteps: number
  /** A tfjs loss name, e.g. 'categoricalCrossentropy' or 'sparseCategoricalCrossentropy'. */
  loss: string
  /** Initialisation seed shared by the session; a peer's own seed overrides it. */
  seed?: number
}
