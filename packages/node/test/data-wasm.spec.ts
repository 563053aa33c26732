import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { Trainer, registerTrainingKernels } from '@murmur/protocol'
import { initNodeBackend, loadTextWindows } from '../src/data/index.js'

beforeAll(async () => {
  await initNodeBackend('wasm')
  registerTrainingKernels()
})

/** Gradients of a depthwise and a plain convolution and of a gather, on the current backend, as plain arrays. */
function gradients (): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor4d(Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) => Math.sin(i)), [2, 5, 5, 3])
    const depthwise = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 2 }, (_, i) => Math.cos(i)), [3, 3, 3, 2])
    const plain = tf.tensor4d(Array.from({ length: 2 * 2 * 3 * 4 }, (_, i) => Math.cos(2 * i)), [2, 2, 3, 4])
    const table = tf.tensor2d(Array.from({ length: 6 * 4 }, (_, i) => i / 10), [6, 4])
    const ids = tf.tensor1d([5, 0, 5, 2, 1], 'int32')
    const [dx, dw] = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, w as tf.Tensor4D, [2, 1], 'same'))))([x, depthwise])
    const [, dPlain] = tf.grads((a: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))([x, plain])
    const dTable = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), 3)))(table)
    return [dx, dw, dPlain, dTable].map(t => Array.from((t as tf.Tensor).dataSync()))
  })
}

describe('training on WASM', () => {
  it('has the gradients WASM lacks (depthwise and plain convolution filters, Gather), equal to the cpu backend\'s', async () => {
    await tf.setBackend('cpu')
    const expected = gradients()
    await tf.setBackend('wasm')
    const got = gradients()
    got.forEach((values, g) => {
      expect(values.length).toBe((expected[g] as number[]).length)
      values.forEach((v, i) => expect(v).toBeCloseTo((expected[g] as number[])[i] as number, 4))
    })
  })

  it('has the Gather gradient (UnsortedSegmentSum) WASM lacks, summing rows like the cpu backend', () => {
    expect(tf.getBackend()).toBe('wasm')
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]])
    const ids = tf.tensor1d([2, 0, 2, 5], 'int32')
    const sum = tf.unsortedSegmentSum(x, ids, 3)
    try {
      expect(sum.shape).toEqual([3, 2])
      // Row 3 (id 5) is outside the 3 segments and dropped, as tfjs does.
      expect(Array.from(sum.dataSync())).toEqual([3, 4, 0, 0, 6, 8])
    } finally {
      tf.dispose([x, ids, sum])
    }
  })

  it('Embedding + LSTM + LayerNormalization from loadTextWindows trains to predict the next character', async () => {
    const { dataset, vocab } = await loadTextWindows({ text: 'the cat sat on the mat. '.repeat(20) }, { window: 8, stride: 2 })
    const trainer = await Trainer.create({
      architecture: {
        class_name: 'Sequential',
        config: {
          name: 'char_lm',
          layers: [
            { class_name: 'Embedding', config: { name: 'emb', input_dim: vocab.length, output_dim: 8, batch_input_shape: [null, 8] } },
            { class_name: 'LSTM', config: { name: 'lstm', units: 32, return_sequences: true } },
            { class_name: 'LayerNormalization', config: { name: 'ln' } },
            { class_name: 'Dense', config: { name: 'next', units: vocab.length, activation: 'softmax' } }
          ]
        }
      },
      optimizer: { name: 'adam', learningRate: 0.02 },
      batchSize: 32,
      localSteps: 10,
      loss: 'sparseCategoricalCrossentropy',
      metrics: ['perplexity', 'accuracy']
    }, { seed: 1 })
    try {
      const before = await trainer.evaluate(dataset)
      expect(before.metrics.perplexity).toBeGreaterThan(vocab.length * 0.7)
      await trainer.trainSteps(dataset, 100)
      const after = await trainer.evaluate(dataset)
      expect(after.metrics.perplexity).toBeLessThan(1.5)
      expect(after.metrics.accuracy).toBeGreaterThan(0.9)
    } finally {
      trainer.dispose()
    }
  })
})
