import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import {
  mnistMlp, mnistCnn, createModel, parseModelConfig, tensorKind, chooseBackend, Trainer,
  InvalidModelConfigError, UnknownLayerError, SnapshotMismatchError, NoBackendError
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
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'lbfgs', learningRate: 1 } })).toThrow(/optimizer.name must be one of sgd, momentum, adam, adamax, rmsprop, adagrad, adadelta/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'sgd', learningRate: -1 } })).toThrow(/learningRate/)
    expect(() => parseModelConfig({ ...good, batchSize: 0 })).toThrow(/batchSize/)
    expect(() => parseModelConfig({ ...good, localSteps: 1.5 })).toThrow(/localSteps/)
    expect(() => parseModelConfig({ ...good, seed: 'x' })).toThrow(/seed/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'sgd', learningRate: 0.1, momentum: 0.9 } })).toThrow(/optimizer.momentum does not apply to sgd; it is a setting of momentum, rmsprop/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'adam', learningRate: 0.1, beta1: 1 } })).toThrow(/optimizer.beta1 must be a number in \[0, 1\)/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'momentum', learningRate: 0.1 } })).toThrow(/optimizer.momentum is required/)
    expect(() => parseModelConfig({ ...good, optimizer: { name: 'momentum', learningRate: 0.1, momentum: 0.9, useNesterov: 'yes' } })).toThrow(/useNesterov/)
    expect(() => parseModelConfig({ ...good, loss: 'foo' })).toThrow(/loss "foo" is neither a tfjs loss nor registered with registerLoss on this peer/)
    expect(() => parseModelConfig({ ...good, metrics: ['accuracy', 'bar'] })).toThrow(/metrics\[1\] "bar" is not a built-in metric/)
    expect(() => parseModelConfig({ ...good, metrics: [] })).toThrow(/metrics/)
    expect(() => parseModelConfig({ ...good, optimizerState: 'forget' })).toThrow(/optimizerState must be one of reset, keep/)
    await expect(createModel({ ...good, architecture: { class_name: 'NoSuchModel', config: {} } })).rejects.toThrow(InvalidModelConfigError)
    // Keras spellings and short names resolve to tfjs's losses.
    for (const loss of ['categorical_crossentropy', 'mse', 'MAE', 'huberLoss', 'meanSquaredLogarithmicError']) {
      expect(parseModelConfig({ ...good, loss }).loss).toBe(loss)
    }
    // Every optimiser and its settings survive validation.
    const optimizers = [
      { name: 'momentum', learningRate: 0.1, momentum: 0.9, useNesterov: true },
      { name: 'adam', learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 },
      { name: 'adamax', learningRate: 0.01, decay: 0.1 },
      { name: 'rmsprop', learningRate: 0.01, decay: 0.9, momentum: 0.1 },
      { name: 'adadelta', learningRate: 1, rho: 0.9 }
    ]
    for (const optimizer of optimizers) expect(parseModelConfig({ ...good, optimizer }).optimizer).toEqual(optimizer)
  })

  it('names a layer class this peer lacks, as UnknownLayerError', async () => {
    const good = mnistMlp()
    const layers = (good.architecture.config.layers as unknown[])
    const custom = { ...good, architecture: { ...good.architecture, config: { ...good.architecture.config, layers: [...layers, { class_name: 'MyAttention', config: { name: 'att' } }] } } }
    const err = await createModel(custom).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnknownLayerError)
    expect(err).toBeInstanceOf(InvalidModelConfigError)
    expect((err as UnknownLayerError).name).toBe('UnknownLayerError')
    expect((err as UnknownLayerError).layerClass).toBe('MyAttention')
    expect((err as Error).message).toBe('layer class "MyAttention" is not registered on this peer: register it with tf.serialization.registerClass before joining')
    // Inside a wrapper too.
    const wrapped = { ...good, architecture: { ...good.architecture, config: { ...good.architecture.config, layers: [...layers, { class_name: 'TimeDistributed', config: { name: 'td', layer: { class_name: 'MyDense', config: {} } } }] } } }
    await expect(createModel(wrapped)).rejects.toThrow(/layer class "MyDense"/)
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
    // He uniform for the relu layer: Uniform(-l, l) has variance l²/3, l² = 6/784.
    expect(Math.abs(variance(kernelA) / (2 / 784) - 1)).toBeLessThan(0.05)
    // tfjs's default glorotNormal for the softmax layer: a normal of variance 1/69 cut at two
    // stddevs, which leaves 0.774 of the variance.
    const softmaxKernel = a.tensors[2]?.data as Float32Array
    expect(Math.abs(variance(softmaxKernel) / (0.7737 / 69) - 1)).toBeLessThan(0.15)
    expect(Math.max(...softmaxKernel.map(Math.abs))).toBeLessThanOrEqual(2 * Math.sqrt(1 / 69) + 1e-6)
    expect(Array.from(a.tensors[1]?.data as Float32Array).every(v => v === 0)).toBe(true)
    expect(a.tensors.map(t => t.kind)).toEqual(['weight', 'bias', 'weight', 'bias'])
  })

  it('seeds recurrent, embedding, normalisation and attention-style layers: same seed same weights, orthogonal recurrent kernels', async () => {
    const config = {
      ...mnistMlp({ loss: 'sparseCategoricalCrossentropy' }),
      architecture: {
        class_name: 'Sequential',
        config: {
          name: 'seq',
          layers: [
            { class_name: 'Embedding', config: { name: 'emb', input_dim: 50, output_dim: 12, batch_input_shape: [null, 6] } },
            { class_name: 'LSTM', config: { name: 'lstm', units: 8, return_sequences: true, unit_forget_bias: true } },
            { class_name: 'GRU', config: { name: 'gru', units: 8, return_sequences: true } },
            { class_name: 'LayerNormalization', config: { name: 'ln' } },
            // Query/key/value-style projections: dense layers on [batch, time, features].
            { class_name: 'Dense', config: { name: 'query', units: 8, use_bias: false } },
            { class_name: 'Dense', config: { name: 'next', units: 50, activation: 'softmax', kernel_initializer: { class_name: 'RandomNormal', config: { mean: 0, stddev: 0.02 } } } }
          ]
        }
      }
    }
    const build = async (seed: number): Promise<ModelSnapshot> => {
      const trainer = await Trainer.create(config, { seed })
      try {
        return trainer.getSnapshot()
      } finally {
        trainer.dispose()
      }
    }
    const a = await build(21)
    expect(a.tensors.map(t => t.name)).toEqual([
      'emb/embeddings', 'lstm/kernel', 'lstm/recurrent_kernel', 'lstm/bias', 'gru/kernel', 'gru/recurrent_kernel', 'gru/bias',
      'ln/gamma', 'ln/beta', 'query/kernel', 'next/kernel', 'next/bias'
    ])
    // Every weight, random or constant, is the same for the same seed (tfjs alone draws from Math.random).
    expect(await build(21)).toEqual(a)
    const c = await build(22)
    const byName = (s: ModelSnapshot, name: string): Float32Array => s.tensors.find(t => t.name === name)?.data as Float32Array
    for (const name of ['emb/embeddings', 'lstm/kernel', 'lstm/recurrent_kernel', 'gru/recurrent_kernel', 'query/kernel', 'next/kernel']) {
      expect(byName(c, name), name).not.toEqual(byName(a, name))
    }
    // Embeddings: tfjs's RandomUniform(-0.05, 0.05).
    expect(Math.max(...byName(a, 'emb/embeddings').map(Math.abs))).toBeLessThanOrEqual(0.05)
    // Orthogonal recurrent kernels [8, 32]: the 8 rows are orthonormal.
    const r = byName(a, 'lstm/recurrent_kernel')
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        let dot = 0
        for (let k = 0; k < 32; k++) dot += (r[i * 32 + k] as number) * (r[j * 32 + k] as number)
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 4)
      }
    }
    // LSTM's forget-gate bias starts at one (unit_forget_bias), the rest at zero; LayerNormalization at 1 and 0.
    expect(Array.from(byName(a, 'lstm/bias'))).toEqual([...new Array<number>(8).fill(0), ...new Array<number>(8).fill(1), ...new Array<number>(16).fill(0)])
    expect(Array.from(byName(a, 'ln/gamma'))).toEqual(new Array<number>(8).fill(1))
    // A configured initialiser is followed: RandomNormal(0, 0.02).
    expect(Math.sqrt(variance(byName(a, 'next/kernel')))).toBeCloseTo(0.02, 2)
  })

  it('refuses a model with two weights of one name', async () => {
    const config = {
      ...mnistMlp(),
      architecture: {
        class_name: 'Sequential',
        config: {
          name: 'dup',
          layers: [
            { class_name: 'Sequential', config: { name: 'inner_a', layers: [{ class_name: 'Dense', config: { name: 'same', units: 4, batch_input_shape: [null, 784] } }] } },
            { class_name: 'Sequential', config: { name: 'inner_b', layers: [{ class_name: 'Dense', config: { name: 'same', units: 10, batch_input_shape: [null, 4] } }] } }
          ]
        }
      }
    }
    await expect(createModel(config)).rejects.toThrow(/two weights are named same\/kernel; give every layer a unique name/)
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
