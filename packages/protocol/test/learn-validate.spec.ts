import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { validateModel, InvalidModelError, MergeInputError } from '../src/learn/index.js'
import type { InvalidModelReason, ModelSnapshot, NamedTensor } from '../src/learn/index.js'

function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
}
/** A small dense net as a freshly initialised model would look: He-scaled kernels, zero or small biases. */
function model (seed: number, biasScale = 0): ModelSnapshot {
  const next = rng(seed)
  const t = (name: string, kind: NamedTensor['kind'], shape: number[], sd: number, mean = 0): NamedTensor => {
    const size = shape.reduce((a, b) => a * b, 1)
    return { name, kind, shape, data: Float32Array.from({ length: size }, () => mean + sd * (next() * 2 - 1) * Math.sqrt(3)) }
  }
  return {
    tensors: [
      t('dense_Dense1/kernel', 'weight', [20, 16], Math.sqrt(2 / 20)),
      t('dense_Dense1/bias', 'bias', [16], biasScale),
      t('bn/gamma', 'norm', [16], 0.01, 1),
      t('dense_Dense2/kernel', 'weight', [16, 4], Math.sqrt(2 / 16)),
      t('dense_Dense2/bias', 'bias', [4], biasScale)
    ]
  }
}
function withTensor (m: ModelSnapshot, index: number, change: (t: NamedTensor) => NamedTensor): ModelSnapshot {
  return { tensors: m.tensors.map((t, i) => i === index ? change(t) : t) }
}
function refusal (candidate: ModelSnapshot, reference: ModelSnapshot, options?: { maxNormRatio?: number }): InvalidModelError {
  try {
    validateModel(candidate, reference, options)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidModelError)
    expect((err as Error).name).toBe('InvalidModelError')
    return err as InvalidModelError
  }
  throw new Error('the model was accepted')
}

describe('validateModel', () => {
  it('accepts the reference itself and models initialised and trained apart', () => {
    const reference = model(1)
    validateModel(reference, reference)
    for (let seed = 2; seed < 12; seed++) validateModel(model(seed, 0.1), reference)
  })

  it('refuses NaN and ±Infinity anywhere, naming the tensor and the index', () => {
    const reference = model(1)
    fc.assert(fc.property(
      fc.integer({ min: 0, max: reference.tensors.length - 1 }).chain(t =>
        fc.tuple(fc.constant(t), fc.integer({ min: 0, max: reference.tensors[t]!.data.length - 1 }))),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
      ([t, at], bad) => {
        const candidate = withTensor(model(2), t, x => { const data = x.data.slice(); data[at] = bad; return { ...x, data } })
        const err = refusal(candidate, reference)
        expect(err.reason).toBe<InvalidModelReason>('non-finite')
        expect(err.tensor).toBe(reference.tensors[t]!.name)
        expect(err.message).toContain(`"${reference.tensors[t]!.name}"`)
        expect(err.message).toContain(`index ${at}`)
      }), { numRuns: 100 })
  })

  it('refuses wrong shapes, names, sizes and tensor lists', () => {
    const reference = model(1)
    const cases: Array<[ModelSnapshot, InvalidModelReason, string | undefined]> = [
      [withTensor(model(2), 0, t => ({ ...t, shape: [16, 20] })), 'shape', 'dense_Dense1/kernel'],
      [withTensor(model(2), 1, t => ({ ...t, data: t.data.subarray(1) })), 'shape', 'dense_Dense1/bias'],
      [withTensor(model(2), 3, t => ({ ...t, name: 'dense_Dense9/kernel' })), 'name', 'dense_Dense9/kernel'],
      [{ tensors: model(2).tensors.slice(1) }, 'structure', undefined],
      [{} as ModelSnapshot, 'structure', undefined]
    ]
    for (const [candidate, reason, tensor] of cases) {
      const err = refusal(candidate, reference)
      expect(err.reason).toBe(reason)
      expect(err.tensor).toBe(tensor)
    }
  })

  it('refuses a tensor scaled far beyond the reference, and accepts one within the limit', () => {
    const reference = model(1)
    const scaled = (factor: number): ModelSnapshot => withTensor(reference, 3, t => ({ ...t, data: t.data.map(v => v * factor) }))
    const err = refusal(scaled(1000), reference)
    expect(err.reason).toBe<InvalidModelReason>('outlier')
    expect(err.tensor).toBe('dense_Dense2/kernel')
    validateModel(scaled(5), reference)
    expect(refusal(scaled(5), reference, { maxNormRatio: 2 }).reason).toBe('outlier')
  })

  it('judges zero-initialised biases by the model scale, and every tensor when the reference is all zeros', () => {
    const reference = model(1)
    validateModel(model(2, 0.2), reference)
    const biasBlowUp = withTensor(reference, 1, t => ({ ...t, data: t.data.map(() => 100) }))
    expect(refusal(biasBlowUp, reference).tensor).toBe('dense_Dense1/bias')
    const zeros: ModelSnapshot = { tensors: reference.tensors.map(t => ({ ...t, data: new Float32Array(t.data.length) })) }
    validateModel(model(2), zeros)
  })

  it('refuses a bad limit', () => {
    expect(() => validateModel(model(1), model(1), { maxNormRatio: 0 })).toThrow(MergeInputError)
  })
})
