import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  TopKCompressor, applySparse, densify, resolveK, topKIndices, MergeInputError, InvalidSparseDeltaError
} from '../src/learn/index.js'

/** Indices by magnitude (descending), lower index first among ties. */
function byMagnitude (values: Float32Array): number[] {
  return Array.from(values, (_, i) => i).sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!) || a - b)
}
/** Reference top-k: the first `count` of a full sort, in index order. */
function naiveTopK (values: Float32Array, count: number, order = byMagnitude(values)): number[] {
  return order.slice(0, count).sort((a, b) => a - b)
}
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}
const finite = { noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) } as const

describe('topKIndices', () => {
  it('selects exactly the k largest magnitudes, ties to the lower index', () => {
    fc.assert(fc.property(
      fc.float32Array({ ...finite, maxLength: 60 }).chain(v => fc.integer({ min: 0, max: v.length + 2 }).map(k => [v, k] as const)),
      ([values, k]) => {
        expect(Array.from(topKIndices(values, k))).toEqual(naiveTopK(values, k))
      }), { numRuns: 100 })
  })

  it('is exact on long tensors that take the sampled path, with and without many ties', () => {
    const next = rng(5)
    const n = 300_000
    const smooth = Float32Array.from({ length: n }, () => (next() - 0.5) * Math.exp(6 * next()))
    const coarse = Float32Array.from({ length: n }, () => Math.round((next() - 0.5) * 8))
    const sparse = Float32Array.from({ length: n }, () => next() < 0.001 ? next() : 0)
    for (const values of [smooth, coarse, sparse]) {
      const order = byMagnitude(values)
      for (const k of [1, 37, 3000, 150_000]) {
        expect(Array.from(topKIndices(values, k))).toEqual(naiveTopK(values, k, order))
      }
    }
  })
})

