import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  CodecError, DEFAULT_INT8_CHUNK_SIZE, decodeValues, encodeValues, encodedByteLength, maxCodecError
} from '../src/learn/codec.js'
import type { ValueEncoding } from '../src/learn/codec.js'

const f16round = (Math as unknown as { f16round: (x: number) => number }).f16round

function bitsOf (a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length)
}

function stepFloat32 (x: number, by: number): number {
  const a = Float32Array.of(x)
  const bits = new Uint32Array(a.buffer)
  bits[0] = (bits[0] as number) + by
  return a[0] as number
}
const nextFloat32 = (x: number): number => stepFloat32(x, 1)
const previousFloat32 = (x: number): number => stepFloat32(x, -1)

function halfBits (x: number): number {
  return new DataView(encodeValues(Float32Array.of(x), 'fp16').buffer).getUint16(0, true)
}

function roundTrip (x: number, encoding: ValueEncoding = 'fp16'): number {
  return decodeValues(encodeValues(Float32Array.of(x), encoding), encoding, 1)[0] as number
}

const floats = fc.float32Array({ maxLength: 300 })
const finiteFloats = fc.float32Array({ maxLength: 300, noNaN: true, noDefaultInfinity: true })

describe('value codecs', () => {
  it('fp32 round-trips every float32 bit pattern exactly, NaN payloads included', () => {
    fc.assert(fc.property(floats, data => {
      const bytes = encodeValues(data, 'fp32')
      expect(bytes.byteLength).toBe(data.length * 4)
      expect(bitsOf(decodeValues(bytes, 'fp32', data.length))).toEqual(bitsOf(data))
    }))
  })

  it('fp32 is little-endian on the wire', () => {
    expect([...encodeValues(Float32Array.of(1), 'fp32')]).toEqual([0, 0, 0x80, 0x3f])
  })

  it('fp16 rounds to nearest even exactly like Math.f16round within range, and saturates beyond', () => {
    fc.assert(fc.property(floats, data => {
      const out = decodeValues(encodeValues(data, 'fp16'), 'fp16', data.length)
      data.forEach((x, i) => {
        const want = Number.isFinite(x) && Math.abs(x) > 65504 ? Math.sign(x) * 65504 : f16round(x)
        expect(Object.is(out[i], want)).toBe(true)
      })
    }), { numRuns: 200 })
  })

  it('fp16 stays within its stated bound (relative 2^-11 in the normal range)', () => {
    fc.assert(fc.property(finiteFloats, data => {
      const out = decodeValues(encodeValues(data, 'fp16'), 'fp16', data.length)
      let worst = 0
      data.forEach((x, i) => {
        const err = Math.abs((out[i] as number) - x)
        worst = Math.max(worst, err)
        const a = Math.abs(x)
        if (a >= 2 ** -14 && a <= 65504) expect(err).toBeLessThanOrEqual(a * 2 ** -11)
        if (a < 2 ** -14) expect(err).toBeLessThanOrEqual(2 ** -25)
      })
      expect(worst).toBeLessThanOrEqual(maxCodecError(data, 'fp16'))
    }))
  })

  it('fp16 maps every half value to itself and ties to the even neighbour', () => {
    const all = new Float32Array(65536)
    const view = new DataView(new ArrayBuffer(2))
    for (let h = 0; h < 65536; h++) {
      view.setUint16(0, h, true)
      all[h] = decodeValues(new Uint8Array(view.buffer.slice(0)), 'fp16', 1)[0] as number
    }
    const back = new DataView(encodeValues(all, 'fp16').buffer)
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0
      if (!isNaN) expect(back.getUint16(h * 2, true)).toBe(h)
    }
    // midpoints between consecutive positive finite halves (exact in float32) go to the even one
    for (let h = 0; h < 0x7bff; h += 97) {
      const mid = ((all[h] as number) + (all[h + 1] as number)) / 2
      expect(halfBits(mid)).toBe(h % 2 === 0 ? h : h + 1)
    }
  })

  it('fp16 special values', () => {
    expect(roundTrip(Infinity)).toBe(Infinity)
    expect(roundTrip(-Infinity)).toBe(-Infinity)
    expect(roundTrip(Number.NaN)).toBeNaN()
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
    expect(roundTrip(65504)).toBe(65504)
    expect(roundTrip(65519)).toBe(65504)
    expect(roundTrip(65520)).toBe(65504)
    expect(roundTrip(-1e30)).toBe(-65504)
    expect(roundTrip(3.4e38)).toBe(65504)
    expect(roundTrip(2 ** -24)).toBe(2 ** -24)
    expect(roundTrip(2 ** -25)).toBe(0)
    expect(roundTrip(1.5 * 2 ** -25)).toBe(2 ** -24)
    expect(roundTrip(3 * 2 ** -25)).toBe(2 ** -23)
    expect(roundTrip(1e-10)).toBe(0)
    expect(roundTrip(1e-40)).toBe(0)
    expect(roundTrip(2 ** -14)).toBe(2 ** -14)
    expect(halfBits(1)).toBe(0x3c00)
  })

  it('int8 stays within scale/2 per chunk for any chunk size', () => {
    fc.assert(fc.property(finiteFloats, fc.integer({ min: 1, max: 70 }), (data, chunkSize) => {
      const bytes = encodeValues(data, 'int8', { chunkSize })
      expect(bytes.byteLength).toBe(encodedByteLength(data.length, 'int8', { chunkSize }))
      const out = decodeValues(bytes, 'int8', data.length, { chunkSize })
      let worst = 0
      for (let start = 0; start < data.length; start += chunkSize) {
        const chunk = data.subarray(start, start + chunkSize)
        const maxAbs = chunk.reduce((m, x) => Math.max(m, Math.abs(x)), 0)
        const scale = new DataView(bytes.buffer).getFloat32(start + 4 * (start / chunkSize), true)
        // maxAbs / 127 as a float32, rounded up unless that would decode to Infinity
        const nearest = Math.fround(maxAbs / 127)
        expect([nearest, nextFloat32(nearest), previousFloat32(nearest)]).toContain(scale)
        expect(Number.isFinite(Math.fround(scale * 127))).toBe(true)
        if (maxAbs < 3e38) expect(scale * 127).toBeGreaterThanOrEqual(maxAbs)
        chunk.forEach((x, j) => {
          const err = Math.abs((out[start + j] as number) - x)
          worst = Math.max(worst, err)
          expect(err).toBeLessThanOrEqual(scale * (0.5 + 2 ** -15))
        })
      }
      expect(worst).toBeLessThanOrEqual(maxCodecError(data, 'int8', { chunkSize }))
    }))
  })

  it('int8 defaults to 65536-value chunks and handles zeros and a short last chunk', () => {
    expect(DEFAULT_INT8_CHUNK_SIZE).toBe(65536)
    expect(encodedByteLength(65537, 'int8')).toBe(65537 + 8)
    const zeros = new Float32Array(10)
    expect(decodeValues(encodeValues(zeros, 'int8'), 'int8', 10)).toEqual(zeros)
    const data = Float32Array.from({ length: 65537 }, (_, i) => (i % 7) - 3)
    const out = decodeValues(encodeValues(data, 'int8'), 'int8', data.length)
    expect(out[65536]).toBeCloseTo(data[65536] as number, 6)
    expect(Math.max(...out.map((x, i) => Math.abs(x - (data[i] as number))))).toBeLessThanOrEqual(maxCodecError(data, 'int8'))
  })

  it('int8 scales subnormal and near-maximal chunks without clipping or overflow', () => {
    for (const x of [1.4e-45, 3e-43, 1e-38, 3.4028234663852886e38, -3.4028234663852886e38].map(Math.fround)) {
      const data = Float32Array.of(x, x / 3, -x / 2)
      const out = decodeValues(encodeValues(data, 'int8'), 'int8', 3)
      expect(out.every(Number.isFinite)).toBe(true)
      out.forEach((y, i) => expect(Math.abs(y - (data[i] as number))).toBeLessThanOrEqual(maxCodecError(data, 'int8')))
      expect(Math.abs((out[0] as number) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -12)
    }
  })

  it('int8 refuses non-finite values', () => {
    expect(() => encodeValues(Float32Array.of(1, Number.NaN), 'int8')).toThrow(CodecError)
    expect(() => encodeValues(Float32Array.of(Infinity), 'int8')).toThrow(CodecError)
  })

  it('decoding bytes of the wrong length or with a bad scale gives a CodecError', () => {
    const encodings: ValueEncoding[] = ['fp32', 'fp16', 'int8']
    fc.assert(fc.property(fc.constantFrom(...encodings), fc.integer({ min: 0, max: 50 }), fc.integer({ min: -5, max: 5 }), (enc, n, delta) => {
      fc.pre(delta !== 0)
      const bytes = encodeValues(new Float32Array(n).fill(0.5), enc, { chunkSize: 8 })
      const wrong = new Uint8Array(Math.max(0, bytes.length + delta))
      fc.pre(wrong.length !== bytes.length)
      expect(() => decodeValues(wrong, enc, n, { chunkSize: 8 })).toThrow(CodecError)
    }))
    const nanScale = encodeValues(Float32Array.of(1, 2), 'int8')
    new DataView(nanScale.buffer).setFloat32(0, Number.NaN, true)
    expect(() => decodeValues(nanScale, 'int8', 2)).toThrow(CodecError)
    expect(() => decodeValues(new Uint8Array(4), 'fp32', -1)).toThrow(CodecError)
    expect(() => encodeValues(new Float32Array(2), 'int8', { chunkSize: 0 })).toThrow(CodecError)
    expect(() => encodeValues(new Float32Array(2), 'bf16' as ValueEncoding)).toThrow(CodecError)
  })

  it('encodes subarray views from their own offset', () => {
    const base = Float32Array.of(9, 1, 2, 3, 9)
    const view = base.subarray(1, 4)
    for (const enc of ['fp32', 'fp16', 'int8'] as const) {
      expect(Array.from(decodeValues(encodeValues(view, enc), enc, 3))).toEqual([expect.closeTo(1, 1), expect.closeTo(2, 1), expect.closeTo(3, 1)])
    }
  })
})
