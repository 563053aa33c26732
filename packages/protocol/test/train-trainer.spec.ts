import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { mnistMlp, mnistCnn, Trainer, partitionIid, subset, InvalidDatasetError, TrainerUsageError } from '../src/train/index.js'
import { mulberry32, normal } from '../src/train/random.js'
import type { Dataset, ModelConfig } from '../src/train/index.js'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

/**
 * A learnable stand-in for MNIST: each class is a fixed random 784-pixel prototype, each
 * sample its prototype plus heavy noise, clipped to 0..1.
 */
function syntheticDigits (count: number, seed: number, classes = 10): Dataset {
  const rng = mulberry32(seed)
  const prototypes = Array.from({ length: classes }, () => Float32Array.from({ length: 784 }, () => rng()))
  const xs = new Float32Array(count * 784)
  const ys = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const label = i % classes
    ys[i] = label
    const proto = prototypes[label] as Float32Array
    for (let j = 0; j < 784; j++) xs[i * 784 + j] = Math.min(1, Math.max(0, (proto[j] as number) + 0.5 * normal(rng)))
  }
  return { xs, ys, count, inputShape: [784], targetShape: [] }
}

const data = syntheticDigits(600, 1)
const [trainIdx, testIdx] = partitionIid(data.ys, 2, 7) as [number[], number[]]
const train = subset(data, trainIdx)
const test = subset(data, testIdx)

async function withTrainer<T> (config: ModelConfig, seed: number, fn: (t: Trainer) => Promise<T>): Promise<T> {
  const trainer = await Trainer.create(config, { seed })
  try {
    return await fn(trainer)
  } finally {
    trainer.dispose()
  }
}

