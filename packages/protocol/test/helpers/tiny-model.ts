import type { Dataset, ModelConfig } from '../../src/train/index.js'

/** An 8-4-2 net: the test is about which rule merges, not about learning. */
export const tinyModel: ModelConfig = {
  architecture: {
    class_name: 'Sequential',
    config: {
      name: 'tiny',
      layers: [
        { class_name: 'Dense', config: { name: 'd1', units: 4, activation: 'relu', batch_input_shape: [null, 8] } },
        { class_name: 'Dense', config: { name: 'd2', units: 2, activation: 'softmax' } }
      ]
    }
  },
  optimizer: { name: 'sgd', learningRate: 0.1 },
  batchSize: 8,
  localSteps: 1,
  loss: 'categoricalCrossentropy'
}

/** Label = whether the first feature exceeds the second. */
export function tinyData (count: number, offset: number): Dataset {
  const xs = Float32Array.from({ length: count * 8 }, (_, i) => ((i + offset) * 0.618) % 1)
  const ys = Uint8Array.from({ length: count }, (_, i) => (xs[i * 8] as number) > (xs[i * 8 + 1] as number) ? 1 : 0)
  return { xs, ys, count, inputShape: [8], targetShape: [] }
}
