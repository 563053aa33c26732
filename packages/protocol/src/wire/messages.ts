import { CID } from 'multiformats/cid'
import { MurmurError } from '../errors.js'
import { MessageTooLargeError, WireFormatError } from './errors.js'
import {
  MANIFEST_FORMAT, MAX_NAME_LENGTH, MAX_RANK, MAX_SHARD_SIZE, MAX_SHARDS, MAX_SIZES, MAX_TENSORS, isValidSessionId
} from './limits.js'
import {
  Encoding, HeadAnnouncement, MembershipGrant, ModelManifest, ShardRequest, ShardResponse, StateSyncMessage, TensorInfo
} from './murmur.js'
import type { MessageKind } from './limits.js'

const RAW_CODEC = 0x55
const SHA2_256 = 0x12
const MAX_UINT32 = 0xffff_ffff
const MAX_STATUS_MESSAGE = 1024
const MAX_ROLE_LENGTH = 32
const MAX_KEY_BYTES = 512

const ENCODINGS = new Set<string>(Object.values(Encoding).filter(v => typeof v === 'string'))
const KINDS = new Set<string>(Object.values(TensorInfo.Kind).filter(v => typeof v === 'string'))
const STATUSES = new Set<string>(Object.values(ShardResponse.Status).filter(v => typeof v === 'string'))
const REQUEST_KINDS = new Set<string>(Object.values(ShardRequest.Kind).filter(v => typeof v === 'string'))
/** A HAVE answer's bitfield: one bit per shard a manifest may list. */
const MAX_HAVE_BYTES = Math.ceil(MAX_SHARDS / 8)
const SYNC_TYPES = new Set<string>(Object.values(StateSyncMessage.Type).filter(v => typeof v === 'string'))

/** Fail with a `WireFormatError` naming the message type and the broken field. */
function fail (what: string, problem: string): never {
  throw new WireFormatError(`invalid ${what}: ${problem}`)
}

function checkCount (what: string, field: string, value: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    fail(what, `${field} must be an integer in [0, ${max}], got ${String(value)}`)
  }
}

function checkString (what: string, field: string, value: string, min: number, max: number): void {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    fail(what, `${field} must be a string of ${min}-${max} characters`)
  }
}

function checkBytes (what: string, field: string, value: Uint8Array, max: number): void {
  if (!(value instanceof Uint8Array) || value.byteLength > max) fail(what, `${field} must be at most ${max} bytes`)
}

function checkSession (what: string, session: string): void {
  if (!isValidSessionId(session)) fail(what, 'session must be 1-64 characters of A-Z a-z 0-9 . _ -')
}

/**
 * Parse the binary CID of a Murmur block: CIDv1, raw codec, sha2-256. Murmur names every
 * shard and manifest this way, so anything else is malformed rather than merely unknown.
 */
export function parseBlockCid (bytes: Uint8Array, field = 'cid'): CID {
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch (err) {
    throw new WireFormatError(`${field} is not a CID: ${(err as Error).message}`, { cause: err })
  }
  if (cid.version !== 1 || cid.code !== RAW_CODEC || cid.multihash.code !== SHA2_256 || cid.multihash.size !== 32) {
    throw new WireFormatError(`${field} ${cid.toString()} is not a CIDv1 raw sha2-256 block CID`)
  }
  return cid
}

/** The delta fields of a tensor: both present and consistent in a delta manifest, both absent otherwise. */
function validateTensorDelta (t: TensorInfo, what: string, delta: boolean): void {
  if (!delta) {
    if (t.nonzeros != null || t.indexBytes != null) fail(what, 'nonzeros and indexBytes belong to delta manifests (with a base) only')
    return
  }
  if (t.nonzeros == null || t.indexBytes == null) fail(what, 'a delta manifest needs nonzeros and indexBytes on every tensor')
  checkCount(what, 'nonzeros', t.nonzeros, t.elements)
  checkCount(what, 'indexBytes', t.indexBytes, t.length)
}

