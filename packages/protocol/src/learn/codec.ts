import { MurmurError } from '../errors.js'

/**
 * Byte encodings of one tensor's values, as stored in model shards.
 *
 * - `fp32`: IEEE binary32, little-endian. Exact.
 * - `fp16`: IEEE binary16, little-endian, round-to-nearest-even from the float32 value.
 *   Subnormal halves are produced and read; ±Inf stays ±Inf; NaN stays a (quiet) NaN.
 *   Finite values beyond ±65504 saturate to ±65504 instead of becoming ±Inf, so a large
 *   weight never turns into a value every merge must refuse.
 *   Error per value: ≤ |x|·2^-11 for 2^-14 ≤ |x| ≤ 65504 (relative 2^-11), ≤ 2^-25 below
 *   2^-14 (half the subnormal spacing), and |x| − 65504 beyond.
 * - `int8`: symmetric, per chunk of `chunkSize` values (the last chunk may be shorter):
 *   a float32 scale `s` = maxAbs / 127 rounded up to a float32 (little-endian), then one
 *   int8 per value, `q = round(x / s)` in [-127, 127]. Error per value ≤ s/2, plus
 *   float32 rounding of the decoded product: ≤ s·(1/2 + 2^-15) in all. Non-finite values
 *   cannot be encoded; a chunk of zeros has scale 0.
 */
export type ValueEncoding = 'fp32' | 'fp16' | 'int8'

/** Options of the value codecs. */
export interface CodecOptions {
  /**
   * Values per int8 chunk (each chunk has its own scale). Ignored by fp32 and fp16.
   *
   * @default 65536
   */
  chunkSize?: number
}

/** Default number of values sharing one int8 scale. */
export const DEFAULT_INT8_CHUNK_SIZE = 65_536

/** Every value encoding, in wire-enum order. */
export const VALUE_ENCODINGS: readonly ValueEncoding[] = ['fp32', 'fp16', 'int8']

/** Bytes, an encoding or a length that do not fit together; or values int8 cannot hold. */
export class CodecError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_CODEC')
    this.name = 'CodecError'
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const F16_MAX = 65504
const F16_MIN_NORMAL = 2 ** -14
/** Int8 error per unit of scale: half a step, plus float32 rounding of the decoded product. */
const INT8_ERROR = 0.5 + 2 ** -15

function checkEncoding (encoding: string): asserts encoding is ValueEncoding {
  if (!(VALUE_ENCODINGS as readonly string[]).includes(encoding)) {
    throw new CodecError(`unknown value encoding ${JSON.stringify(encoding)}: use fp32, fp16 or int8`)
  }
}

function chunkSizeOf (options?: CodecOptions): number {
  const size = options?.chunkSize ?? DEFAULT_INT8_CHUNK_SIZE
  if (!Number.isSafeInteger(size) || size < 1) throw new CodecError(`int8 chunkSize must be a positive integer, got ${size}`)
  return size
}

function checkLength (length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) throw new CodecError(`value count must be a non-negative integer, got ${length}`)
}

/** Bytes that `length` values take in `encoding`. */
export function encodedByteLength (length: number, encoding: ValueEncoding, options?: CodecOptions): number {
  checkLength(length)
  checkEncoding(encoding)
  if (encoding === 'fp32') return length * 4
  if (encoding === 'fp16') return length * 2
  return length + 4 * Math.ceil(length / chunkSizeOf(options))
}

/** Round a float32's bits to binary16 bits (nearest, ties to even; finite overflow saturates). */
function toHalf (bits: number): number {
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  const mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0)
  const e = exp - 127
  if (e > 15) return sign | 0x7bff
  if (e >= -14) {
    let h = ((e + 15) << 10) | (mant >>> 13)
    const rest = mant & 0x1fff
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++
    return sign | (h >= 0x7c00 ? 0x7bff : h)
  }
  if (e < -25) return sign
  // Subnormal half: k × 2^-24 with k = significand × 2^(e+1), rounded to nearest even.
  const significand = mant | 0x800000
  const shift = -e - 1
  let k = significand >>> shift
  const rest = significand & ((1 << shift) - 1)
  const halfway = 1 << (shift - 1)
  if (rest > halfway || (rest === halfway && (k & 1) === 1)) k++
  return sign | k
}

const scaleBits = new Float32Array(1)
const scaleWord = new Uint32Array(scaleBits.buffer)

/**
 * The float32 scale of an int8 chunk: maxAbs/127 rounded up to a float32, so that no value
 * quantises beyond ±127 (rounding down would clip the largest one, badly so for subnormals).
 */
function int8Scale (maxAbs: number): number {
  scaleBits[0] = maxAbs / 127
  if ((scaleBits[0] as number) * 127 < maxAbs) scaleWord[0] = (scaleWord[0] as number) + 1
  // Near float32's top, 127·s could decode to Infinity: step down (clipping by < 1 ulp).
  for (let i = 0; i < 8 && !Number.isFinite(Math.fround((scaleBits[0] as number) * 127)); i++) {
    scaleWord[0] = (scaleWord[0] as number) - 1
  }
  return scaleBits[0] as number
}

