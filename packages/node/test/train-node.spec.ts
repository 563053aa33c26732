import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { Trainer, mnistMlp, mnistCnn, mulberry32 } from '@murmur/protocol'
import { initNodeBackend, loadMnist } from '../src/data/index.js'
import type { Dataset } from '@murmur/protocol'
import type { NodeBackendChoice } from '../src/data/index.js'

let choice: NodeBackendChoice
let train: Dataset
let test: Dataset

beforeAll(async () => {
  choice = await initNodeBackend()
  train = await loadMnist({ split: 'train', limit: 6000 })
  test = await loadMnist({ split: 'test', limit: 1000 })
})

/** Samples per second of `steps` MLP training steps on `backend` (after a warm-up step). */
async function samplesPerSecond (backend: string, steps: number): Promise<number> {
  await tf.setBackend(backend)
  const trainer = await Trainer.create(mnistMlp(), { seed: 1 })
  try {
    await trainer.trainSteps(train, 1)
    const start = performance.now()
    const { samples } = await trainer.trainSteps(train, steps)
    return samples / ((performance.now() - start) / 1000)
  } finally {
    trainer.dispose()
  }
}

describe('training in Node', () => {
  it('selects the WASM backend by measurement and reports the timings', () => {
    console.log(`backend ${choice.backend}; 256×256 matmul median ms: ${JSON.stringify(choice.timings)}`)
    expect(choice.backend).toBe('wasm')
    expect(tf.getBackend()).toBe('wasm')
    expect(choice.fallbackReason).toBeUndefined()
    expect(Object.keys(choice.timings).sort()).toEqual(['cpu', 'wasm'])
    expect(choice.timings.wasm).toBeGreaterThan(0)
  })

  it('honours a preferred backend', async () => {
    const cpu = await initNodeBackend('cpu')
    expect(cpu.backend).toBe('cpu')
    expect(tf.getBackend()).toBe('cpu')
    const wasm = await initNodeBackend('wasm')
    expect(wasm.backend).toBe('wasm')
    expect(Object.keys(wasm.timings)).toEqual(['wasm'])
  })

  it('learns MNIST: a 784-128-10 MLP on 6000 images reaches > 85 % on 1000 test images', async () => {
    await tf.setBackend('wasm')
    const trainer = await Trainer.create(mnistMlp(), { seed: 42 })
    try {
      const before = await trainer.evaluate(test)
      // 600 steps of 32: about three passes over the 6000 images.
      const run = await trainer.trainSteps(train, 600)
      const after = await trainer.evaluate(test)
      console.log(`MLP on wasm: test accuracy ${(before.metrics.accuracy ?? NaN).toFixed(3)} → ${(after.metrics.accuracy ?? NaN).toFixed(3)}, loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)} (${run.samples} samples)`)
      expect((before.metrics.accuracy ?? NaN)).toBeLessThan(0.3)
      expect((after.metrics.accuracy ?? NaN)).toBeGreaterThan(0.85)
    } finally {
      trainer.dispose()
    }
  })

  it('learns MNIST with the small CNN too', async () => {
    await tf.setBackend('wasm')
    const trainer = await Trainer.create(mnistCnn(), { seed: 42 })
    try {
      await trainer.trainSteps(train, 300)
      const accuracy = (await trainer.evaluate(test)).metrics.accuracy ?? Number.NaN
      console.log(`CNN on wasm: test accuracy ${accuracy.toFixed(3)} after 300 steps`)
      expect(accuracy).toBeGreaterThan(0.8)
      // The patched gradient kernel must not leak on the WASM heap either.
      const tensors = tf.memory().numTensors
      const bytes = tf.memory().numBytes
      for (let round = 0; round < 5; round++) {
        await trainer.trainSteps(train, 2)
        trainer.setSnapshot(trainer.getSnapshot())
        expect(tf.memory().numTensors).toBe(tensors)
        expect(tf.memory().numBytes).toBe(bytes)
      }
    } finally {
      trainer.dispose()
    }
  })

  it("fills WASM's missing Conv2DBackpropFilter with a kernel that matches the cpu backend", async () => {
    const rng = mulberry32(3)
    const random = (shape: number[]): Float32Array => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() - 0.5)
    type Shape4 = [number, number, number, number]
    interface Case { x: Shape4, filter: Shape4, strides: number | [number, number], pad: 'valid' | 'same', dataFormat: 'NHWC' | 'NCHW' }
    const cases: Case[] = [
      { x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 1, pad: 'valid', dataFormat: 'NHWC' },
      { x: [2, 9, 8, 3], filter: [3, 2, 3, 5], strides: [2, 1], pad: 'same', dataFormat: 'NHWC' },
      { x: [1, 10, 10, 2], filter: [5, 5, 2, 3], strides: 2, pad: 'same', dataFormat: 'NHWC' },
      { x: [2, 3, 7, 7], filter: [3, 3, 3, 2], strides: 1, pad: 'same', dataFormat: 'NCHW' }
    ]
    for (const c of cases) {
      const dataFormat = c.dataFormat
      const xValues = random(c.x)
      // dy has the forward output's shape: take it from a forward pass in NHWC terms.
      await tf.setBackend('cpu')
      const [n, a, b, ch] = c.x
      const nhwc: Shape4 = dataFormat === 'NHWC' ? [n, a, b, ch] : [n, b, ch, a]
      const out = tf.tidy(() => tf.conv2d(tf.zeros(nhwc) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad).shape)
      const dyShape = dataFormat === 'NHWC' ? out : [out[0], out[3], out[1], out[2]]
      const dyValues = random(dyShape)
      const gradOn = async (backend: string): Promise<Float32Array> => {
        await tf.setBackend(backend)
        const x = tf.tensor(xValues, c.x)
        const dy = tf.tensor(dyValues, dyShape)
        const dW = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: c.strides, pad: c.pad, dataFormat, filterShape: c.filter }) as tf.Tensor
        const values = await dW.data() as Float32Array
        tf.dispose([x, dy, dW])
        return values
      }
      const expected = await gradOn('cpu')
      const actual = await gradOn('wasm')
      expect(actual.length).toBe(expected.length)
      for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i] as number, 4)
    }
    await tf.setBackend('wasm')
  })

  it('reports MLP training throughput per backend (printed, not asserted)', async () => {
    const wasm = await samplesPerSecond('wasm', 100)
    const cpu = await samplesPerSecond('cpu', 20)
    console.log(`MLP 784-128-10 training, batch 32: wasm ${wasm.toFixed(0)} samples/s, cpu ${cpu.toFixed(0)} samples/s`)
    await tf.setBackend('wasm')
    expect(wasm).toBeGreaterThan(0)
    expect(cpu).toBeGreaterThan(0)
  })
})
