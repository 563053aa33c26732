/**
 * train: the tfjs side of Murmur. Builds the session's model from JSON, trains it on local
 * data, and turns it into named Float32Arrays (and back) for the averaging math in learn.
 * Data partitioning and backend choice live here too; everything is isomorphic.
 *
 * `NamedTensor` and `ModelSnapshot` are learn's types (learn/types.ts); learn exports them.
 */
export type { Dataset, LayersTopology, ModelConfig, OptimizerName } from './types.js'
export {
  InvalidModelConfigError, SnapshotMismatchError, InvalidDatasetError, InvalidPartitionError, NoBackendError,
  TrainerUsageError
} from './errors.js'
export { mulberry32, deriveSeed, randomInt, shuffleInPlace, normal, gamma, dirichlet } from './random.js'
export type { Rng } from './random.js'
export { mnistMlp, mnistCnn, parseModelConfig, createModel, seedWeights } from './model.js'
export type { ModelConfigOverrides, CreateModelOptions } from './model.js'
export { tensorKind } from './snapshot.js'
export { Trainer } from './trainer.js'
export type { TrainerOptions, TrainResult, EvaluateResult } from './trainer.js'
export { partitionIid, partitionDirichlet, partitionLabelShards, subset, checkDataset } from './partition.js'
export { parseIdx, datasetFromIdx, encodeIdx, InvalidIdxFileError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js'
export type { IdxArray, DatasetFromIdxOptions } from './idx.js'
export { chooseBackend } from './backend.js'
export { registerTrainingKernels } from './kernels.js'
export type { ChooseBackendOptions, BackendChoice } from './backend.js'