let halfTable: Float32Array | undefined

/** All 65536 binary16 values as float32, built on first use (256 KiB). */
function halves (): Float32Array {
  if (halfTable != null) return halfTable
  const table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) !== 0 ? -1 : 1
    const exp = (h >>> 10) & 0x1f
    const mant = h & 0x3ff
    if (exp === 0) table[h] = sign * mant * 2 ** -24
    else if (exp === 31) table[h] = mant !== 0 ? Number.NaN : sign * Infinity
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15)
  }
  halfTable = table
  return table
}

/** Encode a tensor's values; see `ValueEncoding` for each format and its error bound. */
export function encodeValues (data: Float32Array, encoding: ValueEncoding, options?: CodecOptions): Uint8Array {
  if (!(data instanceof Float32Array)) throw new CodecError('values must be a Float32Array')
  const out = new Uint8Array(encodedByteLength(data.length, encoding, options))
  const view = new DataView(out.buffer)
  const n = data.length
  if (encoding === 'fp32') {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    else for (let i = 0; i < n; i++) view.setFloat32(i * 4, data[i] as number, true)
  } else if (encoding === 'fp16') {
    const bits = new Uint32Array(data.buffer, data.byteOffset, n)
    for (let i = 0; i < n; i++) view.setUint16(i * 2, toHalf(bits[i] as number), true)
  } else {
    const chunk = chunkSizeOf(options)
    let pos = 0
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk)
      let maxAbs = 0
      for (let i = start; i < end; i++) {
        const x = data[i] as number
        if (!Number.isFinite(x)) throw new CodecError(`int8 cannot encode the non-finite value ${x} at index ${i}`)
        const a = Math.abs(x)
        if (a > maxAbs) maxAbs = a
      }
      const scale = int8Scale(maxAbs)
      view.setFloat32(pos, scale, true)
      pos += 4
      for (let i = start; i < end; i++) {
        const q = scale > 0 ? Math.round((data[i] as number) / scale) : 0
        view.setInt8(pos++, q > 127 ? 127 : q < -127 ? -127 : q)
      }
    }
  }
  return out
}

/** Decode `length` values from `bytes`; the byte count must match exactly. */
export function decodeValues (bytes: Uint8Array, encoding: ValueEncoding, length: number, options?: CodecOptions): Float32Array {
  if (!(bytes instanceof Uint8Array)) throw new CodecError('encoded values must be a Uint8Array')
  const expected = encodedByteLength(length, encoding, options)
  if (bytes.byteLength !== expected) {
    throw new CodecError(`${length} ${encoding} values take ${expected} bytes, got ${bytes.byteLength}`)
  }
  const out = new Float32Array(length)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (encoding === 'fp32') {
    if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes)
    else for (let i = 0; i < length; i++) out[i] = view.getFloat32(i * 4, true)
  } else if (encoding === 'fp16') {
    const table = halves()
    for (let i = 0; i < length; i++) out[i] = table[view.getUint16(i * 2, true)] as number
  } else {
    const chunk = chunkSizeOf(options)
    let pos = 0
    for (let start = 0; start < length; start += chunk) {
      const scale = view.getFloat32(pos, true)
      if (!Number.isFinite(scale) || scale < 0) throw new CodecError(`int8 chunk at byte ${pos} has invalid scale ${scale}`)
      pos += 4
      const end = Math.min(length, start + chunk)
      for (let i = start; i < end; i++) out[i] = view.getInt8(pos++) * scale
    }
  }
  return out
}

/**
 * An upper bound on `|decodeValues(encodeValues(data)) − data|` over the finite values of
 * `data` (non-finite values round-trip exactly in fp16 and cannot be encoded in int8).
 */
export function maxCodecError (data: Float32Array, encoding: ValueEncoding, options?: CodecOptions): number {
  checkEncoding(encoding)
  if (encoding === 'fp32') return 0
  let bound = 0
  if (encoding === 'fp16') {
    for (const x of data) {
      const a = Math.abs(x)
      if (!Number.isFinite(a)) continue
      const e = a > F16_MAX ? a - F16_MAX : a < F16_MIN_NORMAL ? 2 ** -25 : a * 2 ** -11
      if (e > bound) bound = e
    }
    return bound
  }
  const chunk = chunkSizeOf(options)
  for (let start = 0; start < data.length; start += chunk) {
    let maxAbs = 0
    for (let i = start; i < Math.min(data.length, start + chunk); i++) maxAbs = Math.max(maxAbs, Math.abs(data[i] as number))
    bound = Math.max(bound, int8Scale(maxAbs) * INT8_ERROR)
  }
  return bound
}
