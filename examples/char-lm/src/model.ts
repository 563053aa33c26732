/**
 * The language model: character ids into an embedding, a GRU, and a softmax over the next
 * character at every position. Layers are named (peers match weights by name).
 */
import * as tf from '@tensorflow/tfjs'
import type { TrainingHyperparameters } from '@murmur/protocol'
import { DEFAULT_WINDOW, VOCAB_SIZE } from './corpus.js'

/** Options of `buildCharModel`. */
export interface CharModelOptions {
  /** Characters of context. @default DEFAULT_WINDOW */
  length?: number
  /** GRU units. @default 64 */
  units?: number
  seed?: number
}

/** Embedding(VOCAB_SIZE, 16) -> GRU(units) over `length` characters -> softmax over the next character at each position. */
export function buildCharModel (options: CharModelOptions = {}): tf.LayersModel {
  const seed = options.seed ?? 1
  return tf.sequential({
    name: 'char-lm',
    layers: [
      tf.layers.embedding({ name: 'embed', inputDim: VOCAB_SIZE, outputDim: 16, inputLength: options.length ?? DEFAULT_WINDOW, embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: seed + 3 }) }),
      tf.layers.gru({
        name: 'gru',
        units: options.units ?? 64,
        returnSequences: true,
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
        // not orthogonal: tfjs warns of slowness for every peer's copy of a 64x192 recurrent kernel
        recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 1 })
      }),
      tf.layers.dense({ name: 'next-char', units: VOCAB_SIZE, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) })
    ]
  })
}

/** How every peer trains it; perplexity is the session's headline metric. */
export const TRAINING: Partial<TrainingHyperparameters> = {
  loss: 'sparseCategoricalCrossentropy',
  optimizer: { name: 'adam', learningRate: 0.01 },
  metrics: ['perplexity'],
  batchSize: 64,
  localSteps: 10
}
