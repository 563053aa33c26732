import { MurmurError } from '../errors.js'

/** A model config that cannot be built: bad architecture JSON, unknown optimiser or loss, bad numbers. */
export class InvalidModelConfigError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MODEL_CONFIG', options)
    this.name = 'InvalidModelConfigError'
  }
}

/**
 * An architecture names a layer class this peer has not registered (a custom layer, or one
 * from a newer tfjs). Register it with `tf.serialization.registerClass` before joining.
 */
export class UnknownLayerError extends InvalidModelConfigError {
  /** The layer class the architecture names. */
  readonly layerClass: string

  constructor (layerClass: string, options?: ErrorOptions) {
    super(`layer class "${layerClass}" is not registered on this peer: register it with tf.serialization.registerClass before joining`, options)
    this.name = 'UnknownLayerError'
    this.layerClass = layerClass
  }
}

/** A snapshot whose tensor names, shapes or sizes do not match the model it is loaded into. */
export class SnapshotMismatchError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_SNAPSHOT_MISMATCH')
    this.name = 'SnapshotMismatchError'
  }
}

/** A data set whose arrays disagree with its declared count, shape or classes, or that a model cannot take. */
export class InvalidDatasetError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_DATASET', options)
    this.name = 'InvalidDatasetError'
  }
}

/** Partition arguments that cannot be met, e.g. more parts than samples. */
export class InvalidPartitionError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_PARTITION')
    this.name = 'InvalidPartitionError'
  }
}

/** None of the candidate tfjs backends could be registered and initialised. */
export class NoBackendError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_NO_BACKEND')
    this.name = 'NoBackendError'
  }
}

/** A trainer was misused: a second run while one is going, use after `dispose()`, a bad step count. */
export class TrainerUsageError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_TRAINER_USAGE')
    this.name = 'TrainerUsageError'
  }
}
