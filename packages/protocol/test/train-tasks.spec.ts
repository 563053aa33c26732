import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import {
  Trainer, modelConfigFrom, parseModelConfig, registerLoss, registerMetric, mulberry32, normal, OPTIMIZER_NAMES,
  InvalidModelConfigError, InvalidDatasetError
} from '../src/train/index.js'
import type { Dataset, ModelConfig, OptimizerConfig, TrainingHyperparameters } from '../src/train/index.js'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

async function withTrainer<T> (trainer: Trainer, fn: (t: Trainer) => Promise<T>): Promise<T> {
  try {
    return await fn(trainer)
  } finally {
    trainer.dispose()
  }
}

/** `classes` fixed random prototypes in `features` dimensions, samples are prototype + noise. */
function prototypes (count: number, classes: number, features: number, seed: number, noise = 0.3): Dataset {
  const rng = mulberry32(seed)
  const protos = Array.from({ length: classes }, () => Float32Array.from({ length: features }, () => normal(rng)))
  const xs = new Float32Array(count * features)
  const ys = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const c = i % classes
    ys[i] = c
    for (let j = 0; j < features; j++) xs[i * features + j] = (protos[c] as Float32Array)[j] as number + noise * normal(rng)
  }
  return { xs, ys, count, inputShape: [features], targetShape: [] }
}

const dense = (name: string, units: number, activation: string, extra: Record<string, unknown> = {}): ModelConfig['architecture'] =>
  ({ class_name: 'Dense', config: { name, units, activation, ...extra } })

function sequential (layers: Array<ModelConfig['architecture']>, loss: string, optimizer: OptimizerConfig = { name: 'adam', learningRate: 0.01 }, extra: Partial<ModelConfig> = {}): ModelConfig {
  return { architecture: { class_name: 'Sequential', config: { name: 'm', layers } }, optimizer, batchSize: 32, localSteps: 10, loss, ...extra }
}

