import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fc from 'fast-check'
import {
  weightedAverage, varianceCorrectedAverage, weightedAverageInto, varianceCorrectedAverageInto, mergeModels,
  tensorKindFromName, getMergeBackend, setMergeBackend, MergeInputError
} from '../src/learn/index.js'
import type { MergeBackend, ModelSnapshot, NamedTensor } from '../src/learn/index.js'

// Naive references, in doubles, written for clarity rather than speed.
function normalised (n: number, weights?: number[]): number[] {
  const w = weights ?? Array.from({ length: n }, () => 1)
  const sum = w.reduce((a, b) => a + b, 0)
  return w.map(x => x / sum)
}
function naiveAverage (xs: Float32Array[], weights?: number[]): Float64Array {
  const a = normalised(xs.length, weights)
  const out = new Float64Array(xs[0]!.length)
  xs.forEach((x, i) => x.forEach((v, j) => { out[j]! += a[i]! * v }))
  return out
}
function meanVar (x: ArrayLike<number>): { mean: number, variance: number } {
  let s = 0
  for (let j = 0; j < x.length; j++) s += x[j]!
  const mean = s / x.length
  let q = 0
  for (let j = 0; j < x.length; j++) q += (x[j]! - mean) ** 2
  return { mean, variance: q / x.length }
}
function naiveVc (xs: Float32Array[], weights: number[] | undefined, epsilon: number): Float64Array {
  const a = normalised(xs.length, weights)
  const m = naiveAverage(xs, weights)
  const target = xs.reduce((t, x, i) => t + a[i]! * meanVar(x).variance, 0)
  const { mean, variance } = meanVar(m)
  const k = Math.sqrt((target + epsilon) / (variance + epsilon))
  return m.map(v => mean + (v - mean) * k)
}
/** Float32 rounding of a few products and partial sums, relative to the magnitudes summed (subnormals round absolutely). */
function tolerance (xs: Float32Array[], weights: number[] | undefined, j: number): number {
  const a = normalised(xs.length, weights)
  // the floor: a product below float32's smallest normal (2^-126) may come back as zero or as
  // a subnormal a few dozen ulps off (seen on the wasm-simd path); no model weight lives there
  return 16 * 2 ** -24 * xs.reduce((t, x, i) => t + a[i]! * Math.abs(x[j]!), 0) + (xs.length + 2) * 2 ** -126
}
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}
function gaussian (n: number, sd: number, next: () => number, mean = 0): Float32Array {
  const x = new Float32Array(n)
  for (let j = 0; j < n; j++) x[j] = mean + sd * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
  return x
}

/** n tensors of one common length. */
const tensorsArb = (maxN = 7, minLen = 0, maxLen = 24): fc.Arbitrary<Float32Array[]> =>
  fc.tuple(fc.integer({ min: 1, max: maxN }), fc.integer({ min: minLen, max: maxLen })).chain(([n, len]) =>
    fc.array(fc.float32Array({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true, minLength: len, maxLength: len }), { minLength: n, maxLength: n }))
const withWeights = (xs: Float32Array[]): fc.Arbitrary<[Float32Array[], number[] | undefined]> =>
  fc.option(fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: xs.length, maxLength: xs.length })
    .filter(w => w.reduce((a, b) => a + b, 0) > 1e-6), { nil: undefined }).map(w => [xs, w])

