import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  partitionIid, partitionDirichlet, partitionLabelShards, subset, checkDataset, InvalidPartitionError,
  InvalidDatasetError
} from '../src/train/index.js'
import { mulberry32, deriveSeed, gamma, dirichlet, shuffleInPlace } from '../src/train/random.js'
import type { Dataset } from '../src/train/index.js'

/** Every index 0..n-1 appears exactly once across the parts, and no part is empty. */
function expectDisjointCover (parts: number[][], n: number): void {
  const seen = new Uint8Array(n)
  for (const part of parts) {
    expect(part.length).toBeGreaterThan(0)
    for (const i of part) {
      expect(Number.isInteger(i) && i >= 0 && i < n).toBe(true)
      expect(seen[i]).toBe(0)
      seen[i] = 1
    }
  }
  expect(seen.every(s => s === 1)).toBe(true)
}

/** Labels 0..classes-1, `perClass` of each, in a seeded shuffled order. */
function balancedLabels (classes: number, perClass: number, seed: number): Uint8Array {
  const labels = Uint8Array.from({ length: classes * perClass }, (_, i) => i % classes)
  return shuffleInPlace(labels, mulberry32(seed))
}

/** Mean over parts of the share of each part's largest class: 1/classes when balanced, 1 when one class each. */
function meanDominantShare (parts: number[][], labels: Uint8Array, classes: number): number {
  let sum = 0
  for (const part of parts) {
    const counts = new Array<number>(classes).fill(0)
    for (const i of part) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1
    sum += Math.max(...counts) / part.length
  }
  return sum / parts.length
}

const labelsArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 400 })

describe('seeded random source', () => {
  it('repeats for a seed and differs across seeds', () => {
    const a = mulberry32(42)
    const b = mulberry32(42)
    const c = mulberry32(43)
    const xs = Array.from({ length: 5 }, () => a())
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs)
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs)
    expect(deriveSeed(1, 'x')).toBe(deriveSeed(1, 'x'))
    expect(deriveSeed(1, 'x')).not.toBe(deriveSeed(1, 'y'))
    expect(deriveSeed(1, 'x')).not.toBe(deriveSeed(2, 'x'))
  })

  it('draws gamma samples with the right mean, and Dirichlet shares that sum to one', () => {
    const rng = mulberry32(7)
    for (const shape of [0.1, 0.5, 1, 3, 20]) {
      let sum = 0
      for (let i = 0; i < 20_000; i++) sum += gamma(rng, shape)
      expect(Math.abs(sum / 20_000 - shape) / shape).toBeLessThan(0.06)
    }
    fc.assert(fc.property(fc.integer(), fc.double({ min: 1e-3, max: 100, noNaN: true }), fc.integer({ min: 1, max: 20 }), (seed, alpha, k) => {
      const p = dirichlet(mulberry32(seed), alpha, k)
      const total = p.reduce((a, b) => a + b, 0)
      return Math.abs(total - 1) < 1e-9 && p.every(x => x >= 0)
    }))
  })
})