describe('classification', () => {
  it('300 classes (more than a byte holds): class indices one-hot to 300, accuracy far above chance', async () => {
    const data = prototypes(1500, 300, 16, 1, 0.2)
    const config = sequential([dense('out', 300, 'softmax', { batch_input_shape: [null, 16] })], 'categoricalCrossentropy', { name: 'adam', learningRate: 0.05 })
    await withTrainer(await Trainer.create(config, { seed: 1 }), async trainer => {
      const before = await trainer.evaluate(data)
      await trainer.trainSteps(data, 150)
      const after = await trainer.evaluate(data)
      expect(before.metrics.accuracy).toBeLessThan(0.05)
      expect(after.metrics.accuracy).toBeGreaterThan(0.8)
      expect(after.loss).toBeLessThan(before.loss)
    })
    // The same labels with the sparse loss go in as indices.
    const sparse = { ...config, loss: 'sparseCategoricalCrossentropy' }
    await withTrainer(await Trainer.create(sparse, { seed: 1 }), async trainer => {
      await trainer.trainSteps(data, 150)
      expect((await trainer.evaluate(data)).metrics.accuracy).toBeGreaterThan(0.8)
    })
    const bad = Int32Array.from(data.ys)
    bad[3] = 300
    await withTrainer(await Trainer.create(config, { seed: 1 }), async trainer => {
      await expect(trainer.trainSteps({ ...data, ys: bad }, 1)).rejects.toThrow(/ys\[3\] is 300, not a class index below the model's output width 300/)
    })
  })

  it('one-hot target rows go in as they are', async () => {
    const indices = prototypes(300, 3, 4, 2)
    const ys = new Float32Array(indices.count * 3)
    for (let i = 0; i < indices.count; i++) ys[i * 3 + (indices.ys[i] as number)] = 1
    const data: Dataset = { ...indices, ys, targetShape: [3] }
    const config = sequential([dense('h', 16, 'relu', { batch_input_shape: [null, 4] }), dense('out', 3, 'softmax')], 'categorical_crossentropy')
    await withTrainer(await Trainer.create(config, { seed: 2 }), async trainer => {
      expect(trainer.metricNames).toEqual(['accuracy'])
      await trainer.trainSteps(data, 60)
      expect((await trainer.evaluate(data)).metrics.accuracy).toBeGreaterThan(0.95)
      // One-hot rows cannot feed a sparse loss: the error says which loss wants what.
      const sparse = await Trainer.create({ ...config, loss: 'sparseCategoricalCrossentropy' }, { seed: 2 })
      await withTrainer(sparse, async t => {
        await expect(t.trainSteps(data, 1)).rejects.toThrow(/targetShape \[3\] does not fit the model's output \[3\] with loss sparseCategoricalCrossentropy/)
      })
    })
  })

  it('binary: a sigmoid output with binaryCrossentropy reports binaryAccuracy by default', async () => {
    const rng = mulberry32(3)
    const count = 400
    const xs = Float32Array.from({ length: count * 2 }, () => 2 * rng() - 1)
    const ys = Uint8Array.from({ length: count }, (_, i) => (xs[2 * i] as number) + (xs[2 * i + 1] as number) > 0 ? 1 : 0)
    const data: Dataset = { xs, ys, count, inputShape: [2], targetShape: [] }
    const config = sequential([dense('out', 1, 'sigmoid', { batch_input_shape: [null, 2] })], 'binaryCrossentropy', { name: 'sgd', learningRate: 0.5 })
    await withTrainer(await Trainer.create(config, { seed: 3 }), async trainer => {
      expect(trainer.metricNames).toEqual(['binaryAccuracy'])
      await trainer.trainSteps(data, 100)
      expect((await trainer.evaluate(data)).metrics.binaryAccuracy).toBeGreaterThan(0.95)
    })
  })
})

describe('regression', () => {
  const rng = mulberry32(4)
  const count = 500
  const xs = Float32Array.from({ length: count * 3 }, () => normal(rng))
  const ys = Float32Array.from({ length: count }, (_, i) => 2 * (xs[3 * i] as number) - (xs[3 * i + 1] as number) + 0.5 + 0.1 * normal(rng))
  const data: Dataset = { xs, ys, count, inputShape: [3], targetShape: [] }
  const config = sequential([dense('h', 16, 'relu', { batch_input_shape: [null, 3] }), dense('out', 1, 'linear')], 'meanSquaredError')

  it('learns a linear target; mae and rmse by default, aggregated exactly over batches', async () => {
    await withTrainer(await Trainer.create(config, { seed: 4 }), async trainer => {
      expect(trainer.metricNames).toEqual(['mae', 'rmse'])
      const before = await trainer.evaluate(data)
      await trainer.trainSteps(data, 300)
      const after = await trainer.evaluate(data)
      expect(after.metrics.mae).toBeLessThan(0.3)
      expect(after.metrics.mae).toBeLessThan((before.metrics.mae as number) / 4)
      // The figures by hand, from one prediction over the whole set.
      const predicted = tf.tidy(() => (trainer.model.predict(tf.tensor2d(xs, [count, 3])) as tf.Tensor).dataSync())
      let abs = 0
      let sq = 0
      for (let i = 0; i < count; i++) {
        abs += Math.abs((predicted[i] as number) - (ys[i] as number))
        sq += ((predicted[i] as number) - (ys[i] as number)) ** 2
      }
      expect(after.metrics.mae).toBeCloseTo(abs / count, 5)
      expect(after.metrics.rmse).toBeCloseTo(Math.sqrt(sq / count), 5)
      expect(after.loss).toBeCloseTo(sq / count, 5)
      // Uneven batches (500 = 71 × 7 + 3) give the same figures: sample-weighted, rmse from the pooled mean.
      const small = await trainer.evaluate(data, { batchSize: 7 })
      expect(small.metrics.rmse).toBeCloseTo(after.metrics.rmse as number, 5)
      expect(small.loss).toBeCloseTo(after.loss, 5)
      const first = await trainer.evaluate(data, { batchSize: 100, maxBatches: 2 })
      const firstHalf = await trainer.evaluate({ ...data, count: 200, xs: xs.subarray(0, 600), ys: ys.subarray(0, 200) })
      expect(first.metrics.mae).toBeCloseTo(firstHalf.metrics.mae as number, 5)
    })
  })

  it('a multi-output target and a tf.losses loss (huber), with mse named', async () => {
    const two = new Float32Array(count * 2)
    for (let i = 0; i < count; i++) {
      two[2 * i] = ys[i] as number
      two[2 * i + 1] = -(ys[i] as number)
    }
    const multi = sequential([dense('h', 16, 'relu', { batch_input_shape: [null, 3] }), dense('out', 2, 'linear')], 'huberLoss', undefined, { metrics: ['mse', 'mae'] })
    await withTrainer(await Trainer.create(multi, { seed: 5 }), async trainer => {
      const before = await trainer.evaluate({ ...data, ys: two, targetShape: [2] })
      await trainer.trainSteps({ ...data, ys: two, targetShape: [2] }, 200)
      const after = await trainer.evaluate({ ...data, ys: two, targetShape: [2] })
      expect(trainer.metricNames).toEqual(['mse', 'mae'])
      expect(after.metrics.mse).toBeLessThan((before.metrics.mse as number) / 5)
      // Class indices cannot feed a regression output of width 2.
      await expect(trainer.trainSteps(data, 1)).rejects.toThrow(/targetShape \[\] does not fit the model's output \[2\] with loss huberLoss/)
    })
  })
})

describe('custom losses and metrics', () => {
  registerLoss('doubledMse', (yTrue, yPred) => tf.mul(2, tf.mean(tf.square(tf.sub(yTrue, yPred)), -1)))
  registerMetric('within1', (yTrue, yPred) => tf.mean(tf.cast(tf.lessEqual(tf.abs(tf.sub(yTrue, yPred)), 1), 'float32')))

  it('trains with a registered loss and reports a registered metric', async () => {
    const rng = mulberry32(6)
    const count = 300
    const xs = Float32Array.from({ length: count }, () => normal(rng))
    const data: Dataset = { xs, ys: xs.map(x => 3 * x), count, inputShape: [1], targetShape: [] }
    const config = sequential([dense('out', 1, 'linear', { batch_input_shape: [null, 1] })], 'doubledMse', { name: 'sgd', learningRate: 0.05 }, { metrics: ['within1', 'mse'] })
    expect(parseModelConfig(config).metrics).toEqual(['within1', 'mse'])
    await withTrainer(await Trainer.create(config, { seed: 6 }), async trainer => {
      const before = await trainer.evaluate(data)
      await trainer.trainSteps(data, 100)
      const after = await trainer.evaluate(data)
      // The reported loss is the registered function: twice the mse.
      expect(after.loss).toBeCloseTo(2 * (after.metrics.mse as number), 5)
      expect(before.metrics.within1).toBeLessThan(0.5)
      expect(after.metrics.within1).toBe(1)
    })
  })

  it('refuses names that are not registered here, and registrations that shadow built-ins', () => {
    const config = sequential([dense('out', 1, 'linear', { batch_input_shape: [null, 1] })], 'tripledMse')
    expect(() => parseModelConfig(config)).toThrow(/loss "tripledMse" is neither a tfjs loss nor registered with registerLoss on this peer/)
    expect(() => parseModelConfig({ ...config, loss: 'mse', metrics: ['mae', 'within2'] })).toThrow(/metrics\[1\] "within2"/)
    expect(() => registerLoss('meanSquaredError', (a, b) => tf.sub(a, b))).toThrow(InvalidModelConfigError)
    expect(() => registerMetric('accuracy', (a, b) => tf.sub(a, b))).toThrow(/built in/)
  })
})

describe('optimisers', () => {
  it('every optimiser name builds and moves the weights in one step', async () => {
    const data = prototypes(64, 2, 4, 7)
    const settings: Record<string, Partial<OptimizerConfig>> = { momentum: { momentum: 0.9 } }
    for (const name of OPTIMIZER_NAMES) {
      const optimizer = { name, learningRate: name === 'adadelta' ? 1 : 0.05, ...settings[name] } as OptimizerConfig
      const config = sequential([dense('out', 2, 'softmax', { batch_input_shape: [null, 4] })], 'sparseCategoricalCrossentropy', optimizer)
      await withTrainer(await Trainer.create(config, { seed: 7 }), async trainer => {
        const before = trainer.getSnapshot().tensors[0]?.data as Float32Array
        const run = await trainer.trainSteps(data, 1)
        expect(Number.isFinite(run.loss)).toBe(true)
        const after = trainer.getSnapshot().tensors[0]?.data as Float32Array
        expect(after, name).not.toEqual(before)
        trainer.afterMerge()
        await trainer.trainSteps(data, 1)
      })
    }
  })
})

describe('other architectures', () => {
  it('a functional graph (two branches joined) from a user model keeps its weights and leaves the user model alone', async () => {
    const input = tf.input({ shape: [4], name: 'features' })
    const wide = tf.layers.dense({ units: 8, activation: 'relu', name: 'wide' }).apply(input) as tf.SymbolicTensor
    const deep = tf.layers.dense({ units: 8, activation: 'tanh', name: 'deep' }).apply(input) as tf.SymbolicTensor
    const joined = tf.layers.concatenate({ name: 'join' }).apply([wide, deep]) as tf.SymbolicTensor
    const output = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(joined) as tf.SymbolicTensor
    const user = tf.model({ inputs: input, outputs: output })
    const hyper: TrainingHyperparameters = { optimizer: { name: 'adam', learningRate: 0.02 }, batchSize: 32, localSteps: 10, loss: 'sparseCategoricalCrossentropy' }
    const userWeights = user.getWeights().map(w => w.dataSync().slice())
    try {
      const config = modelConfigFrom(user, hyper)
      expect(JSON.parse(JSON.stringify(config))).toEqual(config)
      expect(config.architecture.class_name).toBe('Model')
      const data = prototypes(300, 3, 4, 8)
      await withTrainer(await Trainer.fromModel(user, hyper, { seed: 8 }), async trainer => {
        // Starts from the user's (pretrained) weights, not a seeded draw.
        expect(trainer.getSnapshot().tensors.map(t => t.data)).toEqual(userWeights)
        expect(trainer.getSnapshot().tensors.map(t => t.name)).toEqual(user.weights.map(w => w.originalName))
        await trainer.trainSteps(data, 80)
        expect((await trainer.evaluate(data)).metrics.accuracy).toBeGreaterThan(0.95)
        // Another peer builds the same model from the JSON config and takes the snapshot.
        await withTrainer(await Trainer.create(config, { seed: 9 }), async peer => {
          peer.setSnapshot(trainer.getSnapshot())
          expect((await peer.evaluate(data)).metrics.accuracy).toBeGreaterThan(0.95)
        })
      })
      expect(user.getWeights().map(w => w.dataSync())).toEqual(userWeights)
    } finally {
      user.dispose()
    }
  })

  it('LayerNormalization between dense layers trains, starting from gamma 1 and beta 0', async () => {
    const config = sequential([
      dense('h', 16, 'relu', { batch_input_shape: [null, 8] }),
      { class_name: 'LayerNormalization', config: { name: 'ln' } },
      dense('out', 4, 'softmax')
    ], 'sparseCategoricalCrossentropy')
    const data = prototypes(400, 4, 8, 10)
    await withTrainer(await Trainer.create(config, { seed: 10 }), async trainer => {
      const snap = trainer.getSnapshot()
      const ln = snap.tensors.filter(t => t.name.startsWith('ln/'))
      expect(ln.map(t => [t.name, t.kind])).toEqual([['ln/gamma', 'norm'], ['ln/beta', 'norm']])
      expect(Array.from(ln[0]?.data ?? [])).toEqual(new Array<number>(16).fill(1))
      expect(Array.from(ln[1]?.data ?? [])).toEqual(new Array<number>(16).fill(0))
      await trainer.trainSteps(data, 60)
      expect((await trainer.evaluate(data)).metrics.accuracy).toBeGreaterThan(0.95)
      expect(trainer.getSnapshot().tensors.find(t => t.name === 'ln/gamma')?.data).not.toEqual(ln[0]?.data)
    })
  })

  it('Embedding + LSTM predicts the next character of a tiny corpus; perplexity is exp(mean token cross-entropy)', async () => {
    const text = 'the cat sat on the mat. '.repeat(12)
    const vocab = [...new Set(text)].sort()
    const ids = Int32Array.from(text, ch => vocab.indexOf(ch))
    const window = 8
    const count = ids.length - window
    const xs = new Int32Array(count * window)
    const ys = new Int32Array(count * window)
    for (let i = 0; i < count; i++) {
      xs.set(ids.subarray(i, i + window), i * window)
      ys.set(ids.subarray(i + 1, i + 1 + window), i * window)
    }
    const data: Dataset = { xs, ys, count, inputShape: [window], targetShape: [window] }
    const V = vocab.length
    const config = sequential([
      { class_name: 'Embedding', config: { name: 'emb', input_dim: V, output_dim: 8, batch_input_shape: [null, window] } },
      { class_name: 'LSTM', config: { name: 'lstm', units: 32, return_sequences: true } },
      dense('next', V, 'softmax')
    ], 'sparseCategoricalCrossentropy', { name: 'adam', learningRate: 0.02 }, { metrics: ['perplexity', 'accuracy'] })
    await withTrainer(await Trainer.create(config, { seed: 11 }), async trainer => {
      expect(trainer.getSnapshot().tensors.map(t => t.name)).toEqual(['emb/embeddings', 'lstm/kernel', 'lstm/recurrent_kernel', 'lstm/bias', 'next/kernel', 'next/bias'])
      const before = await trainer.evaluate(data)
      // An untrained model is about uniform over the vocabulary.
      expect(before.metrics.perplexity).toBeGreaterThan(V * 0.7)
      expect(before.metrics.perplexity).toBeLessThan(V * 1.3)
      await trainer.trainSteps(data, 120)
      const after = await trainer.evaluate(data, { batchSize: 50 })
      expect(after.metrics.perplexity).toBeLessThan(2)
      expect(after.metrics.accuracy).toBeGreaterThan(0.8)
      expect(after.metrics.perplexity).toBeCloseTo(Math.exp(after.loss), 3)
      // Targets must be one token per output position.
      await expect(trainer.trainSteps({ ...data, ys: ys.subarray(0, count), targetShape: [] }, 1)).rejects.toThrow(InvalidDatasetError)
      await expect(trainer.trainSteps({ ...data, ys: ys.subarray(0, count), targetShape: [] }, 1)).rejects.toThrow(`targetShape [] does not fit the model's output [8, ${V}] with loss sparseCategoricalCrossentropy`)
    })
  })
})
