import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { Trainer, mulberry32, normal, InvalidDatasetError } from '../src/train/index.js'
import type { Batch, Dataset, ModelConfig } from '../src/train/index.js'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/** Three classes in 4 features: each class a fixed prototype plus noise. */
function blobs (count: number, seed: number): Dataset {
  const rng = mulberry32(seed)
  const centres = [[1, 0, 0, 1], [0, 1, 1, 0], [-1, -1, 0, 0]]
  const xs = new Float32Array(count * 4)
  const ys = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    const c = i % 3
    ys[i] = c
    for (let j = 0; j < 4; j++) xs[i * 4 + j] = (centres[c]?.[j] as number) + 0.3 * normal(rng)
  }
  return { xs, ys, count, inputShape: [4], targetShape: [] }
}

const config: ModelConfig = {
  architecture: {
    class_name: 'Sequential',
    config: {
      name: 'blobs',
      layers: [
        { class_name: 'Dense', config: { name: 'h', units: 8, activation: 'relu', batch_input_shape: [null, 4] } },
        { class_name: 'Dense', config: { name: 'out', units: 3, activation: 'softmax' } }
      ]
    }
  },
  optimizer: { name: 'adam', learningRate: 0.05 },
  batchSize: 16,
  localSteps: 10,
  loss: 'sparseCategoricalCrossentropy'
}

const data = blobs(240, 1)

/** The data set cut into batches of tensors, made fresh on each call. */
function* batchesOf (d: Dataset, size: number): Generator<Batch> {
  for (let start = 0; start < d.count; start += size) {
    const n = Math.min(size, d.count - start)
    yield {
      xs: tf.tensor2d(d.xs.slice(start * 4, (start + n) * 4), [n, 4]),
      ys: tf.tensor1d(Int32Array.from(d.ys.subarray(start, start + n)), 'int32')
    }
  }
}

async function withTrainer<T> (fn: (t: Trainer) => Promise<T>, c: ModelConfig = config): Promise<T> {
  const trainer = await Trainer.create(c, { seed: 3 })
  try {
    return await fn(trainer)
  } finally {
    trainer.dispose()
  }
}