describe.each<MergeBackend>(['wasm-simd', 'js'])('with %s loops', backend => {
  beforeAll(() => { setMergeBackend(backend) })
  afterAll(() => { setMergeBackend('wasm-simd') })

  it('runs on the backend asked for (Node 24 has WebAssembly SIMD)', () => {
    expect(getMergeBackend()).toBe(backend)
  })

  describe('weightedAverage', () => {
    it('agrees with a naive double-precision average', () => {
      fc.assert(fc.property(tensorsArb().chain(withWeights), ([xs, w]) => {
        const out = weightedAverage(xs, w)
        const ref = naiveAverage(xs, w)
        expect(out.length).toBe(ref.length)
        for (let j = 0; j < out.length; j++) expect(Math.abs(out[j]! - ref[j]!)).toBeLessThanOrEqual(tolerance(xs, w, j))
      }), { numRuns: 100 })
    })

    it('agrees across block boundaries for every input count up to 9', () => {
      const next = rng(7)
      for (let n = 1; n <= 9; n++) {
        const xs = Array.from({ length: n }, () => gaussian(9000 + n, 1, next))
        const w = Array.from({ length: n }, () => next() + 0.01)
        const out = weightedAverage(xs, w)
        const ref = naiveAverage(xs, w)
        let worst = 0
        for (let j = 0; j < out.length; j++) worst = Math.max(worst, Math.abs(out[j]! - ref[j]!) - tolerance(xs, w, j))
        expect(worst, `n = ${n}`).toBeLessThanOrEqual(0)
      }
    })

    it('does not depend on the order of the inputs when weights move with them', () => {
      fc.assert(fc.property(tensorsArb(6, 1).chain(withWeights).chain(([xs, w]) =>
        fc.shuffledSubarray(xs.map((_, i) => i), { minLength: xs.length, maxLength: xs.length }).map(p => ({ xs, w, p }))), ({ xs, w, p }) => {
        const out = weightedAverage(xs, w)
        const permuted = weightedAverage(p.map(i => xs[i]!), w == null ? undefined : p.map(i => w[i]!))
        for (let j = 0; j < out.length; j++) expect(Math.abs(out[j]! - permuted[j]!)).toBeLessThanOrEqual(2 * tolerance(xs, w, j))
      }), { numRuns: 100 })
    })

    it('normalises weights and skips zero-weight inputs', () => {
      const a = Float32Array.of(1, 2, 3)
      const b = Float32Array.of(5, 6, 7)
      expect(Array.from(weightedAverage([a, b], [2, 6]))).toEqual([4, 5, 6])
      expect(Array.from(weightedAverage([a, b], [0, 3]))).toEqual([5, 6, 7])
      expect(Array.from(weightedAverage([a, b]))).toEqual([3, 4, 5])
    })

    it('refuses empty, mismatched or badly weighted inputs with MergeInputError', () => {
      const a = new Float32Array(3)
      const bad: Array<() => unknown> = [
        () => weightedAverage([]),
        () => weightedAverage([a, new Float32Array(4)]),
        () => weightedAverage([a, a], [1, -1]),
        () => weightedAverage([a, a], [1, Number.NaN]),
        () => weightedAverage([a, a], [1, Number.POSITIVE_INFINITY]),
        () => weightedAverage([a, a], [0, 0]),
        () => weightedAverage([a, a], [1]),
        () => varianceCorrectedAverage([]),
        () => varianceCorrectedAverage([a, a], [0, 0]),
        () => varianceCorrectedAverage([a, a], undefined, { epsilon: -1 })
      ]
      for (const call of bad) {
        expect(call).toThrow(MergeInputError)
        try { call() } catch (err) { expect((err as Error).name).toBe('MergeInputError') }
      }
    })
  })

  describe('into a caller-owned array', () => {
    it('writes the same result as the allocating form into the array it returns', () => {
      fc.assert(fc.property(tensorsArb(6, 2, 40).chain(withWeights), ([xs, w]) => {
        const out = new Float32Array(xs[0]!.length).fill(Number.NaN)
        expect(weightedAverageInto(out, xs, w)).toBe(out)
        expect(Array.from(out)).toEqual(Array.from(weightedAverage(xs, w)))
        out.fill(Number.NaN)
        expect(varianceCorrectedAverageInto(out, xs, w)).toBe(out)
        expect(Array.from(out)).toEqual(Array.from(varianceCorrectedAverage(xs, w)))
      }), { numRuns: 50 })
    })

    it('refuses an output of the wrong length or sharing memory with an input', () => {
      const buffer = new Float32Array(8)
      const a = buffer.subarray(0, 4)
      const b = Float32Array.of(1, 2, 3, 4)
      expect(() => weightedAverageInto(new Float32Array(3), [a, b])).toThrow(MergeInputError)
      expect(() => weightedAverageInto(a, [a, b])).toThrow(/overlaps/)
      expect(() => varianceCorrectedAverageInto(buffer.subarray(2, 6), [a, b])).toThrow(/overlaps/)
      expect(Array.from(weightedAverageInto(buffer.subarray(4, 8), [a, b]))).toEqual([0.5, 1, 1.5, 2])
    })
  })

  describe('varianceCorrectedAverage', () => {
    /** Cases where the correction is well defined: the average keeps some spread of its own. */
    const vcCase = tensorsArb(6, 2, 40).chain(withWeights).filter(([xs, w]) => {
      const a = normalised(xs.length, w)
      const target = xs.reduce((t, x, i) => t + a[i]! * meanVar(x).variance, 0)
      const m = meanVar(weightedAverage(xs, w))
      return target > 1e-6 && m.variance > 1e-3 * target
    })

    it('gives the average the weighted mean of the input variances, and keeps its mean', () => {
      fc.assert(fc.property(vcCase, ([xs, w]) => {
        const a = normalised(xs.length, w)
        const target = xs.reduce((t, x, i) => t + a[i]! * meanVar(x).variance, 0)
        const out = varianceCorrectedAverage(xs, w)
        const plain = weightedAverage(xs, w)
        const got = meanVar(out)
        expect(Math.abs(got.variance - target)).toBeLessThanOrEqual(1e-4 * target)
        const scale = Math.max(...Array.from(out, Math.abs), ...Array.from(plain, Math.abs))
        expect(Math.abs(got.mean - meanVar(plain).mean)).toBeLessThanOrEqual(1e-5 * scale)
      }), { numRuns: 100 })
    })

    it('agrees with a naive double-precision implementation, with and without epsilon', () => {
      fc.assert(fc.property(vcCase, fc.constantFrom(0, 1e-4, 0.5), ([xs, w], epsilon) => {
        const out = varianceCorrectedAverage(xs, w, { epsilon })
        const ref = naiveVc(xs, w, epsilon)
        const scale = Math.max(...Array.from(ref, Math.abs))
        for (let j = 0; j < out.length; j++) expect(Math.abs(out[j]! - ref[j]!)).toBeLessThanOrEqual(1e-4 * scale)
      }), { numRuns: 100 })
    })

    it('does not depend on the order of the inputs when weights move with them', () => {
      fc.assert(fc.property(vcCase.chain(([xs, w]) =>
        fc.shuffledSubarray(xs.map((_, i) => i), { minLength: xs.length, maxLength: xs.length }).map(p => ({ xs, w, p }))), ({ xs, w, p }) => {
        const out = varianceCorrectedAverage(xs, w)
        const permuted = varianceCorrectedAverage(p.map(i => xs[i]!), w == null ? undefined : p.map(i => w[i]!))
        const scale = Math.max(...Array.from(out, Math.abs))
        for (let j = 0; j < out.length; j++) expect(Math.abs(out[j]! - permuted[j]!)).toBeLessThanOrEqual(1e-5 * scale)
      }), { numRuns: 100 })
    })

    it('is the identity for one input, bit for bit, and returns a copy', () => {
      fc.assert(fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, maxLength: 30 }), fc.constantFrom(0, 1e-4), (x, epsilon) => {
        const out = varianceCorrectedAverage([x], undefined, { epsilon })
        expect(out).not.toBe(x)
        expect(Array.from(out)).toEqual(Array.from(x))
      }), { numRuns: 100 })
    })

    it('returns a constant average unscaled', () => {
      const x = Float32Array.of(1, 2, 3, 4)
      const minus = x.map(v => -v)
      expect(Array.from(varianceCorrectedAverage([x, minus]))).toEqual([0, 0, 0, 0])
      expect(Array.from(varianceCorrectedAverage([new Float32Array(5).fill(3), new Float32Array(5).fill(3)]))).toEqual([3, 3, 3, 3, 3])
    })

    it('restores the spread that averaging independent models loses', () => {
      const next = rng(11)
      const xs = Array.from({ length: 8 }, () => gaussian(20000, 0.05, next))
      const plain = meanVar(weightedAverage(xs)).variance
      const corrected = meanVar(varianceCorrectedAverage(xs)).variance
      expect(plain).toBeLessThan(0.05 ** 2 / 4)
      expect(Math.abs(corrected - 0.05 ** 2) / 0.05 ** 2).toBeLessThan(0.02)
    })
  })
})

