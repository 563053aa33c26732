/**
 * Shapes the training layer shares with the rest of Murmur. Configs are plain JSON so they
 * can travel in the session document; data sets are typed arrays so they can move between
 * workers without tfjs.
 */
import type * as tf from '@tensorflow/tfjs'

// The snapshot shapes belong to learn (the averaging math); train produces and consumes them.
export type { NamedTensor, ModelSnapshot } from '../learn/types.js'

/** Samples held in memory. */
export interface Dataset {
  /** count × prod(inputShape) values, row-major. Float32Array for features, Int32Array for token ids. */
  xs: Float32Array | Int32Array
  /** count × prod(targetShape) values: class indices (Int32Array/Uint8Array/Float32Array), one-hot rows, real values, or token ids. */
  ys: Float32Array | Int32Array | Uint8Array
  count: number
  /** Shape of one sample, e.g. [784], [28,28,1], [64] (token ids). */
  inputShape: number[]
  /** Shape of one target: [] for one class index or one real value per sample, [C] for one-hot/multi-output, [T] for token sequences. */
  targetShape: number[]
}

/** One minibatch as tensors, as a generator or tf.data.Dataset yields it. */
// A type alias, not an interface: tf.data.Dataset<T> needs T to be a TensorContainer, which
// only an alias (with its implicit index signature) satisfies.
export type Batch = { xs: tf.Tensor, ys: tf.Tensor }

/**
 * Whatever data a user has: samples in memory, an (async) iterable of batches (re-iterated
 * from the start when exhausted, if it can be), or a tf.data.Dataset of batches.
 *
 * Batch tensors from a generator, any other non-array iterable, or a tf.data.Dataset are the
 * trainer's once yielded: it disposes them after use, as tfjs's `fitDataset` does. Tensors
 * in an array of batches stay the caller's, so the array can be trained on again.
 */
export type TrainingData = Dataset | AsyncIterable<Batch> | Iterable<Batch> | tf.data.Dataset<Batch>

/** The tfjs optimisers a session may name. */
export type OptimizerName = 'sgd' | 'momentum' | 'adam' | 'adamax' | 'rmsprop' | 'adagrad' | 'adadelta'

/**
 * An optimiser and its settings; a field the named optimiser does not use is refused rather
 * than ignored. Unset fields take tfjs's defaults.
 */
export interface OptimizerConfig {
  name: OptimizerName
  learningRate: number
  /** momentum (required there), rmsprop. */
  momentum?: number
  /** adam, adamax. */
  beta1?: number
  /** adam, adamax. */
  beta2?: number
  /** adam, adamax, rmsprop, adadelta. */
  epsilon?: number
  /** adadelta. */
  rho?: number
  /** adamax (learning-rate decay), rmsprop (discount of the gradient history). */
  decay?: number
  /** momentum. */
  useNesterov?: boolean
}

/** What happens to the optimiser's state (Adam's moments, momentum buffers) when a merge replaces the weights. */
export type OptimizerStateAtMerge = 'reset' | 'keep'

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
  optimizer: OptimizerConfig
  batchSize: number
  /** Minibatch steps each peer takes between merges (E in the design). */
  localSteps: number
  /**
   * A tfjs loss: a tfjs-layers name ('categoricalCrossentropy', 'sparseCategoricalCrossentropy',
   * 'binaryCrossentropy', 'meanSquaredError', …), its Keras spelling ('categorical_crossentropy',
   * 'mse'), one of tf.losses' 'huberLoss' | 'absoluteDifference' | 'logLoss' | 'hingeLoss', or
   * a name given to `registerLoss`.
   */
  loss: string
  /**
   * Metric names, first is the session's headline: 'accuracy' | 'binaryAccuracy' | 'mae' |
   * 'mse' | 'rmse' | 'perplexity' | a name given to `registerMetric`.
   * @default by loss: crossentropies → ['accuracy'] (binaryCrossentropy → ['binaryAccuracy']), otherwise ['mae', 'rmse']
   */
  metrics?: string[]
  /**
   * What `afterMerge()` does to the optimiser's state. 'reset' starts a fresh optimiser (Adam's
   * moments and step count from zero, momentum buffers empty) on the merged weights; 'keep'
   * carries this peer's state over.
   *
   * Measured in test/train-optimizer-merge.spec.ts: three peers, a 2-32-32-2 relu net on a
   * two-spiral set, 20 local steps a round, plain averaging. With each peer holding a third of
   * the plane, both work: accuracy after 20/40/60 rounds is 0.91/0.98/0.98 for Adam (lr 0.01)
   * reset, 0.88/0.98/0.99 kept, 0.65/0.76/0.93 for SGD (lr 0.3). With two peers each holding
   * (almost) a single class, kept Adam stalls at chance (0.50 after 20 rounds, 0.53 after 40):
   * its second moments are sized to the gradients at the end of the peer's last local run,
   * which were small; after the merge they jump, the steps overshoot, and the merged model
   * flips between predicting one class everywhere and the other (mean P(class 1) swinging
   * 0.19 ↔ 0.88 round to round). Averaging the optimiser states as well does not help, nor
   * does resetting only the first moment: the stale second moment is the cause. A reset Adam
   * takes steps of at most about lr at the start of each run and does not flip (0.66 after 20
   * and 40 rounds; SGD reaches 0.71): what is left is client drift from single-class local
   * runs, which fewer local steps or more rounds address, not the optimiser state. The price
   * of reset is the restarted bias correction: each run opens with sign-sized steps, so with
   * very short runs (5–10 steps) on such data 'keep' does better (0.89–0.92 after 80–120
   * rounds against about 0.67).
   * @default 'reset'
   */
  optimizerState?: OptimizerStateAtMerge
  /** Initialisation seed shared by the session; a peer's own seed overrides it. */
  seed?: number
}

/** A ModelConfig without its architecture: what `Trainer.fromModel` needs besides the model. */
export type TrainingHyperparameters = Omit<ModelConfig, 'architecture'>
