import { DEFAULT_INT8_CHUNK_SIZE, decodeValues, encodeValues, encodedByteLength } from '../learn/codec.js'
import {
  Encoding, MANIFEST_FORMAT, MAX_NAME_LENGTH, MAX_RANK, MAX_SHARD_SIZE, MAX_TENSORS, TensorInfo, encodeManifest, parseBlockCid,
  validateManifest
} from '../wire/index.js'
import { cidForBytes, verifyShard } from './cid.js'
import { InvalidManifestError, InvalidModelContentError, InvalidShardError } from './errors.js'
import type { CodecOptions, ValueEncoding } from '../learn/codec.js'
import type { ModelSnapshot, NamedTensor, TensorKind } from '../learn/types.js'
import type { ModelManifest } from '../wire/index.js'
import type { CID } from 'multiformats/cid'

/** Default shard size: 256 KiB. */
export const DEFAULT_SHARD_SIZE = 256 * 1024

/** Options of `createModelContent`; every field lands in the manifest. */
export interface ModelContentOptions {
  /**
   * How values are stored.
   *
   * @default 'fp32'
   */
  encoding?: ValueEncoding
  /**
   * Values per int8 scale chunk (int8 only).
   *
   * @default 65536
   */
  chunkSize?: number
  /**
   * Bytes per shard (the last shard may be shorter), at most `MAX_SHARD_SIZE`.
   *
   * @default 262144
   */
  shardSize?: number
  /** The model's architecture as tfjs layers JSON. @default '' */
  architecture?: string
  /** @default '' */
  modelId?: string
  /** @default 0 */
  version?: number
  /** Manifest CID of the snapshot this one was trained or merged from. */
  parent?: CID
  /** Training samples behind this snapshot. @default 0 */
  samples?: number
  /** Author's peer id. @default '' */
  author?: string
  /** Milliseconds since the epoch. @default Date.now() */
  createdAt?: number
}

/** A model as content: the manifest block and the shard blocks it lists, each with its CID. */
export interface ModelContent {
  manifest: ModelManifest
  manifestBytes: Uint8Array
  manifestCid: CID
  shards: Array<{ cid: CID, bytes: Uint8Array }>
}

const TO_WIRE: Record<ValueEncoding, Encoding> = { fp32: Encoding.FP32, fp16: Encoding.FP16, int8: Encoding.INT8 }
const KIND_TO_WIRE: Record<TensorKind, TensorInfo.Kind> = {
  weight: TensorInfo.Kind.WEIGHT, bias: TensorInfo.Kind.BIAS, norm: TensorInfo.Kind.NORM
}

/** The wire enum for a value encoding name. */
export function toWireEncoding (encoding: ValueEncoding): Encoding {
  const wire = TO_WIRE[encoding]
  if (wire == null) throw new InvalidModelContentError(`unknown encoding ${JSON.stringify(encoding)}: use fp32, fp16 or int8`)
  return wire
}

/** The value encoding name for a wire enum. */
export function fromWireEncoding (encoding: Encoding): ValueEncoding {
  const name = (Object.keys(TO_WIRE) as ValueEncoding[]).find(k => TO_WIRE[k] === encoding)
  if (name == null) throw new InvalidManifestError(`unknown encoding ${String(encoding)}`)
  return name
}

/** The wire enum for a tensor kind (shared with delta content). */
export function toWireKind (kind: TensorKind): TensorInfo.Kind {
  return KIND_TO_WIRE[kind]
}

/** The tensor kind for a wire enum (shared with delta content). */
export function fromWireKind (kind: TensorInfo.Kind): TensorKind {
  const name = (Object.keys(KIND_TO_WIRE) as TensorKind[]).find(k => KIND_TO_WIRE[k] === kind)
  if (name == null) throw new InvalidManifestError(`unknown tensor kind ${String(kind)}`)
  return name
}

function checkCount (field: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (value != null && (!Number.isSafeInteger(value) || value < 0 || value > max)) {
    throw new InvalidModelContentError(`${field} must be an integer in [0, ${max}], got ${value}`)
  }
}

function checkTensor (t: NamedTensor, names: Set<string>): void {
  if (t == null || typeof t !== 'object') throw new InvalidModelContentError('every tensor must be an object')
  const what = `tensor ${JSON.stringify(String(t.name))}`
  if (typeof t.name !== 'string' || t.name.length === 0 || t.name.length > MAX_NAME_LENGTH) {
    throw new InvalidModelContentError(`${what}: name must be 1-${MAX_NAME_LENGTH} characters`)
  }
  if (names.has(t.name)) throw new InvalidModelContentError(`${what}: duplicate name`)
  names.add(t.name)
  if (KIND_TO_WIRE[t.kind] == null) throw new InvalidModelContentError(`${what}: kind must be weight, bias or norm`)
  if (!(t.data instanceof Float32Array)) throw new InvalidModelContentError(`${what}: data must be a Float32Array`)
  if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK) throw new InvalidModelContentError(`${what}: shape must have at most ${MAX_RANK} dimensions`)
  let elements = 1
  for (const d of t.shape) {
    checkCount(`${what} shape entry`, d, 0xffff_ffff)
    elements *= d
  }
  if (elements !== t.data.length) {
    throw new InvalidModelContentError(`${what}: shape [${t.shape.join(', ')}] holds ${elements} values but data has ${t.data.length}`)
  }
}

/**
 * Turn a snapshot into content-addressed blocks: each tensor encoded, all concatenated,
 * cut into fixed-size shards named by CID, and a manifest that lists them.
 */
