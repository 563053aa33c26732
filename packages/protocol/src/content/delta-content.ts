import { decodeValues, encodeValues, encodedByteLength } from '../learn/codec.js'
import { InvalidSparseDeltaError } from '../learn/errors.js'
import { applySparse } from '../learn/topk.js'
import { MAX_SHARD_SIZE, validateManifest, WireFormatError } from '../wire/index.js'
import { InvalidModelContentError } from './errors.js'
import { DEFAULT_SHARD_SIZE, assemblePayload, fromWireEncoding, fromWireKind, sealContent, toWireEncoding, toWireKind } from './model-content.js'
import type { ModelContent, ModelContentOptions } from './model-content.js'
import type { CodecOptions, ValueEncoding } from '../learn/codec.js'
import type { ModelSnapshot, SparseDelta, TensorKind } from '../learn/types.js'
import type { ModelManifest, TensorInfo } from '../wire/index.js'
import type { CID } from 'multiformats/cid'

/**
 * Values per int8 scale chunk in a delta. Far smaller than a dense model's default: the
 * values a top-k delta sends span a wide range, and one scale for all of them would round
 * the smaller ones away (4 bytes of scale per 256 values costs 1.6 %).
 */
export const DEFAULT_DELTA_CHUNK_SIZE = 256

/** A varint of an index below 2^32 never takes more than 5 bytes. */
const MAX_VARINT_BYTES = 5

/** One tensor's part of a model delta: sparse additions to the base tensor of the same name. */
export interface TensorDelta {
  name: string
  shape: number[]
  kind: TensorKind
  sparse: SparseDelta
}

/** A model delta: one sparse addition per tensor of the base model, in the model's order. */
export interface ModelDelta {
  tensors: TensorDelta[]
}

/** Options of `createDeltaContent`: those of a full model, plus the base the delta applies to. */
export interface DeltaContentOptions extends Omit<ModelContentOptions, 'chunkSize'> {
  /** Manifest CID (full or delta) of the model this delta is added to. */
  base: CID
  /**
   * Values per int8 scale chunk (int8 only).
   *
   * @default 256
   */
  chunkSize?: number
}

/**
 * A delta that cannot be applied: its indices are out of order or out of range, its byte
 * layout is not what its encoding produces, or its tensors do not match the base model's.
 * Nothing was changed.
 */
export class InvalidDeltaError extends WireFormatError {
  constructor (message: string, options?: ErrorOptions) {
    super(`invalid model delta: ${message}`, options, 'ERR_INVALID_DELTA')
    this.name = 'InvalidDeltaError'
  }
}

/**
 * A delta chain that does not lead to a model this peer holds: the base is neither cached
 * nor reachable through at most the allowed number of deltas back to a checkpoint or
 * keyframe. Nothing was changed.
 */
export class UnknownDeltaBaseError extends WireFormatError {
  /** The base the chain needed (string form of the CID). */
  readonly base: string

  constructor (base: string, problem: string) {
    super(`unknown delta base ${base}: ${problem}`, undefined, 'ERR_UNKNOWN_DELTA_BASE')
    this.name = 'UnknownDeltaBaseError'
    this.base = base
  }
}

/** True for a delta manifest: one that names the base it applies to. */
export function isDeltaManifest (manifest: ModelManifest): boolean {
  return manifest.base != null
}

/** Unsigned LEB128 of gap-coded indices: the first index, then each gap minus one. */
function encodeIndices (indices: Uint32Array): Uint8Array {
  const out = new Uint8Array(indices.length * MAX_VARINT_BYTES)
  let pos = 0
  let previous = -1
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!
    let v = index - previous - 1
    previous = index
    while (v >= 0x80) {
      out[pos++] = (v & 0x7f) | 0x80
      v = Math.floor(v / 128)
    }
    out[pos++] = v
  }
  return out.slice(0, pos)
}

