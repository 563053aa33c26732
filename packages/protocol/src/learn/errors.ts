import { MurmurError } from '../errors.js'

/** The inputs of a merge or compression call are unusable: empty, mismatched or badly weighted. */
export class MergeInputError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_MERGE_INPUT')
    this.name = 'MergeInputError'
  }
}

/** Why `validateModel` refused a model. */
export type InvalidModelReason = 'structure' | 'name' | 'shape' | 'non-finite' | 'outlier'

/**
 * A model received from another peer must not be merged: it has NaN/Inf values, tensors that
 * do not match ours, or a norm far outside what training from our model could produce.
 */
export class InvalidModelError extends MurmurError {
  /** Which check failed; stable across versions, for metrics and tests. */
  readonly reason: InvalidModelReason
  /** The tensor that failed the check, when one tensor is to blame. */
  readonly tensor: string | undefined

  constructor (message: string, reason: InvalidModelReason, tensor?: string) {
    super(message, 'ERR_INVALID_MODEL')
    this.name = 'InvalidModelError'
    this.reason = reason
    this.tensor = tensor
  }
}

/** A sparse delta (often another peer's bytes) does not fit the tensor it is applied to. */
export class InvalidSparseDeltaError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_SPARSE_DELTA')
    this.name = 'InvalidSparseDeltaError'
  }
}