export async function createModelContent (snapshot: ModelSnapshot, options: ModelContentOptions = {}): Promise<ModelContent> {
  const encoding = options.encoding ?? 'fp32'
  toWireEncoding(encoding) // refuses an unknown encoding before any work
  const chunkSize = options.chunkSize ?? DEFAULT_INT8_CHUNK_SIZE
  const shardSize = options.shardSize ?? DEFAULT_SHARD_SIZE
  checkCount('chunkSize', chunkSize, 0xffff_ffff)
  if (chunkSize === 0) throw new InvalidModelContentError('chunkSize must be positive')
  checkCount('shardSize', shardSize, MAX_SHARD_SIZE)
  if (shardSize === 0) throw new InvalidModelContentError('shardSize must be positive')
  for (const field of ['version', 'samples', 'createdAt'] as const) checkCount(field, options[field])
  if (!Array.isArray(snapshot?.tensors) || snapshot.tensors.length > MAX_TENSORS) {
    throw new InvalidModelContentError(`a snapshot holds an array of at most ${MAX_TENSORS} tensors`)
  }
  const names = new Set<string>()
  for (const t of snapshot.tensors) checkTensor(t, names)

  const codec: CodecOptions = { chunkSize }
  const encoded = snapshot.tensors.map(t => encodeValues(t.data, encoding, codec))
  const totalBytes = encoded.reduce((sum, e) => sum + e.byteLength, 0)
  const payload = new Uint8Array(totalBytes)
  const tensors: TensorInfo[] = []
  let offset = 0
  snapshot.tensors.forEach((t, i) => {
    const bytes = encoded[i] as Uint8Array
    payload.set(bytes, offset)
    tensors.push({ name: t.name, shape: [...t.shape], kind: KIND_TO_WIRE[t.kind], elements: t.data.length, offset, length: bytes.byteLength })
    offset += bytes.byteLength
  })

  return await sealContent(payload, tensors, { ...options, encoding, chunkSize, shardSize })
}

/**
 * Cut an encoded payload into shards of `shardSize` bytes (the last may be shorter), each
 * named by its CID, and write the manifest that lists them and `tensors`; a delta names its `base`.
 */
export async function sealContent (
  payload: Uint8Array,
  tensors: TensorInfo[],
  options: ModelContentOptions & { encoding: ValueEncoding, chunkSize: number, shardSize: number, base?: CID }
): Promise<ModelContent> {
  const { encoding, chunkSize, shardSize } = options
  const shards: ModelContent['shards'] = []
  for (let start = 0; start < payload.byteLength; start += shardSize) {
    const bytes = payload.subarray(start, Math.min(payload.byteLength, start + shardSize))
    shards.push({ cid: await cidForBytes(bytes), bytes })
  }
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    modelId: options.modelId ?? '',
    architecture: options.architecture ?? '',
    encoding: toWireEncoding(encoding),
    chunkSize: encoding === 'int8' ? chunkSize : 0,
    tensors,
    shardSize,
    totalBytes: payload.byteLength,
    shards: shards.map(s => s.cid.bytes),
    version: options.version ?? 0,
    samples: options.samples ?? 0,
    author: options.author ?? '',
    createdAt: options.createdAt ?? Date.now()
  }
  if (options.base != null) manifest.base = options.base.bytes
  if (options.parent != null) manifest.parent = options.parent.bytes
  const manifestBytes = encodeManifest(manifest)
  return { manifest, manifestBytes, manifestCid: await cidForBytes(manifestBytes), shards }
}

/**
 * The concatenated payload of a (validated) manifest's shards, each fetched with `getShard`
 * and checked against its CID and its expected length (`InvalidShardError` names a bad one).
 */
export async function assemblePayload (manifest: ModelManifest, getShard: (cid: CID) => Promise<Uint8Array>): Promise<Uint8Array> {
  const { shardSize, totalBytes } = manifest
  const payload = new Uint8Array(totalBytes)
  const cids = manifest.shards.map((bytes, i) => parseBlockCid(bytes, `shard ${i}`))
  for (let i = 0; i < cids.length; i++) {
    const cid = cids[i] as CID
    const bytes = await getShard(cid)
    await verifyShard(cid, bytes)
    const want = Math.min(shardSize, totalBytes - i * shardSize)
    if (bytes.byteLength !== want) throw new InvalidShardError(cid, `shard ${i} has ${bytes.byteLength} bytes, the manifest needs ${want}`)
    payload.set(bytes, i * shardSize)
  }
  return payload
}

/**
 * Rebuild a snapshot from a manifest, fetching each shard with `getShard`. Every shard is
 * hash- and length-checked (`InvalidShardError` names the bad one) and every tensor's byte
 * range must be what its encoding produces (`InvalidManifestError`).
 */
export async function rebuildSnapshot (manifest: ModelManifest, getShard: (cid: CID) => Promise<Uint8Array>): Promise<ModelSnapshot> {
  validateManifest(manifest)
  if (manifest.base != null) throw new InvalidManifestError('a delta manifest holds no whole model: apply it to its base (applyModelDelta)')
  const encoding = fromWireEncoding(manifest.encoding)
  const codec: CodecOptions = { chunkSize: manifest.chunkSize === 0 ? DEFAULT_INT8_CHUNK_SIZE : manifest.chunkSize }
  for (const t of manifest.tensors) {
    const expected = encodedByteLength(t.elements, encoding, codec)
    if (t.length !== expected) {
      throw new InvalidManifestError(`tensor ${JSON.stringify(t.name)} declares ${t.length} bytes; ${t.elements} ${encoding} values take ${expected}`)
    }
  }

  const payload = await assemblePayload(manifest, getShard)
  return {
    tensors: manifest.tensors.map(t => ({
      name: t.name,
      shape: [...t.shape],
      kind: fromWireKind(t.kind),
      data: decodeValues(payload.subarray(t.offset, t.offset + t.length), encoding, t.elements, codec)
    }))
  }
}
