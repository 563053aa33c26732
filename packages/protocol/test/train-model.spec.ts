import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import {
  mnistMlp, mnistCnn, createModel, parseModelConfig, tensorKind, chooseBackend, Trainer,
  InvalidModelConfigError, SnapshotMismatchError, NoBackendError
} from '../src/train/index.js'
import type { ModelSnapshot } from '../src/learn/types.js'

beforeAll(async () => {
  // Protocol tests run on the pure-JS backend; Node's WASM backend is tested in @murmur/node.
  await tf.setBackend('cpu')
})

function variance (data: Float32Array): number {
  let mean = 0
  for (const v of data) mean += v / data.length
  let sum = 0
  for (const v of data) sum += (v - mean) ** 2
  return sum / data.length
}

describe('model configs', () => {
  it('presets are JSON-serialisable and survive validation unchanged', () => {
    for (const config of [mnistMlp(), mnistCnn({ seed: 3, optimizer: { name: 'adam', learningRate: 0.001 } })]) {
      const roundTripped = JSON.parse(JSON.stringify(config)) as unknown
      expect(parseModelConfig(roundTripped)).toEqual(config)
    }
  })

  it('refuses configs a peer cannot build, with the field at fault', async () => {
    const good = mnistMlp()
    expect(() => parseModelConfig(null)).toThrow(InvalidModelConfigError)
    expect(() => parseModelConfig({ ...good, architecture: 'dense' })).toThrow(/architecture/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'lbfgs', learningRate: 1 } })).toThrow(/optimizer.name/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'sgd', learningRate: -1 } })).toThrow(/learningRate/)
    expect(() => parseModelConfig({ ...good, batchSize: 0 })).toThrow(/batchSize/)
    expect(() => parseModelConfig({ ...good, localSteps: 1.5 })).toThrow(/localSteps/)
    expect(() => parseModelConfig({ ...good, seed: 'x' })).toThrow(/seed/)
    await expect(createModel({ ...good, architecture: { class_name: 'NoSuchLayer', config: {} } })).rejects.toThrow(InvalidModelConfigError)
    await expect(createModel({ ...good, loss: 'noSuchLoss' })).rejects.toThrow(/cannot be compiled/)
  })

  it('builds the MLP and the CNN with stable weight names and kinds', async () => {
    const mlp = await createModel(mnistMlp(), { seed: 1 })
    const again = await createModel(mnistMlp(), { seed: 1 })
    try {
      const names = mlp.weights.map(w => w.originalName)
      expect(names).toEqual(['dense_1/kernel', 'dense_1/bias', 'dense_2/kernel', 'dense_2/bias'])
      // A second model in the same process keeps the same names (tfjs uniquifies only `name`).
      expect(again.weights.map(w => w.originalName)).toEqual(names)
      expect(mlp.countParams()).toBe(784 * 128 + 128 + 128 * 10 + 10)
    } finally {
      mlp.dispose()
      again.dispose()
    }
    const cnn = await createModel(mnistCnn(), { seed: 1 })
    try {
      expect(cnn.weights.map(w => w.originalName)).toEqual(['conv2d_1/kernel', 'conv2d_1/bias', 'conv2d_2/kernel', 'conv2d_2/bias', 'dense_1/kernel', 'dense_1/bias'])
      expect(cnn.countParams()).toBeLessThan(10_000)
    } finally {
      cnn.dispose()
    }
    expect(tensorKind('dense_1/kernel')).toBe('weight')
    expect(tensorKind('conv2d_1/depthwise_kernel')).toBe('weight')
    expect(tensorKind('dense_1/bias')).toBe('bias')
    for (const n of ['bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance']) expect(tensorKind(n)).toBe('norm')
  })
})

