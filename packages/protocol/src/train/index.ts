/**
 * train: the tfjs side of Murmur. Builds the session's model from JSON (or takes a user's
 * own tfjs model), trains it on whatever data the user has (samples in memory, generators,
 * tf.data), reports the session's metrics, turns it into named Float32Arrays (and back) for
 * the averaging math in learn, and hands the trained model back. Data partitioning and
 * backend choice live here too; everything is isomorphic.
 *
 * `NamedTensor` and `ModelSnapshot` are learn's types (learn/types.ts); learn exports them.
 */
export type {
  Dataset, Batch, TrainingData, LayersTopology, ModelConfig, TrainingHyperparameters, OptimizerName, OptimizerConfig,
  OptimizerStateAtMerge
} from './types.js'
export {
  InvalidModelConfigError, UnknownLayerError, SnapshotMismatchError, InvalidDatasetError, InvalidPartitionError, NoBackendError,
  TrainerUsageError
} from './errors.js'
export { mulberry32, deriveSeed, randomInt, shuffleInPlace, normal, gamma, dirichlet } from './random.js'
export type { Rng } from './random.js'
export { mnistMlp, mnistCnn } from './presets.js'
export type { ModelConfigOverrides } from './presets.js'
export { parseModelConfig } from './config.js'
export { createModel, modelConfigFrom } from './model.js'
export type { CreateModelOptions } from './model.js'
export { seedWeights } from './initializers.js'
export { registerLoss } from './losses.js'
export type { LossFunction } from './losses.js'
export { registerMetric } from './metrics.js'
export type { MetricFunction } from './metrics.js'
export { OPTIMIZER_NAMES } from './optimizers.js'
export { tensorKind } from './snapshot.js'
export { Trainer } from './trainer.js'
export { isInMemory } from './batches.js'
export type { TrainerOptions, TrainResult, EvaluateOptions, EvaluateResult } from './trainer.js'
export { partitionIid, partitionDirichlet, partitionLabelShards, subset, checkDataset } from './partition.js'
export { parseIdx, datasetFromIdx, encodeIdx, InvalidIdxFileError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js'
export type { IdxArray, DatasetFromIdxOptions } from './idx.js'
export { chooseBackend } from './backend.js'
export { registerTrainingKernels } from './kernels.js'
export type { ChooseBackendOptions, BackendChoice } from './backend.js'