describe('resolveK', () => {
  it('reads counts, fractions and zero', () => {
    expect(resolveK(5, 100)).toBe(5)
    expect(resolveK(500, 100)).toBe(100)
    expect(resolveK(0.01, 1000)).toBe(10)
    expect(resolveK(0.001, 10)).toBe(1)
    expect(resolveK(0, 10)).toBe(0)
    expect(resolveK(1, 10)).toBe(1)
    for (const bad of [-1, 2.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => resolveK(bad, 10)).toThrow(MergeInputError)
  })
})

describe('TopKCompressor', () => {
  it('sends plus keeps exactly what it was given plus what it kept before, and sends the k largest', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 40 }).chain(len => fc.tuple(
        fc.array(fc.float32Array({ ...finite, min: -1e6, max: 1e6, minLength: len, maxLength: len }), { minLength: 1, maxLength: 5 }),
        fc.oneof(fc.integer({ min: 0, max: len }), fc.double({ min: 0.01, max: 0.99, noNaN: true })))),
      ([deltas, k]) => {
        const c = new TopKCompressor()
        for (const delta of deltas) {
          const before = c.residual()?.slice() ?? new Float32Array(delta.length)
          const expected = before.map((r, j) => r + delta[j]!)
          const sparse = c.compress(delta, k)
          const after = c.residual()!
          const sent = densify(sparse)
          // `+ 0` folds -0 into 0: the sign of a zero carries no mass.
          for (let j = 0; j < delta.length; j++) expect(sent[j]! + after[j]! + 0).toBe(expected[j]! + 0)
          expect(sparse.indices.length).toBe(resolveK(k, delta.length))
          expect(Array.from(sparse.indices)).toEqual(naiveTopK(expected, sparse.indices.length))
        }
      }), { numRuns: 100 })
  })

  it('eventually transmits all of a delta once nothing new arrives', () => {
    fc.assert(fc.property(fc.float32Array({ ...finite, min: -1e6, max: 1e6, minLength: 1, maxLength: 50 }), fc.integer({ min: 1, max: 7 }), (delta, k) => {
      const c = new TopKCompressor()
      const total = new Float64Array(delta.length)
      const add = (s: ReturnType<TopKCompressor['compress']>): void => s.indices.forEach((j, i) => { total[j]! += s.values[i]! })
      add(c.compress(delta, k))
      const zero = new Float32Array(delta.length)
      for (let round = 0; round < Math.ceil(delta.length / k); round++) add(c.compress(zero, k))
      expect(Array.from(c.residual()!).every(v => v === 0)).toBe(true)
      // Compared as numbers: a sent -0 and an unsent 0 are the same mass.
      expect(Array.from(total, v => v + 0)).toEqual(Array.from(delta, v => v + 0))
    }), { numRuns: 100 })
  })

  it('with a constant delta every coordinate is sent and the residual stays bounded', () => {
    const delta = Float32Array.from({ length: 20 }, (_, j) => (j + 1) / 20)
    const c = new TopKCompressor()
    const total = new Float64Array(delta.length)
    const rounds = 400
    for (let r = 0; r < rounds; r++) {
      const s = c.compress(delta, 2)
      s.indices.forEach((j, i) => { total[j]! += s.values[i]! })
    }
    const residual = c.residual()!
    for (let j = 0; j < delta.length; j++) {
      expect(total[j]!).toBeGreaterThan(0)
      expect(Math.abs(residual[j]!)).toBeLessThan(delta.length * 1.01)
      // Everything given is either sent or still held.
      expect(Math.abs(total[j]! + residual[j]! - rounds * delta[j]!)).toBeLessThan(1e-3)
    }
    const sentMass = total.reduce((a, b) => a + b, 0)
    expect(sentMass / (rounds * delta.reduce((a, b) => a + b, 0))).toBeGreaterThan(0.95)
  })

  it('keeps one residual per key and refuses deltas that would poison it', () => {
    const c = new TopKCompressor()
    c.compress(Float32Array.of(1, 2, 3), 1, 'a')
    c.compress(Float32Array.of(5, 5), 1, 'b')
    expect(Array.from(c.residual('a')!)).toEqual([1, 2, 0])
    expect(Array.from(c.residual('b')!)).toEqual([0, 5])
    expect(() => c.compress(Float32Array.of(Number.NaN, 0, 0), 1, 'a')).toThrow(MergeInputError)
    expect(() => c.compress(Float32Array.of(0, Number.POSITIVE_INFINITY, 0), 1, 'a')).toThrow(MergeInputError)
    expect(Array.from(c.residual('a')!)).toEqual([1, 2, 0])
    expect(() => c.compress(Float32Array.of(1, 2), 1, 'a')).toThrow(MergeInputError)
    expect(() => c.compress(Float32Array.of(1, 2, 3), 1.5, 'a')).toThrow(MergeInputError)
    c.reset('a')
    expect(c.residual('a')).toBeUndefined()
    expect(c.residual('b')).toBeDefined()
    c.reset()
    expect(c.residual('b')).toBeUndefined()
  })
})

describe('applySparse', () => {
  it('adds the delta in place', () => {
    const base = Float32Array.of(1, 1, 1, 1)
    expect(applySparse(base, { indices: Uint32Array.of(1, 3), values: Float32Array.of(2, -1), length: 4 })).toBe(base)
    expect(Array.from(base)).toEqual([1, 3, 1, 0])
  })

  it('refuses malformed deltas before changing anything', () => {
    const bad = [
      { indices: Uint32Array.of(4), values: Float32Array.of(1), length: 4 },
      { indices: Uint32Array.of(2, 1), values: Float32Array.of(1, 1), length: 4 },
      { indices: Uint32Array.of(1, 1), values: Float32Array.of(1, 1), length: 4 },
      { indices: Uint32Array.of(1), values: Float32Array.of(1, 2), length: 4 },
      { indices: Uint32Array.of(0, 1), values: Float32Array.of(1, Number.NaN), length: 4 },
      { indices: Uint32Array.of(1), values: Float32Array.of(1), length: 5 }
    ]
    for (const sparse of bad) {
      const base = Float32Array.of(1, 1, 1, 1)
      expect(() => applySparse(base, sparse)).toThrow(InvalidSparseDeltaError)
      expect(Array.from(base)).toEqual([1, 1, 1, 1])
    }
  })
})