function validateTensor (t: TensorInfo, i: number, expectedOffset: number, delta = false): number {
  const what = `manifest tensor ${i}`
  checkString(what, 'name', t.name, 1, MAX_NAME_LENGTH)
  if (!KINDS.has(t.kind)) fail(what, `unknown kind ${String(t.kind)}`)
  if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK) fail(what, `shape must have at most ${MAX_RANK} dimensions`)
  let elements = 1
  for (const d of t.shape) {
    checkCount(what, 'shape entry', d, MAX_UINT32)
    elements *= d
  }
  if (!Number.isSafeInteger(elements) || elements !== t.elements) {
    fail(what, `elements ${String(t.elements)} is not the product of shape [${t.shape.join(', ')}]`)
  }
  checkCount(what, 'offset', t.offset)
  checkCount(what, 'length', t.length)
  if (t.offset !== expectedOffset) fail(what, `offset ${t.offset} should be ${expectedOffset}: tensors are stored back to back`)
  validateTensorDelta(t, what, delta)
  return t.offset + t.length
}

/**
 * Throw `WireFormatError` unless a manifest's fields agree with each other: format, sizes,
 * tensors stored back to back covering `totalBytes`, one valid CID per shard; in a delta
 * manifest (`base` set) a block CID as base and the delta fields on every tensor.
 */
export function validateManifest (m: ModelManifest): void {
  const what = 'manifest'
  if (m.format !== MANIFEST_FORMAT) fail(what, `unsupported format ${String(m.format)} (this peer reads ${MANIFEST_FORMAT})`)
  checkString(what, 'modelId', m.modelId, 0, MAX_NAME_LENGTH)
  checkString(what, 'author', m.author, 0, MAX_NAME_LENGTH)
  if (typeof m.architecture !== 'string') fail(what, 'architecture must be a string')
  if (!ENCODINGS.has(m.encoding)) fail(what, `unknown encoding ${String(m.encoding)}`)
  checkCount(what, 'chunkSize', m.chunkSize, MAX_UINT32)
  checkCount(what, 'shardSize', m.shardSize, MAX_SHARD_SIZE)
  if (m.shardSize === 0) fail(what, 'shardSize must be positive')
  checkCount(what, 'totalBytes', m.totalBytes)
  checkCount(what, 'version', m.version)
  checkCount(what, 'samples', m.samples)
  checkCount(what, 'createdAt', m.createdAt)
  if (!Array.isArray(m.tensors) || m.tensors.length > MAX_TENSORS) fail(what, `at most ${MAX_TENSORS} tensors`)
  const names = new Set<string>()
  let end = 0
  m.tensors.forEach((t, i) => {
    end = validateTensor(t, i, end, m.base != null)
    if (names.has(t.name)) fail(what, `duplicate tensor name ${JSON.stringify(t.name)}`)
    names.add(t.name)
  })
  if (end !== m.totalBytes) fail(what, `tensors cover ${end} bytes but totalBytes is ${m.totalBytes}`)
  const shardCount = Math.ceil(m.totalBytes / m.shardSize)
  if (!Array.isArray(m.shards) || m.shards.length !== shardCount) {
    fail(what, `${m.totalBytes} bytes in shards of ${m.shardSize} need ${shardCount} shard CIDs, got ${m.shards?.length}`)
  }
  m.shards.forEach((s, i) => parseBlockCid(s, `shard ${i}`))
  if (m.parent != null) parseBlockCid(m.parent, 'parent')
  if (m.base != null) parseBlockCid(m.base, 'base')
}

function validateShardRequest (m: ShardRequest): void {
  if (!REQUEST_KINDS.has(m.kind)) fail('shard request', `unknown kind ${String(m.kind)}`)
  parseBlockCid(m.cid)
}

