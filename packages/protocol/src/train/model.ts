/**
 * Building the session's model: from its layers JSON (what every peer does with a config),
 * from a user's own model object (what the peer that starts a session does), and copies of
 * a trained model to hand back to the user.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidModelConfigError, UnknownLayerError } from './errors.js'
import { seedWeights } from './initializers.js'
import { registerTrainingKernels } from './kernels.js'
import { parseModelConfig } from './config.js'
import { resolveLoss } from './losses.js'
import { makeOptimizer } from './optimizers.js'
import { readSnapshot, writeSnapshot } from './snapshot.js'
import type { LayersTopology, ModelConfig, ModelSnapshot, TrainingHyperparameters } from './types.js'

/** Options for `createModel`. */
export interface CreateModelOptions {
  /**
   * This peer's initialisation seed; peers with different seeds start apart, as gossip
   * learning expects.
   * @default config.seed, else a random seed
   */
  seed?: number
  /** Start from these weights (a pretrained model, a session's current model) instead of a seeded draw. */
  weights?: ModelSnapshot
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Every layer class an architecture names, looking into nested models and wrappers. Only
 * layer positions are walked: initialisers and constraints carry class names too, but an
 * unknown one of those is not a missing layer.
 */
function layerClasses (topology: unknown, out = new Set<string>()): Set<string> {
  if (!isRecord(topology) || typeof topology.class_name !== 'string') return out
  out.add(topology.class_name)
  const config = topology.config
  // Old Sequential JSON keeps its layers as the config itself.
  const layers = Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined
  if (Array.isArray(layers)) for (const layer of layers) layerClasses(layer, out)
  if (isRecord(config)) {
    if (isRecord(config.layer)) layerClasses(config.layer, out)
    if (isRecord(config.backward_layer)) layerClasses(config.backward_layer, out)
  }
  return out
}

function checkLayerClasses (architecture: LayersTopology): void {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap
  for (const className of layerClasses(architecture)) {
    if (!Object.hasOwn(registered, className)) throw new UnknownLayerError(className)
  }
}

/** A refusal unless every weight has its own name: snapshots and merges go by name. */
function checkWeightNames (model: tf.LayersModel): void {
  const seen = new Set<string>()
  for (const w of model.weights) {
    if (seen.has(w.originalName)) throw new InvalidModelConfigError(`two weights are named ${w.originalName}; give every layer a unique name`)
    seen.add(w.originalName)
  }
}

/** Compile with the config's optimiser and loss; the trainer owns (and disposes) the optimiser. */
function compile (model: tf.LayersModel, config: ModelConfig): void {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new InvalidModelConfigError(`the trainer feeds one input and one target tensor; this model has ${model.inputs.length} inputs and ${model.outputs.length} outputs`)
  }
  checkWeightNames(model)
  const optimizer = makeOptimizer(config.optimizer)
  try {
    model.compile({ optimizer, loss: resolveLoss(config.loss).compileAs })
  } catch (err) {
    optimizer.dispose()
    throw new InvalidModelConfigError(`model cannot be compiled: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Build the config's model from its layers JSON, compile it, and give it seeded initial
 * weights (or the given ones). An architecture naming a layer class this peer lacks throws
 * `UnknownLayerError`.
 */
export async function createModel (config: ModelConfig, options: CreateModelOptions = {}): Promise<tf.LayersModel> {
  const checked = parseModelConfig(config)
  registerTrainingKernels()
  checkLayerClasses(checked.architecture)
  let model: tf.LayersModel
  try {
    model = await tf.models.modelFromJSON(checked.architecture as Parameters<typeof tf.models.modelFromJSON>[0])
  } catch (err) {
    throw new InvalidModelConfigError(`architecture is not a buildable tfjs layers model: ${(err as Error).message}`, { cause: err })
  }
  try {
    compile(model, checked)
    if (options.weights != null) writeSnapshot(model, options.weights)
    else seedWeights(model, options.seed ?? checked.seed ?? Math.floor(Math.random() * 2 ** 32))
  } catch (err) {
    model.dispose()
    throw err
  }
  return model
}

/** The JSON config other peers build a user's model from: its topology plus the hyper-parameters. */
export function modelConfigFrom (model: tf.LayersModel, hyper: TrainingHyperparameters): ModelConfig {
  const architecture = model.toJSON(null, false) as unknown as LayersTopology
  return parseModelConfig({ ...hyper, architecture })
}

/**
 * A standalone copy of a model, with copies of its weights, built synchronously from its
 * config the way tfjs deserialises JSON. Not compiled.
 */
export function cloneModel (model: tf.LayersModel): tf.LayersModel {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[model.getClassName()]
  if (entry == null) throw new UnknownLayerError(model.getClassName())
  const [cls, fromConfig] = entry
  const copy = fromConfig(cls, model.getConfig()) as tf.LayersModel
  writeSnapshot(copy, readSnapshot(model))
  return copy
}
