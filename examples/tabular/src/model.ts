/** The event detector: a small dense network over the scaled features, with named layers (peers match weights by name). */
import * as tf from '@tensorflow/tfjs'
import type { TrainingHyperparameters } from '@murmur/protocol'
import { FEATURES } from './data.js'

/** A 5-16-1 network that outputs the probability that a reading belongs to an event. */
export function buildDetector (seed = 1): tf.LayersModel {
  return tf.sequential({
    name: 'sensor-events',
    layers: [
      tf.layers.dense({ name: 'hidden', inputShape: [FEATURES.length], units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ name: 'event', units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) })
    ]
  })
}

/** How every peer trains it (the creator's choice; joiners read it from the session). */
export const TRAINING: Partial<TrainingHyperparameters> = {
  loss: 'binaryCrossentropy',
  optimizer: { name: 'adam', learningRate: 0.01 },
  metrics: ['binaryAccuracy'],
  batchSize: 64,
  localSteps: 20
}
