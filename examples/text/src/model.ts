/** The spam filter: a small dense network over the bag of words; layers are named (peers match weights by name). */
import * as tf from '@tensorflow/tfjs'
import type { TrainingHyperparameters } from '@murmur/protocol'
import { DEFAULT_BUCKETS } from './tokenize.js'

/** Bag of words (buckets) -> Dense(16) -> P(spam). */
export function buildSpamFilter (options: { buckets?: number, seed?: number } = {}): tf.LayersModel {
  const seed = options.seed ?? 1
  return tf.sequential({
    name: 'spam-filter',
    layers: [
      tf.layers.dense({ name: 'hidden', inputShape: [options.buckets ?? DEFAULT_BUCKETS], units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ name: 'spam', units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) })
    ]
  })
}

/** How every peer trains it. */
export const TRAINING: Partial<TrainingHyperparameters> = {
  loss: 'binaryCrossentropy',
  optimizer: { name: 'adam', learningRate: 0.01 },
  metrics: ['accuracy'],
  batchSize: 32,
  localSteps: 20
}
