/** The valuer: a small dense network from scaled attributes to a median value in $1000s; layers are named (peers match weights by name). */
import * as tf from '@tensorflow/tfjs'
import type { TrainingHyperparameters } from '@murmur/protocol'
import { FEATURES } from './data.js'

/** 13-32-16-1; the output starts at `meanValue` so early steps fit the shape of the data, not its level. */
export function buildValuer (meanValue: number, seed = 1): tf.LayersModel {
  return tf.sequential({
    name: 'house-values',
    layers: [
      tf.layers.dense({ name: 'hidden1', inputShape: [FEATURES.length], units: 32, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed }) }),
      tf.layers.dense({ name: 'hidden2', units: 16, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: seed + 1 }) }),
      tf.layers.dense({ name: 'value', units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }), biasInitializer: tf.initializers.constant({ value: meanValue }) })
    ]
  })
}

/** How every peer trains it. */
export const TRAINING: Partial<TrainingHyperparameters> = {
  loss: 'meanSquaredError',
  optimizer: { name: 'adam', learningRate: 0.01 },
  metrics: ['mae', 'rmse'],
  batchSize: 32,
  localSteps: 10
}
