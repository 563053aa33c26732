/**
 * Building the session's model from its JSON config: presets, validation of configs that
 * arrive from other peers, and seeded initialisation that is the same on every backend.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidModelConfigError } from './errors.js'
import { registerTrainingKernels } from './kernels.js'
import { deriveSeed, mulberry32 } from './random.js'
import { tensorKind } from './snapshot.js'
import type { LayersTopology, ModelConfig, OptimizerName } from './types.js'

const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam']

/** Activations whose layers start from He (Kaiming) uniform; all others from Glorot uniform. */
const RELU_LIKE = new Set(['relu', 'relu6', 'elu', 'leakyRelu', 'leaky_relu'])

/** Hyper-parameters a preset lets the caller change. */
export type ModelConfigOverrides = Partial<Omit<ModelConfig, 'architecture'>>

function dense (name: string, units: number, activation: string, inputShape?: number[]): LayersTopology {
  const config: Record<string, unknown> = { name, units, activation }
  if (inputShape != null) config.batch_input_shape = [null, ...inputShape]
  return { class_name: 'Dense', config }
}

function sequential (name: string, layers: LayersTopology[]): LayersTopology {
  return { class_name: 'Sequential', config: { name, layers } }
}

/** MNIST multilayer perceptron, 784-128-10 (relu, softmax), plain SGD. */
export function mnistMlp (overrides: ModelConfigOverrides = {}): ModelConfig {
  return {
    architecture: sequential('mnist_mlp', [
      dense('dense_1', 128, 'relu', [784]),
      dense('dense_2', 10, 'softmax')
    ]),
    optimizer: { name: 'sgd', learningRate: 0.1 },
    batchSize: 32,
    localSteps: 20,
    loss: 'categoricalCrossentropy',
    ...overrides
  }
}