function validateShardResponse (m: ShardResponse): void {
  const what = 'shard response'
  if (!STATUSES.has(m.status)) fail(what, `unknown status ${String(m.status)}`)
  checkBytes(what, 'data', m.data, MAX_SHARD_SIZE)
  if (m.status !== ShardResponse.Status.OK && m.data.byteLength > 0) fail(what, `status ${m.status} must carry no data`)
  checkString(what, 'message', m.message, 0, MAX_STATUS_MESSAGE)
  checkBytes(what, 'have', m.have, MAX_HAVE_BYTES)
  if (m.have.byteLength > 0 && (m.status !== ShardResponse.Status.OK || m.data.byteLength > 0)) fail(what, 'a HAVE bitfield comes alone, with status OK')
}

function validateHead (m: HeadAnnouncement): void {
  const what = 'head announcement'
  checkSession(what, m.session)
  checkString(what, 'peer', m.peer, 1, MAX_NAME_LENGTH)
  parseBlockCid(m.manifest, 'manifest')
  checkCount(what, 'version', m.version)
  checkCount(what, 'samples', m.samples)
  checkCount(what, 'timestamp', m.timestamp)
  if (!ENCODINGS.has(m.encoding)) fail(what, `unknown encoding ${String(m.encoding)}`)
  if (typeof m.loss !== 'number') fail(what, 'loss must be a number')
  if (typeof m.accuracy !== 'number' || m.accuracy < 0 || m.accuracy > 1) fail(what, 'accuracy must be NaN or in [0, 1]')
}

function validateStateSync (m: StateSyncMessage): void {
  const what = 'state sync message'
  if (!SYNC_TYPES.has(m.type)) fail(what, `unknown type ${String(m.type)}`)
  checkSession(what, m.session)
  checkBytes(what, 'payload', m.payload, MAX_SIZES.stateMessage)
}

function validateGrant (m: MembershipGrant): void {
  const what = 'membership grant'
  checkSession(what, m.session)
  checkString(what, 'peer', m.peer, 1, MAX_NAME_LENGTH)
  checkString(what, 'role', m.role, 1, MAX_ROLE_LENGTH)
  checkCount(what, 'expires', m.expires)
  checkBytes(what, 'signature', m.signature, MAX_KEY_BYTES)
  checkBytes(what, 'issuer', m.issuer, MAX_KEY_BYTES)
}

