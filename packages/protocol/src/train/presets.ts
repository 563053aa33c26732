/**
 * Ready-made session models: the MNIST baselines the demos and benchmarks train. Each is a
 * plain ModelConfig, so a caller changes what it needs with overrides.
 */
import type { LayersTopology, ModelConfig } from './types.js'

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