describe('streamed data', () => {
  it('trains on an async generator and evaluates on a tf.data.Dataset, restarting the re-iterable ones', async () => {
    await withTrainer(async trainer => {
      // An object whose async iterator makes a new generator: re-iterable, 15 batches a pass.
      const passes = { count: 0 }
      const stream: AsyncIterable<Batch> = {
        [Symbol.asyncIterator]: async function * () {
          passes.count++
          for (const batch of batchesOf(data, 16)) yield batch
        }
      }
      const run = await trainer.trainSteps(stream, 40)
      expect(run.samples).toBe(40 * 16)
      expect(passes.count).toBe(3)
      const test = tf.data.generator(() => batchesOf(blobs(90, 2), 30))
      const result = await trainer.evaluate(test)
      expect(result.metrics.accuracy).toBeGreaterThan(0.95)
      // Evaluating the same data in memory gives the same figures.
      const inMemory = await trainer.evaluate(blobs(90, 2))
      expect(result.metrics.accuracy).toBeCloseTo(inMemory.metrics.accuracy as number, 6)
      expect(result.loss).toBeCloseTo(inMemory.loss, 5)
      // maxBatches stops early: the first 30 samples only.
      const first = await trainer.evaluate(test, { maxBatches: 1 })
      const firstInMemory = await trainer.evaluate(blobs(90, 2), { batchSize: 30, maxBatches: 1 })
      expect(first.loss).toBeCloseTo(firstInMemory.loss, 5)
    })
  })

  it('a generator object runs once: the run ends early, then says why', async () => {
    await withTrainer(async trainer => {
      const once = batchesOf(data, 16)
      const run = await trainer.trainSteps(once, 100)
      expect(run.samples).toBe(data.count)
      await expect(trainer.trainSteps(once, 1)).rejects.toThrow(/yielded no batches; a generator object runs only once/)
    })
  })

  it('disposes the tensors it is handed by generators and tf.data, and keeps an array\'s for the next pass', async () => {
    await withTrainer(async trainer => {
      const array = [...batchesOf(data, 16)]
      await trainer.trainSteps(array, 20)
      await trainer.evaluate(array)
      expect(array.every(b => !b.xs.isDisposed && !b.ys.isDisposed)).toBe(true)
      await trainer.trainSteps(array, 20)
      const baseline = tf.memory().numTensors
      const viaTfData = tf.data.generator(() => batchesOf(data, 16))
      for (let r = 0; r < 5; r++) {
        await trainer.trainSteps(batchesOf(data, 16), 10)
        await trainer.trainSteps(viaTfData, 10)
        await trainer.evaluate(viaTfData)
        expect(tf.memory().numTensors).toBe(baseline)
      }
      tf.dispose(array.flatMap(b => [b.xs, b.ys]))
    })
  })

  it('refuses batches that do not fit the model, naming the shapes, and frees them', async () => {
    await withTrainer(async trainer => {
      const before = tf.memory().numTensors
      const wrongFeatures = [{ xs: tf.zeros([4, 5]), ys: tf.zeros([4]) }]
      await expect(trainer.trainSteps(wrongFeatures.values(), 1)).rejects.toThrow(/batch xs of shape \[4, 5\] does not fit the model's input \[batch, 4\]/)
      const wrongCount = [{ xs: tf.zeros([4, 4]), ys: tf.zeros([3]) }]
      await expect(trainer.trainSteps(wrongCount.values(), 1)).rejects.toThrow(/batch ys holds 3 samples, xs 4/)
      const oneHot = [{ xs: tf.zeros([4, 4]), ys: tf.zeros([4, 2]) }]
      await expect(trainer.trainSteps(oneHot.values(), 1)).rejects.toThrow(/batch ys of shape \[4, 2\] does not fit the model's output \[batch, 3\] with loss sparseCategoricalCrossentropy/)
      await expect(trainer.trainSteps([{ xs: 1, ys: 2 } as unknown as Batch].values(), 1)).rejects.toThrow(InvalidDatasetError)
      // Generator-style sources are the trainer's: refused batches are freed too.
      expect(tf.memory().numTensors).toBe(before)
    })
  })
})

describe('memory and export', () => {
  it('keeps tensor memory flat across trainSteps, evaluate, afterMerge and exportModel + dispose', async () => {
    await withTrainer(async trainer => {
      const round = async (): Promise<void> => {
        await trainer.trainSteps(data, 5)
        trainer.setSnapshot(trainer.getSnapshot())
        trainer.afterMerge()
        await trainer.trainSteps(batchesOf(data, 16), 3)
        await trainer.evaluate(data, { batchSize: 50 })
        const exported = trainer.exportModel()
        tf.tidy(() => { exported.predict(tf.zeros([2, 4])) })
        exported.dispose()
      }
      await round()
      const baseline = tf.memory().numTensors
      const bytes = tf.memory().numBytes
      for (let r = 0; r < 10; r++) {
        await round()
        expect(tf.memory().numTensors).toBe(baseline)
      }
      expect(tf.memory().numBytes).toBe(bytes)
    })
  })

  it('exportModel predicts exactly as the trainer does, owns its weights, and outlives the trainer', async () => {
    const trainer = await Trainer.create(config, { seed: 4 })
    await trainer.trainSteps(data, 30)
    const x = tf.tensor2d(data.xs.subarray(0, 40), [10, 4])
    const exported = trainer.exportModel()
    try {
      const mine = (trainer.model.predict(x) as tf.Tensor).dataSync()
      expect((exported.predict(x) as tf.Tensor).dataSync()).toEqual(mine)
      expect(exported.weights.map(w => w.originalName)).toEqual(trainer.model.weights.map(w => w.originalName))
      // Training on does not reach into the export.
      await trainer.trainSteps(data, 5)
      expect((exported.predict(x) as tf.Tensor).dataSync()).toEqual(mine)
      trainer.dispose()
      expect((exported.predict(x) as tf.Tensor).dataSync()).toEqual(mine)
      // It serialises like any tfjs model.
      const saved = await exported.save(tf.io.withSaveHandler(async artifacts => ({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: (artifacts.weightData as ArrayBuffer).byteLength } })))
      expect(saved.modelArtifactsInfo.weightDataBytes).toBe(4 * (4 * 8 + 8 + 8 * 3 + 3))
    } finally {
      trainer.dispose()
      exported.dispose()
      x.dispose()
    }
  })
})
