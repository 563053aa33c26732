import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fc from 'fast-check'
import { coordinateMedian, trimmedMean, weightedAverage, getMergeBackend, setMergeBackend, MergeInputError } from '../src/learn/index.js'
import type { MergeBackend } from '../src/learn/index.js'

// Naive references: sort each coordinate's values in doubles.
function column (xs: Float32Array[], j: number): number[] {
  return xs.map(x => x[j]!).sort((a, b) => a - b)
}
function naiveMedian (xs: Float32Array[]): number[] {
  return Array.from({ length: xs[0]!.length }, (_, j) => {
    const c = column(xs, j)
    const n = c.length
    return n % 2 === 1 ? c[(n - 1) / 2]! : (c[n / 2 - 1]! + c[n / 2]!) / 2
  })
}
function naiveTrimmed (xs: Float32Array[], trim: number): number[] {
  const n = xs.length
  const k = Math.min(Math.floor(trim * n + 1e-9), Math.floor((n - 1) / 2))
  return Array.from({ length: xs[0]!.length }, (_, j) => {
    const kept = column(xs, j).slice(k, n - k)
    return kept.reduce((a, b) => a + b, 0) / kept.length
  })
}
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}
/** Float32 rounding of a mean of values of this size, plus a floor for subnormals. */
const tol = (x: number): number => 4 * 2 ** -24 * Math.abs(x) + 1e-44

const tensorsArb = (maxN = 9, maxLen = 20): fc.Arbitrary<Float32Array[]> =>
  fc.tuple(fc.integer({ min: 1, max: maxN }), fc.integer({ min: 0, max: maxLen })).chain(([n, len]) =>
    fc.array(fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: len, maxLength: len }), { minLength: n, maxLength: n }))

describe.each<MergeBackend>(['wasm-simd', 'js'])('with %s loops', backend => {
  beforeAll(() => { setMergeBackend(backend) })
  afterAll(() => { setMergeBackend('wasm-simd') })

  it('runs on the backend asked for', () => {
    expect(getMergeBackend()).toBe(backend)
  })

  describe('coordinateMedian', () => {
    it('agrees with a sort-based median, whatever the values (ties, ±0, extremes)', () => {
      fc.assert(fc.property(tensorsArb(), xs => {
        const out = coordinateMedian(xs)
        const ref = naiveMedian(xs)
        ref.forEach((r, j) => expect(Math.abs(out[j]! - r)).toBeLessThanOrEqual(tol(r)))
      }), { numRuns: 100 })
    })

    it('agrees across block boundaries for every input count up to 12', () => {
      const next = rng(3)
      for (let n = 1; n <= 12; n++) {
        const xs = Array.from({ length: n }, () => Float32Array.from({ length: 17_000 + n }, () => Math.round((next() - 0.5) * 40) / 4))
        const out = coordinateMedian(xs)
        const ref = naiveMedian(xs)
        const worst = ref.reduce((w, r, j) => Math.max(w, Math.abs(out[j]! - r)), 0)
        expect(worst, `n = ${n}`).toBe(0)
      }
    })

    it('does not depend on the order of the inputs', () => {
      fc.assert(fc.property(tensorsArb(8).chain(xs => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }).map(p => [xs, p] as const)), ([xs, p]) => {
        // numerically equal; the sign of a zero median follows whichever of the tied -0 and
        // +0 the sort met first (seed 1929880744), so zeros are compared as numbers (v + 0)
        expect(Array.from(coordinateMedian(p), v => v + 0)).toEqual(Array.from(coordinateMedian(xs), v => v + 0))
      }), { numRuns: 100 })
    })

    it('stays among the honest values when fewer than half of the inputs are arbitrary', () => {
      fc.assert(fc.property(fc.integer({ min: 3, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.double({ min: -1e30, max: 1e30, noNaN: true }), (n, len, evil) => {
        const bad = Math.floor((n - 1) / 2)
        const honest = Array.from({ length: n - bad }, (_, i) => new Float32Array(len).fill(1 + i / n))
        const out = coordinateMedian([...honest, ...Array.from({ length: bad }, () => new Float32Array(len).fill(evil))])
        for (const v of out) { expect(v).toBeGreaterThanOrEqual(1); expect(v).toBeLessThanOrEqual(2) }
      }), { numRuns: 100 })
    })

    it('refuses empty or mismatched inputs', () => {
      expect(() => coordinateMedian([])).toThrow(MergeInputError)
      expect(() => coordinateMedian([new Float32Array(2), new Float32Array(3)])).toThrow(MergeInputError)
    })
  })

  describe('trimmedMean', () => {
    it('agrees with a sort-based trimmed mean', () => {
      fc.assert(fc.property(tensorsArb(9, 20), fc.double({ min: 0, max: 0.49, noNaN: true }), (xs, trim) => {
        const out = trimmedMean(xs.map(x => x.map(v => Math.max(-1e30, Math.min(1e30, v)))), trim)
        const ref = naiveTrimmed(xs.map(x => x.map(v => Math.max(-1e30, Math.min(1e30, v)))), trim)
        const n = xs.length
        ref.forEach((r, j) => {
          // The mean of up to n values, each rounded once on the way: bound by the largest kept.
          const biggest = Math.max(...xs.map(x => Math.min(1e30, Math.abs(x[j]!))))
          expect(Math.abs(out[j]! - r)).toBeLessThanOrEqual(tol(r) + n * 2 ** -52 * biggest)
        })
      }), { numRuns: 100 })
    })

    it('with trim 0 is the plain unweighted mean', () => {
      fc.assert(fc.property(tensorsArb(9, 20).map(xs => xs.map(x => x.map(v => Math.max(-1e6, Math.min(1e6, v))))), xs => {
        const out = trimmedMean(xs, 0)
        const plain = weightedAverage(xs)
        out.forEach((v, j) => expect(Math.abs(v - plain[j]!)).toBeLessThanOrEqual(16 * 2 ** -24 * 1e6 + 1e-44))
      }), { numRuns: 100 })
    })

    it('drops floor(trim·n) values from each side', () => {
      const xs = [1, 2, 3, 4, 100, -100, 5, 6].map(v => Float32Array.of(v))
      expect(trimmedMean(xs, 0.25)[0]).toBe(3.5)
      expect(trimmedMean(xs, 0.125)[0]).toBe(3.5)
      expect(trimmedMean(xs, 0.1)[0]).toBe(21 / 8)
      expect(trimmedMean(xs.slice(0, 3), 0.49)[0]).toBe(2)
    })

    it('refuses a trim outside [0, 0.5)', () => {
      const xs = [new Float32Array(2), new Float32Array(2)]
      for (const trim of [0.5, -0.1, Number.NaN, 1]) expect(() => trimmedMean(xs, trim)).toThrow(MergeInputError)
      expect(() => trimmedMean([], 0.1)).toThrow(MergeInputError)
    })
  })
})