describe('Trainer', () => {
  it('learns: accuracy rises from chance and loss falls', async () => {
    await withTrainer(mnistMlp(), 1, async trainer => {
      const before = await trainer.evaluate(test)
      const run = await trainer.trainSteps(train, 30)
      const after = await trainer.evaluate(test)
      expect(run.samples).toBe(30 * 32)
      expect(Number.isFinite(run.loss)).toBe(true)
      expect(trainer.metricNames).toEqual(['accuracy'])
      expect(before.metrics.accuracy).toBeLessThan(0.4)
      expect(after.metrics.accuracy).toBeGreaterThan(0.9)
      expect(after.loss).toBeLessThan(before.loss)
    })
  })

  it('trains a CNN and a sparse-label Adam config too', async () => {
    // Convolutions are slow on the pure-JS backend: a few steps show the CNN path works;
    // @murmur/node checks that it learns, on WASM with real MNIST.
    await withTrainer(mnistCnn(), 2, async trainer => {
      const before = trainer.getSnapshot()
      const run = await trainer.trainSteps(train, 2)
      expect(run.samples).toBe(64)
      expect(Number.isFinite(run.loss)).toBe(true)
      expect(trainer.getSnapshot().tensors[0]?.data).not.toEqual(before.tensors[0]?.data)
    })
    const sparseAdam = mnistMlp({ loss: 'sparseCategoricalCrossentropy', optimizer: { name: 'adam', learningRate: 0.001 } })
    await withTrainer(sparseAdam, 3, async trainer => {
      await trainer.trainSteps(train, 30)
      expect((await trainer.evaluate(test)).metrics.accuracy).toBeGreaterThan(0.9)
    })
  })

  it('is reproducible: same seed and data give the same weights after training', async () => {
    const run = async (): Promise<Float32Array> => withTrainer(mnistMlp(), 9, async trainer => {
      await trainer.trainSteps(train, 5)
      await trainer.trainSteps(train, 5)
      return trainer.getSnapshot().tensors[2]?.data as Float32Array
    })
    expect(await run()).toEqual(await run())
  })

  it('keeps tensor memory flat over 30 rounds of train, get, set', async () => {
    await withTrainer(mnistMlp({ optimizer: { name: 'adam', learningRate: 0.001 } }), 4, async trainer => {
      const other = trainer.getSnapshot()
      const round = async (): Promise<void> => {
        await trainer.trainSteps(train, 2)
        const mine = trainer.getSnapshot()
        // A stand-in for a merge: take the mean with a fixed other model.
        for (let t = 0; t < mine.tensors.length; t++) {
          const d = mine.tensors[t]?.data as Float32Array
          const o = other.tensors[t]?.data as Float32Array
          for (let i = 0; i < d.length; i++) d[i] = ((d[i] as number) + (o[i] as number)) / 2
        }
        trainer.setSnapshot(mine)
      }
      await round() // warm-up: the optimiser makes its slot variables on the first step
      await trainer.evaluate(test)
      const baseline = tf.memory().numTensors
      const bytes = tf.memory().numBytes
      const seen: number[] = []
      for (let r = 0; r < 30; r++) {
        await round()
        if (r % 10 === 0) await trainer.evaluate(test)
        seen.push(tf.memory().numTensors)
      }
      expect(seen).toEqual(new Array<number>(30).fill(baseline))
      expect(tf.memory().numBytes).toBe(bytes)
    })
  })

  it('frees every tensor on dispose', async () => {
    const before = tf.memory().numTensors
    await withTrainer(mnistMlp(), 5, async trainer => {
      await trainer.trainSteps(train, 2)
      expect(tf.memory().numTensors).toBeGreaterThan(before)
    })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('refuses misuse: overlapping runs, use after dispose, bad steps, data that does not fit', async () => {
    const trainer = await Trainer.create(mnistMlp(), { seed: 6 })
    const first = trainer.trainSteps(train, 3)
    await expect(trainer.trainSteps(train, 1)).rejects.toThrow(TrainerUsageError)
    await first
    await expect(trainer.trainSteps(train, 0)).rejects.toThrow(/positive integer/)
    const wrongShape: Dataset = { ...train, xs: new Float32Array(train.count * 10), inputShape: [10] }
    await expect(trainer.trainSteps(wrongShape, 1)).rejects.toThrow(InvalidDatasetError)
    await expect(trainer.trainSteps(wrongShape, 1)).rejects.toThrow(/inputShape \[10\] does not fit the model's input \[784\]/)
    const label10 = Uint8Array.from(train.ys)
    label10[7] = 10
    await expect(trainer.trainSteps({ ...train, ys: label10 }, 1)).rejects.toThrow(/ys\[7\] is 10, not a class index below the model's output width 10/)
    await expect(trainer.trainSteps({ ...train, ys: new Float32Array(train.count * 3), targetShape: [3] }, 1)).rejects.toThrow(/targetShape \[3\] does not fit the model's output \[10\]/)
    await expect(trainer.trainSteps({ ...train, count: train.count + 1 }, 1)).rejects.toThrow(/xs holds/)
    await expect(trainer.evaluate({ ...test, count: 0, xs: new Float32Array(0), ys: new Uint8Array(0) })).rejects.toThrow(/empty/)
    await expect(trainer.trainSteps({ ...test, count: 0, xs: new Float32Array(0), ys: new Uint8Array(0) }, 1)).rejects.toThrow(/empty/)
    trainer.dispose()
    expect(() => trainer.getSnapshot()).toThrow(TrainerUsageError)
    await expect(trainer.trainSteps(train, 1)).rejects.toThrow(/disposed/)
  })

  it('yields to the event loop while it trains', async () => {
    let ticks = 0
    const timer = setInterval(() => { ticks++ }, 0)
    try {
      await withTrainer(mnistMlp(), 8, async () => {
        const trainer = await Trainer.create(mnistMlp(), { seed: 8, yieldEveryMs: 0 })
        try {
          await trainer.trainSteps(train, 20)
        } finally {
          trainer.dispose()
        }
      })
    } finally {
      clearInterval(timer)
    }
    // With yieldEveryMs 0 every batch gives timers a turn; without yielding none would run.
    expect(ticks).toBeGreaterThanOrEqual(10)
  })
})