describe('partitions', () => {
  it('IID: disjoint cover, sizes within one of each other, same seed same split', () => {
    fc.assert(fc.property(labelsArb, fc.integer({ min: 1, max: 20 }), fc.integer(), (labels, parts, seed) => {
      fc.pre(parts <= labels.length)
      const split = partitionIid(labels, parts, seed)
      expect(split).toHaveLength(parts)
      expectDisjointCover(split, labels.length)
      const sizes = split.map(p => p.length)
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
      expect(partitionIid(labels, parts, seed)).toEqual(split)
    }))
  })

  it('IID parts are label-balanced on a large set', () => {
    const labels = balancedLabels(10, 600, 1)
    const split = partitionIid(labels, 10, 3)
    // Each part holds 600 samples; a class's count is ~Binomial(600, 0.1): 60 ± 7.3.
    for (const part of split) {
      const counts = new Array<number>(10).fill(0)
      for (const i of part) counts[labels[i] as number] = (counts[labels[i] as number] as number) + 1
      for (const c of counts) expect(c).toBeGreaterThan(30)
    }
    expect(meanDominantShare(split, labels, 10)).toBeLessThan(0.2)
  })

  it('Dirichlet: disjoint cover with every part non-empty, for any alpha', () => {
    fc.assert(fc.property(labelsArb, fc.integer({ min: 1, max: 20 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.integer(),
      (labels, parts, alpha, seed) => {
        fc.pre(parts <= labels.length)
        const split = partitionDirichlet(labels, parts, alpha, seed)
        expect(split).toHaveLength(parts)
        expectDisjointCover(split, labels.length)
        expect(partitionDirichlet(labels, parts, alpha, seed)).toEqual(split)
      }))
  })

  it('Dirichlet: small alpha skews each part towards few classes, large alpha is near uniform', () => {
    const labels = balancedLabels(10, 500, 2)
    const skews = { 0.05: 0, 0.5: 0, 1000: 0 }
    for (const alpha of [0.05, 0.5, 1000] as const) {
      // Averaged over seeds so no single lucky draw decides the comparison.
      for (let seed = 0; seed < 5; seed++) skews[alpha] += meanDominantShare(partitionDirichlet(labels, 10, alpha, seed), labels, 10) / 5
    }
    expect(skews[0.05]).toBeGreaterThan(0.5)
    expect(skews[0.05]).toBeGreaterThan(skews[0.5])
    expect(skews[0.5]).toBeGreaterThan(skews[1000])
    expect(skews[1000]).toBeLessThan(0.15)
    // Near-uniform also in size: with alpha 1000 each part gets ~500 samples.
    for (const part of partitionDirichlet(labels, 10, 1000, 9)) expect(Math.abs(part.length - 500)).toBeLessThan(60)
  })

  it('label shards: disjoint cover and at most shardsPerPart labels per part', () => {
    fc.assert(fc.property(labelsArb, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer(),
      (labels, parts, shardsPerPart, seed) => {
        const distinct = new Set(labels).size
        fc.pre(parts * shardsPerPart >= distinct && parts * shardsPerPart <= labels.length)
        const split = partitionLabelShards(labels, parts, shardsPerPart, seed)
        expect(split).toHaveLength(parts)
        expectDisjointCover(split, labels.length)
        for (const part of split) expect(new Set(part.map(i => labels[i])).size).toBeLessThanOrEqual(shardsPerPart)
      }))
  })

  it("label shards reproduce McMahan's split: 100 parts × 2 shards of MNIST-sized data", () => {
    const labels = balancedLabels(10, 600, 4)
    const split = partitionLabelShards(labels, 100, 2, 5)
    expectDisjointCover(split, labels.length)
    for (const part of split) {
      expect(part.length).toBe(60)
      expect(new Set(part.map(i => labels[i])).size).toBeLessThanOrEqual(2)
    }
  })

  it('refuses splits it cannot make', () => {
    expect(() => partitionIid([0, 1], 3, 1)).toThrow(InvalidPartitionError)
    expect(() => partitionIid([0, 1], 0, 1)).toThrow(InvalidPartitionError)
    expect(() => partitionDirichlet([0, 1], 2, 0, 1)).toThrow(InvalidPartitionError)
    expect(() => partitionLabelShards([0, 1, 2, 3], 1, 2, 1)).toThrow(/cannot cover 4 labels/)
    expect(() => partitionLabelShards([0, 1, 2, 3], 2, 3, 1)).toThrow(InvalidPartitionError)
    expect(() => partitionDirichlet([0, -1], 1, 1, 1)).toThrow(/not a class index/)
  })
})

describe('subset', () => {
  const data: Dataset = {
    xs: Float32Array.from({ length: 5 * 3 }, (_, i) => i),
    ys: Uint8Array.from([0, 1, 2, 1, 0]),
    count: 5,
    inputShape: [3],
    targetShape: []
  }

  it('copies the chosen rows and targets in order, keeping the array types', () => {
    const s = subset(data, [4, 1])
    expect(s.count).toBe(2)
    expect(Array.from(s.xs)).toEqual([12, 13, 14, 3, 4, 5])
    expect(Array.from(s.ys)).toEqual([0, 1])
    expect(s.ys).toBeInstanceOf(Uint8Array)
    checkDataset(s)
    s.xs[0] = -1
    expect(data.xs[12]).toBe(12)
    // Token sequences: Int32 xs and multi-value targets are copied row by row.
    const tokens: Dataset = { xs: Int32Array.from([1, 2, 3, 4, 5, 6]), ys: Int32Array.from([2, 3, 4, 5, 6, 7]), count: 3, inputShape: [2], targetShape: [2] }
    const picked = subset(tokens, [2, 0])
    expect(picked.xs).toEqual(Int32Array.from([5, 6, 1, 2]))
    expect(picked.ys).toEqual(Int32Array.from([6, 7, 2, 3]))
  })

  it('refuses indices outside the data set and inconsistent data sets, naming the field', () => {
    expect(() => subset(data, [5])).toThrow(InvalidDatasetError)
    expect(() => checkDataset({ ...data, count: 4 })).toThrow(/xs holds 15 values, expected count × prod\(inputShape\) = 4 × 3/)
    expect(() => checkDataset({ ...data, targetShape: [2] })).toThrow(/ys holds 5 values, expected count × prod\(targetShape\) = 5 × 2/)
    expect(() => checkDataset({ ...data, inputShape: [] })).toThrow(/inputShape/)
    expect(() => checkDataset({ ...data, targetShape: [0] })).toThrow(/targetShape/)
    expect(() => checkDataset({ ...data, xs: Array.from(data.xs) as unknown as Float32Array })).toThrow(/xs must be/)
  })

  it('splits a data set into parts that together hold every sample once', () => {
    const parts = partitionIid(data.ys, 2, deriveSeed(1, 'split')).map(p => subset(data, p))
    expect(parts.reduce((n, p) => n + p.count, 0)).toBe(5)
    const rows = parts.flatMap(p => Array.from({ length: p.count }, (_, i) => p.xs[i * 3]))
    expect(rows.sort((a, b) => (a as number) - (b as number))).toEqual([0, 3, 6, 9, 12])
  })
})
