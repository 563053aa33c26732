/**
 * What a user may hand the front door as "the model": a tfjs `LayersModel` (Sequential or
 * functional, possibly pretrained), its URL or IO-handler path (`indexeddb://…`, `http…`,
 * `file://…` where a handler is registered), or Murmur's JSON `ModelConfig`. Resolved here to
 * the one form a session carries (a `ModelConfig`) plus the weights to start from, if any.
 */
import * as tf from '@tensorflow/tfjs'
import { MurmurError } from '../errors.js'
import type { ModelSnapshot } from '../learn/index.js'
import { modelConfigFrom, parseModelConfig } from '../train/index.js'
import type { ModelConfig, TrainingHyperparameters } from '../train/index.js'
import { readSnapshot } from '../train/snapshot.js'

/** A model as the user has it. */
export type ModelInput = tf.LayersModel | ModelConfig | string

/** Options given to the front door are wrong; the message names the option. */
export class InvalidSessionOptionsError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_SESSION_OPTIONS', options)
    this.name = 'InvalidSessionOptionsError'
  }
}

/** Training settings used when the model is a `LayersModel` and `training` leaves them out. */
export const DEFAULT_TRAINING: Omit<TrainingHyperparameters, 'loss'> = {
  optimizer: { name: 'sgd', learningRate: 0.05 },
  batchSize: 32,
  localSteps: 10
}

/** The session form of the user's model, and its current weights when it came as a model object (pretrained or not). */
export interface ResolvedModel {
  config: ModelConfig
  /** The model's own weights; absent for a JSON config (each peer then seeds its own). */
  weights?: ModelSnapshot
}

function isLayersModel (value: unknown): value is tf.LayersModel {
  return value instanceof tf.LayersModel || (typeof value === 'object' && value !== null && typeof (value as tf.LayersModel).toJSON === 'function' && Array.isArray((value as tf.LayersModel).weights))
}

/** Turn a `ModelInput` (+ training settings for model objects) into a `ModelConfig` and starting weights. */
export async function resolveModel (input: ModelInput, training: Partial<TrainingHyperparameters> = {}): Promise<ResolvedModel> {
  let model: tf.LayersModel
  if (typeof input === 'string') {
    try {
      model = await tf.loadLayersModel(input)
    } catch (err) {
      throw new InvalidSessionOptionsError(`model "${input}" could not be loaded: ${(err as Error).message}`, { cause: err })
    }
  } else if (isLayersModel(input)) {
    model = input
  } else {
    if (Object.keys(training).length > 0) {
      // one source of truth: a JSON config carries its own hyper-parameters
      return { config: parseModelConfig({ ...input, ...training }) }
    }
    return { config: parseModelConfig(input) }
  }
  const compiledLoss = typeof (model as { loss?: unknown }).loss === 'string' ? (model as { loss: string }).loss : undefined
  const loss = training.loss ?? compiledLoss
  if (loss == null) throw new InvalidSessionOptionsError('training.loss is required with a model object that was not compiled with a loss name (e.g. training: { loss: \'categoricalCrossentropy\' })')
  const hyper: TrainingHyperparameters = { ...DEFAULT_TRAINING, ...training, loss }
  const config = modelConfigFrom(model, hyper)
  return { config, weights: readSnapshot(model) }
}