/** Run `fn`, turning any error that is not already a Murmur error into a `WireFormatError`. */
function guarded<T> (what: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof MurmurError) throw err
    throw new WireFormatError(`malformed ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
}

/** One message type: how to turn it into bytes and back, and what makes it valid. */
interface MessageType<T> {
  what: string
  kind: MessageKind
  encode(m: T): Uint8Array
  decode(bytes: Uint8Array): T
  validate(m: T): void
}

function encodeWith<T> (type: MessageType<T>, message: T): Uint8Array {
  return guarded(type.what, () => {
    type.validate(message)
    const bytes = type.encode(message)
    const limit = MAX_SIZES[type.kind]
    if (bytes.byteLength > limit) throw new MessageTooLargeError(type.what, bytes.byteLength, limit)
    return bytes
  })
}

function decodeWith<T> (type: MessageType<T>, bytes: Uint8Array): T {
  if (!(bytes instanceof Uint8Array)) throw new WireFormatError(`${type.what} must be a Uint8Array`)
  const limit = MAX_SIZES[type.kind]
  if (bytes.byteLength > limit) throw new MessageTooLargeError(type.what, bytes.byteLength, limit)
  return guarded(type.what, () => {
    const message = type.decode(bytes)
    type.validate(message)
    return message
  })
}

const MANIFEST: MessageType<ModelManifest> = {
  what: 'manifest',
  kind: 'manifest',
  encode: m => ModelManifest.encode(m),
  decode: b => ModelManifest.decode(b, { limits: { tensors: MAX_TENSORS, shards: MAX_SHARDS, tensors$: { shape: MAX_RANK } } }),
  validate: validateManifest
}
const SHARD_REQUEST: MessageType<ShardRequest> = {
  what: 'shard request', kind: 'shardRequest', encode: m => ShardRequest.encode(m), decode: b => ShardRequest.decode(b), validate: validateShardRequest
}
const SHARD_RESPONSE: MessageType<ShardResponse> = {
  what: 'shard response', kind: 'shardResponse', encode: m => ShardResponse.encode(m), decode: b => ShardResponse.decode(b), validate: validateShardResponse
}
const HEAD: MessageType<HeadAnnouncement> = {
  what: 'head announcement', kind: 'headAnnouncement', encode: m => HeadAnnouncement.encode(m), decode: b => HeadAnnouncement.decode(b), validate: validateHead
}
const STATE_SYNC: MessageType<StateSyncMessage> = {
  what: 'state sync message', kind: 'stateMessage', encode: m => StateSyncMessage.encode(m), decode: b => StateSyncMessage.decode(b), validate: validateStateSync
}
const GRANT: MessageType<MembershipGrant> = {
  what: 'membership grant', kind: 'membershipGrant', encode: m => MembershipGrant.encode(m), decode: b => MembershipGrant.decode(b), validate: validateGrant
}

/** Validate and encode a manifest; its block CID is `cidForBytes` of the result. */
export function encodeManifest (m: ModelManifest): Uint8Array { return encodeWith(MANIFEST, m) }
/** Decode a manifest block, enforcing `MAX_SIZES.manifest` and the layout rules. */
export function decodeManifest (bytes: Uint8Array): ModelManifest { return decodeWith(MANIFEST, bytes) }
/** Validate and encode a shard request (a BLOCK request unless `kind` says otherwise). */
export function encodeShardRequest (m: Omit<ShardRequest, 'kind'> & Partial<ShardRequest>): Uint8Array {
  return encodeWith(SHARD_REQUEST, { kind: ShardRequest.Kind.BLOCK, ...m })
}
/** Decode a shard request; its CID must be a block CID. */
export function decodeShardRequest (bytes: Uint8Array): ShardRequest { return decodeWith(SHARD_REQUEST, bytes) }
/** Validate and encode a shard response (`have` only in answers to HAVE). */
export function encodeShardResponse (m: Omit<ShardResponse, 'have'> & Partial<ShardResponse>): Uint8Array {
  return encodeWith(SHARD_RESPONSE, { have: new Uint8Array(), ...m })
}
/** Decode a shard response (`data` is not hash-checked here: see `verifyShard`). */
export function decodeShardResponse (bytes: Uint8Array): ShardResponse { return decodeWith(SHARD_RESPONSE, bytes) }
/** Validate and encode a head announcement. */
export function encodeHeadAnnouncement (m: HeadAnnouncement): Uint8Array { return encodeWith(HEAD, m) }
/** Decode a head announcement (the signer check is the caller's: it needs the pubsub message). */
export function decodeHeadAnnouncement (bytes: Uint8Array): HeadAnnouncement { return decodeWith(HEAD, bytes) }
/** Validate and encode a state sync message. */
export function encodeStateSyncMessage (m: StateSyncMessage): Uint8Array { return encodeWith(STATE_SYNC, m) }
/** Decode a state sync message (the Yjs payload itself is checked by the state layer). */
export function decodeStateSyncMessage (bytes: Uint8Array): StateSyncMessage { return decodeWith(STATE_SYNC, bytes) }
/** Validate and encode a membership grant. */
export function encodeMembershipGrant (m: MembershipGrant): Uint8Array { return encodeWith(GRANT, m) }
/** Decode a membership grant (the signature is verified by the session layer). */
export function decodeMembershipGrant (bytes: Uint8Array): MembershipGrant { return decodeWith(GRANT, bytes) }