/** Inverse of `encodeIndices`; every byte must belong to exactly `count` indices below `length`. */
function decodeIndices (bytes: Uint8Array, count: number, length: number, tensor: string): Uint32Array {
  const out = new Uint32Array(count)
  let pos = 0
  let previous = -1
  for (let i = 0; i < count; i++) {
    let gap = 0
    let scale = 1
    for (let b = 0; ; b++) {
      if (pos >= bytes.byteLength) throw new InvalidDeltaError(`tensor ${JSON.stringify(tensor)}: indices end after ${i} of ${count}`)
      if (b === MAX_VARINT_BYTES) throw new InvalidDeltaError(`tensor ${JSON.stringify(tensor)}: index ${i} is a varint over ${MAX_VARINT_BYTES} bytes`)
      const byte = bytes[pos++]!
      gap += (byte & 0x7f) * scale
      scale *= 128
      if ((byte & 0x80) === 0) break
    }
    const index = previous + 1 + gap
    if (index >= length) throw new InvalidDeltaError(`tensor ${JSON.stringify(tensor)}: index ${index} is out of range (length ${length})`)
    out[i] = index
    previous = index
  }
  if (pos !== bytes.byteLength) throw new InvalidDeltaError(`tensor ${JSON.stringify(tensor)}: ${bytes.byteLength - pos} bytes follow the last index`)
  return out
}

function checkSparse (t: TensorDelta): void {
  const what = `tensor ${JSON.stringify(String(t?.name))}`
  if (t == null || typeof t.name !== 'string' || !Array.isArray(t.shape)) throw new InvalidModelContentError(`${what}: a delta tensor needs a name and a shape`)
  const elements = t.shape.reduce((a, b) => a * b, 1)
  if (t.sparse?.length !== elements) throw new InvalidModelContentError(`${what}: the sparse delta is for ${String(t.sparse?.length)} values, the shape holds ${elements}`)
  // applySparse checks order, range and finiteness whole, on a scratch tensor.
  try {
    applySparse(new Float32Array(elements), t.sparse)
  } catch (err) {
    throw new InvalidModelContentError(`${what}: ${(err as Error).message}`)
  }
}

/**
 * Turn a model delta into content-addressed blocks: per tensor the gap-coded indices then the
 * values in `encoding`, concatenated and cut into shards, and a delta manifest naming `base`.
 * Receivers apply exactly the values `rebuildModelDelta` decodes, so a publisher that wants
 * to hold what they hold applies its own content the same way.
 */
export async function createDeltaContent (delta: ModelDelta, options: DeltaContentOptions): Promise<ModelContent> {
  const encoding = options.encoding ?? 'fp32'
  toWireEncoding(encoding) // refuses an unknown encoding before any work
  const chunkSize = options.chunkSize ?? DEFAULT_DELTA_CHUNK_SIZE
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > 0xffff_ffff) throw new InvalidModelContentError('chunkSize must be a positive 32-bit integer')
  if (!Number.isSafeInteger(shardSize) || shardSize < 1 || shardSize > MAX_SHARD_SIZE) throw new InvalidModelContentError(`shardSize must be an integer in [1, ${MAX_SHARD_SIZE}]`)
  if (options.base == null) throw new InvalidModelContentError('a delta needs the CID of its base')
  if (!Array.isArray(delta?.tensors)) throw new InvalidModelContentError('a model delta holds an array of tensors')
  for (const t of delta.tensors) checkSparse(t)

  const codec: CodecOptions = { chunkSize }
  const parts = delta.tensors.map(t => [encodeIndices(t.sparse.indices), encodeValues(t.sparse.values, encoding, codec)] as const)
  const totalBytes = parts.reduce((sum, [i, v]) => sum + i.byteLength + v.byteLength, 0)
  const payload = new Uint8Array(totalBytes)
  const tensors: TensorInfo[] = []
  let offset = 0
  delta.tensors.forEach((t, k) => {
    const [indices, values] = parts[k]!
    payload.set(indices, offset)
    payload.set(values, offset + indices.byteLength)
    const length = indices.byteLength + values.byteLength
    tensors.push({
      name: t.name, shape: [...t.shape], kind: toWireKind(t.kind), elements: t.sparse.length, offset, length, nonzeros: t.sparse.indices.length, indexBytes: indices.byteLength
    })
    offset += length
  })
  return await sealContent(payload, tensors, { ...options, encoding, chunkSize, shardSize })
}