describe('seeded initialisation', () => {
  it('is reproducible per seed, differs across seeds, and has He/Glorot variance', async () => {
    const snap = async (seed: number): Promise<ModelSnapshot> => {
      const trainer = await Trainer.create(mnistMlp(), { seed })
      try {
        return trainer.getSnapshot()
      } finally {
        trainer.dispose()
      }
    }
    const a = await snap(11)
    const b = await snap(11)
    const c = await snap(12)
    expect(b).toEqual(a)
    const kernelA = a.tensors[0]?.data as Float32Array
    const kernelC = c.tensors[0]?.data as Float32Array
    let same = 0
    for (let i = 0; i < kernelA.length; i++) if (kernelA[i] === kernelC[i]) same++
    expect(same).toBeLessThan(kernelA.length / 1000)
    // Uniform(-l, l) has variance l²/3: He for the relu layer (l² = 6/784), Glorot for softmax (l² = 6/138).
    expect(Math.abs(variance(kernelA) / (2 / 784) - 1)).toBeLessThan(0.05)
    expect(Math.abs(variance(a.tensors[2]?.data as Float32Array) / (2 / 138) - 1)).toBeLessThan(0.15)
    expect(Array.from(a.tensors[1]?.data as Float32Array).every(v => v === 0)).toBe(true)
    expect(a.tensors.map(t => t.kind)).toEqual(['weight', 'bias', 'weight', 'bias'])
  })

  it('falls back to the config seed when the peer gives none', async () => {
    const t1 = await Trainer.create(mnistMlp({ seed: 5 }))
    const t2 = await Trainer.create(mnistMlp(), { seed: 5 })
    try {
      expect(t1.seed).toBe(5)
      expect(t1.getSnapshot()).toEqual(t2.getSnapshot())
    } finally {
      t1.dispose()
      t2.dispose()
    }
  })
})

describe('snapshots', () => {
  it('round-trips: get → set on another model → get is equal, and copies are detached', async () => {
    const source = await Trainer.create(mnistCnn(), { seed: 1 })
    const target = await Trainer.create(mnistCnn(), { seed: 2 })
    try {
      const snap = source.getSnapshot()
      expect(target.getSnapshot()).not.toEqual(snap)
      target.setSnapshot(snap)
      expect(target.getSnapshot()).toEqual(snap)
      // Mutating the snapshot afterwards (merges reuse buffers) must not reach into the model.
      const kernel = snap.tensors[0]?.data as Float32Array
      const before = kernel[0]
      kernel[0] = 123
      expect(target.getSnapshot().tensors[0]?.data[0]).toBe(before)
      expect(source.getSnapshot().tensors[0]?.data[0]).toBe(before)
    } finally {
      source.dispose()
      target.dispose()
    }
  })

  it('refuses snapshots that do not fit, leaving the model untouched', async () => {
    const trainer = await Trainer.create(mnistMlp(), { seed: 1 })
    try {
      const good = trainer.getSnapshot()
      const [k, b, k2, b2] = good.tensors as [ModelSnapshot['tensors'][number], ModelSnapshot['tensors'][number], ModelSnapshot['tensors'][number], ModelSnapshot['tensors'][number]]
      const zeros = { ...k2, data: new Float32Array(k2.data.length) }
      const cases: ModelSnapshot[] = [
        { tensors: [k, b, k2] },
        { tensors: [k, b, k2, b2, { ...b2, name: 'extra/bias' }] },
        { tensors: [zeros, b, { ...k2, shape: [10, 128] }, b2] },
        { tensors: [k, b, zeros, { ...b2, data: new Float32Array(3) }] },
        { tensors: [k, b, zeros, b2, b2] }
      ]
      for (const bad of cases) expect(() => trainer.setSnapshot(bad)).toThrow(SnapshotMismatchError)
      expect(trainer.getSnapshot()).toEqual(good)
    } finally {
      trainer.dispose()
    }
  })
})

describe('chooseBackend', () => {
  it('measures the registered candidates and reports the unregistered ones', async () => {
    const choice = await chooseBackend(['cpu', 'no-such-backend'], { size: 64, runs: 3 })
    expect(choice.backend).toBe('cpu')
    expect(choice.timings.cpu).toBeGreaterThan(0)
    expect(choice.failed['no-such-backend']).toMatch(/not registered/)
    expect(tf.getBackend()).toBe('cpu')
    await expect(chooseBackend(['no-such-backend'])).rejects.toThrow(NoBackendError)
  })
})