describe('the two backends', () => {
  it('agree on long tensors, across every block boundary', () => {
    const next = rng(21)
    const xs = Array.from({ length: 7 }, (_, i) => gaussian(50_001, 0.05 * (i + 1), next, 0.01 * i))
    const w = [1, 2, 3, 1, 2, 3, 4]
    const run = (backend: MergeBackend): Float32Array[] => {
      setMergeBackend(backend)
      try {
        return [weightedAverage(xs, w), varianceCorrectedAverage(xs, w)]
      } finally {
        setMergeBackend('wasm-simd')
      }
    }
    const [simdPlain, simdVc] = run('wasm-simd')
    const [jsPlain, jsVc] = run('js')
    for (let j = 0; j < xs[0]!.length; j++) {
      expect(Math.abs(simdPlain![j]! - jsPlain![j]!)).toBeLessThanOrEqual(2 * tolerance(xs, w, j))
      expect(Math.abs(simdVc![j]! - jsVc![j]!)).toBeLessThanOrEqual(1e-6)
    }
  })
})

describe('tensorKindFromName', () => {
  it('reads tfjs and Keras variable names', () => {
    expect(tensorKindFromName('dense_Dense1/kernel')).toBe('weight')
    expect(tensorKindFromName('conv2d_Conv2D1/kernel_1')).toBe('weight')
    expect(tensorKindFromName('lstm/recurrent_kernel')).toBe('weight')
    expect(tensorKindFromName('embedding/embeddings')).toBe('weight')
    expect(tensorKindFromName('dense_Dense1/bias')).toBe('bias')
    expect(tensorKindFromName('dense/bias:0')).toBe('bias')
    for (const v of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
      expect(tensorKindFromName(`batch_normalization_BatchNormalization1/${v}`)).toBe('norm')
    }
  })
})