/**
 * Decode a delta manifest's tensors, fetching each shard with `getShard` (hash- and
 * length-checked). Throws `InvalidDeltaError` for a layout its encoding would not produce
 * or indices that are not strictly increasing within the tensor.
 */
export async function rebuildModelDelta (manifest: ModelManifest, getShard: (cid: CID) => Promise<Uint8Array>): Promise<ModelDelta> {
  validateManifest(manifest)
  if (manifest.base == null) throw new InvalidDeltaError('the manifest names no base: it is a full model (rebuildSnapshot)')
  const encoding: ValueEncoding = fromWireEncoding(manifest.encoding)
  const codec: CodecOptions = { chunkSize: manifest.chunkSize === 0 ? DEFAULT_DELTA_CHUNK_SIZE : manifest.chunkSize }
  for (const t of manifest.tensors) {
    const valueBytes = encodedByteLength(t.nonzeros ?? 0, encoding, codec)
    const indexBytes = t.indexBytes ?? 0
    if (t.length !== indexBytes + valueBytes || indexBytes < (t.nonzeros ?? 0) || indexBytes > (t.nonzeros ?? 0) * MAX_VARINT_BYTES) {
      throw new InvalidDeltaError(`tensor ${JSON.stringify(t.name)} declares ${t.length} bytes with ${indexBytes} of indices; ${t.nonzeros ?? 0} ${encoding} values do not fit that`)
    }
  }
  const payload = await assemblePayload(manifest, getShard)
  return {
    tensors: manifest.tensors.map(t => {
      const nonzeros = t.nonzeros ?? 0
      const split = t.offset + (t.indexBytes ?? 0)
      const indices = decodeIndices(payload.subarray(t.offset, split), nonzeros, t.elements, t.name)
      let values: Float32Array
      try {
        values = decodeValues(payload.subarray(split, t.offset + t.length), encoding, nonzeros, codec)
      } catch (err) {
        throw new InvalidDeltaError(`tensor ${JSON.stringify(t.name)}: ${(err as Error).message}`, { cause: err })
      }
      return { name: t.name, shape: [...t.shape], kind: fromWireKind(t.kind), sparse: { indices, values, length: t.elements } }
    })
  }
}

/**
 * `base + delta` as a new snapshot (`base` is not modified). The delta must have the base's
 * tensors in the base's order with equal shapes and kinds, and every sparse part must be
 * valid (`InvalidDeltaError` otherwise); it is checked whole before anything is returned.
 */
export function applyModelDelta (base: ModelSnapshot, delta: ModelDelta): ModelSnapshot {
  if (base.tensors.length !== delta.tensors.length) {
    throw new InvalidDeltaError(`the delta has ${delta.tensors.length} tensors, its base ${base.tensors.length}`)
  }
  return {
    tensors: base.tensors.map((t, i) => {
      const d = delta.tensors[i]!
      if (d.name !== t.name || d.kind !== t.kind || d.shape.length !== t.shape.length || d.shape.some((s, k) => s !== t.shape[k])) {
        throw new InvalidDeltaError(`tensor ${i} is ${JSON.stringify(d.name)} [${d.shape.join(', ')}] ${d.kind} in the delta but ${JSON.stringify(t.name)} [${t.shape.join(', ')}] ${t.kind} in its base`)
      }
      try {
        return { name: t.name, shape: [...t.shape], kind: t.kind, data: applySparse(t.data.slice(), d.sparse) }
      } catch (err) {
        if (err instanceof InvalidSparseDeltaError) throw new InvalidDeltaError(`tensor ${JSON.stringify(t.name)}: ${err.message}`, { cause: err })
        throw err
      }
    })
  }
}