/** A small MNIST CNN (two 3×3 conv + max-pool blocks, ~5k parameters) taking flat 784-pixel rows. */
export function mnistCnn (overrides: ModelConfigOverrides = {}): ModelConfig {
  const conv = (name: string, filters: number): LayersTopology =>
    ({ class_name: 'Conv2D', config: { name, filters, kernel_size: [3, 3], activation: 'relu' } })
  const pool = (name: string): LayersTopology => ({ class_name: 'MaxPooling2D', config: { name, pool_size: [2, 2] } })
  return {
    architecture: sequential('mnist_cnn', [
      { class_name: 'Reshape', config: { name: 'reshape_1', target_shape: [28, 28, 1], batch_input_shape: [null, 784] } },
      conv('conv2d_1', 8),
      pool('max_pooling2d_1'),
      conv('conv2d_2', 16),
      pool('max_pooling2d_2'),
      { class_name: 'Flatten', config: { name: 'flatten_1' } },
      dense('dense_1', 10, 'softmax')
    ]),
    optimizer: { name: 'sgd', learningRate: 0.05 },
    batchSize: 32,
    localSteps: 20,
    loss: 'categoricalCrossentropy',
    ...overrides
  }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function positiveInteger (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidModelConfigError(`${field} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** Validate a model config that may come from another peer; returns a clean copy. */
export function parseModelConfig (value: unknown): ModelConfig {
  if (!isRecord(value)) throw new InvalidModelConfigError('model config must be an object')
  const { architecture, optimizer, loss, seed } = value
  if (!isRecord(architecture) || typeof architecture.class_name !== 'string' || !isRecord(architecture.config)) {
    throw new InvalidModelConfigError('architecture must be tfjs layers JSON: { class_name, config }')
  }
  if (!isRecord(optimizer) || !OPTIMIZERS.includes(optimizer.name as OptimizerName)) {
    throw new InvalidModelConfigError(`optimizer.name must be one of ${OPTIMIZERS.join(', ')}`)
  }
  const learningRate = optimizer.learningRate
  if (typeof learningRate !== 'number' || !(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new InvalidModelConfigError(`optimizer.learningRate must be a positive number, got ${String(learningRate)}`)
  }
  if (typeof loss !== 'string' || loss.length === 0) throw new InvalidModelConfigError('loss must name a tfjs loss')
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) {
    throw new InvalidModelConfigError(`seed must be an integer, got ${String(seed)}`)
  }
  const out: ModelConfig = {
    architecture: structuredClone(architecture) as LayersTopology,
    optimizer: { name: optimizer.name as OptimizerName, learningRate },
    batchSize: positiveInteger(value.batchSize, 'batchSize'),
    localSteps: positiveInteger(value.localSteps, 'localSteps'),
    loss
  }
  if (seed !== undefined) out.seed = seed
  return out
}

/** Options for `createModel`. */
export interface CreateModelOptions {
  /**
   * This peer's initialisation seed; peers with different seeds start apart, as gossip
   * learning expects.
   * @default config.seed, else a random seed
   */
  seed?: number
}

function makeOptimizer (config: ModelConfig['optimizer']): tf.Optimizer {
  return config.name === 'adam' ? tf.train.adam(config.learningRate) : tf.train.sgd(config.learningRate)
}

/** Build the config's model from its layers JSON, compile it, and give it seeded initial weights. */
export async function createModel (config: ModelConfig, options: CreateModelOptions = {}): Promise<tf.LayersModel> {
  const checked = parseModelConfig(config)
  registerTrainingKernels()
  let model: tf.LayersModel
  try {
    model = await tf.models.modelFromJSON(checked.architecture as Parameters<typeof tf.models.modelFromJSON>[0])
  } catch (err) {
    throw new InvalidModelConfigError(`architecture is not a buildable tfjs layers model: ${(err as Error).message}`, { cause: err })
  }
  const optimizer = makeOptimizer(checked.optimizer)
  try {
    const names = model.weights.map(w => w.originalName)
    const duplicate = names.find((n, i) => names.indexOf(n) !== i)
    if (duplicate !== undefined) throw new Error(`two weights are named ${duplicate}; give every layer a unique name`)
    model.compile({ optimizer, loss: checked.loss })
  } catch (err) {
    model.dispose()
    optimizer.dispose()
    throw new InvalidModelConfigError(`model cannot be compiled: ${(err as Error).message}`, { cause: err })
  }
  seedWeights(model, options.seed ?? checked.seed ?? Math.floor(Math.random() * 2 ** 32))
  return model
}

function fans (shape: number[]): [number, number] {
  if (shape.length < 2) return [shape[0] ?? 1, shape[0] ?? 1]
  // Keras convention: conv kernels are [...spatial, in, out]; the spatial size scales both fans.
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1)
  return [(shape[shape.length - 2] as number) * receptive, (shape[shape.length - 1] as number) * receptive]
}

function collectLayers (model: tf.LayersModel, out: tf.layers.Layer[] = []): tf.layers.Layer[] {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) collectLayers(layer, out)
    else out.push(layer)
  }
  return out
}

/**
 * Re-draw every kernel from a seeded uniform distribution: He for relu-like layers, Glorot
 * otherwise. tfjs's own initialisers draw from Math.random, and drawing on the JS side
 * gives the same weights on every backend. Each weight's stream comes from (seed, name).
 */
export function seedWeights (model: tf.LayersModel, seed: number): void {
  tf.tidy(() => {
    for (const layer of collectLayers(model)) {
      const activation = layer.getConfig().activation
      const heInit = typeof activation === 'string' && RELU_LIKE.has(activation)
      for (const w of layer.weights) {
        // Biases and normalisation parameters start from constants and need no seed.
        if (tensorKind(w.originalName) !== 'weight') continue
        const values = new Float32Array(w.shape.reduce((a: number, b) => a * (b ?? 1), 1))
        const [fanIn, fanOut] = fans(w.shape.map(d => d ?? 1))
        const limit = w.originalName.endsWith('embeddings')
          ? 0.05
          : Math.sqrt(6 / (heInit ? fanIn : fanIn + fanOut))
        const rng = mulberry32(deriveSeed(seed, w.originalName))
        for (let i = 0; i < values.length; i++) values[i] = (2 * rng() - 1) * limit
        w.write(tf.tensor(values, w.shape.map(d => d ?? 1)))
      }
    }
  })
}