describe('mergeModels', () => {
  const tensor = (name: string, kind: NamedTensor['kind'], data: number[]): NamedTensor =>
    ({ name, kind, shape: [data.length], data: Float32Array.from(data) })
  const model = (k: number[], b: number[], g: number[]): ModelSnapshot =>
    ({ tensors: [tensor('d/kernel', 'weight', k), tensor('d/bias', 'bias', b), tensor('bn/gamma', 'norm', g)] })

  it('corrects the variance of weights only; biases and norm statistics are averaged plainly', () => {
    const a = model([1, -1, 2, -2], [1, 3], [1, 2])
    const b = model([-2, 2, -1, 1], [3, 5], [3, 6])
    const merged = mergeModels([a, b], { rule: 'variance-corrected' })
    expect(merged.tensors.map(t => t.name)).toEqual(['d/kernel', 'd/bias', 'bn/gamma'])
    expect(Array.from(merged.tensors[1]!.data)).toEqual([2, 4])
    expect(Array.from(merged.tensors[2]!.data)).toEqual([2, 4])
    const kernel = merged.tensors[0]!.data
    expect(Array.from(kernel)).toEqual(Array.from(varianceCorrectedAverage([a.tensors[0]!.data, b.tensors[0]!.data])))
    expect(meanVar(kernel).variance).toBeCloseTo(2.5, 5)
    expect(merged.tensors[0]!.shape).toEqual([4])
    expect(merged.tensors[0]!.shape).not.toBe(a.tensors[0]!.shape)
  })

  it('applies plain, median and trimmed-mean rules to every tensor', () => {
    const ms = [model([1, 1, 1, 1], [1, 1], [1, 1]), model([2, 2, 2, 2], [2, 2], [2, 2]), model([90, 90, 90, 90], [90, 90], [90, 90])]
    expect(Array.from(mergeModels(ms, { rule: 'plain', weights: [1, 1, 0] }).tensors[1]!.data)).toEqual([1.5, 1.5])
    for (const t of mergeModels(ms, { rule: 'median' }).tensors) expect(Array.from(t.data).every(v => v === 2)).toBe(true)
    for (const t of mergeModels(ms, { rule: 'trimmed-mean', trim: 0.34 }).tensors) expect(Array.from(t.data).every(v => v === 2)).toBe(true)
  })

  it('refuses models whose tensors do not line up, naming the tensor', () => {
    const a = model([1, 2, 3, 4], [1, 2], [1, 2])
    const renamed: ModelSnapshot = { tensors: [tensor('other', 'weight', [1, 2, 3, 4]), ...a.tensors.slice(1)] }
    const reshaped: ModelSnapshot = { tensors: [{ ...a.tensors[0]!, shape: [2, 2] }, ...a.tensors.slice(1)] }
    const short: ModelSnapshot = { tensors: [tensor('d/kernel', 'weight', [1, 2, 3]), ...a.tensors.slice(1)] }
    expect(() => mergeModels([], { rule: 'plain' })).toThrow(MergeInputError)
    expect(() => mergeModels([a, renamed], { rule: 'plain' })).toThrow(/tensor 0 of model 1/)
    expect(() => mergeModels([a, reshaped], { rule: 'plain' })).toThrow(/"d\/kernel".*shape/)
    expect(() => mergeModels([a, { tensors: a.tensors.slice(1) }], { rule: 'plain' })).toThrow(MergeInputError)
    expect(() => mergeModels([a, short], { rule: 'plain' })).toThrow(/"d\/kernel"/)
    expect(() => mergeModels([a, a], { rule: 'plain', weights: [1] })).toThrow(MergeInputError)
  })
})
