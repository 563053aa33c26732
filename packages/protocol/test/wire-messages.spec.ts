import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { MurmurError } from '../src/errors.js'
import {
  Encoding, HeadAnnouncement, MAX_RANK, MAX_SIZES, MAX_TENSORS, MembershipGrant, MessageTooLargeError, ModelManifest,
  ShardRequest, ShardResponse, StateSyncMessage, TensorInfo, WireFormatError,
  decodeHeadAnnouncement, decodeManifest, decodeMembershipGrant, decodeShardRequest, decodeShardResponse,
  decodeStateSyncMessage, encodeHeadAnnouncement, encodeManifest, encodeMembershipGrant, encodeShardRequest,
  encodeShardResponse, encodeStateSyncMessage, parseBlockCid
} from '../src/wire/index.js'

const blockCid = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(d => CID.createV1(0x55, Digest.create(0x12, d)).bytes)
const sessionId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const name = fc.string({ minLength: 1, maxLength: 40 })
const encoding = fc.constantFrom(Encoding.FP32, Encoding.FP16, Encoding.INT8)

const manifest: fc.Arbitrary<ModelManifest> = fc.record({
  tensors: fc.uniqueArray(fc.record({
    name,
    shape: fc.array(fc.nat({ max: 6 }), { maxLength: MAX_RANK }),
    kind: fc.constantFrom(TensorInfo.Kind.WEIGHT, TensorInfo.Kind.BIAS, TensorInfo.Kind.NORM),
    length: fc.nat({ max: 3000 })
  }), { maxLength: 8, selector: t => t.name }),
  shardSize: fc.integer({ min: 64, max: 4096 }),
  rest: fc.record({
    modelId: fc.string({ maxLength: 30 }),
    architecture: fc.string({ maxLength: 200 }),
    encoding,
    chunkSize: fc.nat({ max: 100_000 }),
    version: count,
    samples: count,
    author: fc.string({ maxLength: 60 }),
    createdAt: count
  }),
  parent: fc.option(blockCid, { nil: undefined }),
  digests: fc.array(blockCid, { minLength: 400, maxLength: 400 })
}).map(({ tensors, shardSize, rest, parent, digests }) => {
  let offset = 0
  const infos = tensors.map(t => {
    const info = { ...t, elements: t.shape.reduce((a, b) => a * b, 1), offset }
    offset += t.length
    return info
  })
  const shardCount = Math.ceil(offset / shardSize)
  const m: ModelManifest = { format: 1, ...rest, tensors: infos, shardSize, totalBytes: offset, shards: digests.slice(0, shardCount) }
  if (parent != null) m.parent = parent
  return m
})

const shardRequest: fc.Arbitrary<ShardRequest> = fc.record({ cid: blockCid, kind: fc.constantFrom(ShardRequest.Kind.BLOCK, ShardRequest.Kind.HAVE) })
const noBytes = fc.constant(new Uint8Array())
const shardResponse: fc.Arbitrary<ShardResponse> = fc.oneof(
  fc.record({ status: fc.constant(ShardResponse.Status.OK), data: fc.uint8Array({ maxLength: 2000 }), message: fc.constant(''), have: noBytes }),
  fc.record({ status: fc.constant(ShardResponse.Status.OK), data: noBytes, message: fc.constant(''), have: fc.uint8Array({ minLength: 1, maxLength: 8192 }) }),
  fc.record({
    status: fc.constantFrom(ShardResponse.Status.NOT_FOUND, ShardResponse.Status.BUSY, ShardResponse.Status.ERROR, ShardResponse.Status.FORBIDDEN),
    data: noBytes,
    message: fc.string({ maxLength: 100 }),
    have: noBytes
  })
)
const head: fc.Arbitrary<HeadAnnouncement> = fc.record({
  session: sessionId,
  peer: name,
  manifest: blockCid,
  version: count,
  samples: count,
  encoding,
  timestamp: count,
  // proto3 does not write zero, so -0 comes back as 0
  loss: fc.double().map(x => x === 0 ? 0 : x),
  accuracy: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }).map(x => x === 0 ? 0 : x), fc.constant(Number.NaN))
})
const stateMessage: fc.Arbitrary<StateSyncMessage> = fc.record({
  type: fc.constantFrom(StateSyncMessage.Type.STATE_VECTOR, StateSyncMessage.Type.UPDATE, StateSyncMessage.Type.AWARENESS),
  session: sessionId,
  payload: fc.uint8Array({ maxLength: 3000 })
})
const grant: fc.Arbitrary<MembershipGrant> = fc.record({
  session: sessionId,
  peer: name,
  role: fc.constantFrom('trainer', 'observer', 'relay'),
  expires: count,
  signature: fc.uint8Array({ maxLength: 128 }),
  issuer: fc.uint8Array({ maxLength: 64 })
})

interface Case<T> { name: string, arb: fc.Arbitrary<T>, encode: (m: T) => Uint8Array, decode: (b: Uint8Array) => T, limit: number }
function kase<T> (c: Case<T>): Case<unknown> { return c as unknown as Case<unknown> }

const CASES: Array<Case<unknown>> = [
  kase({ name: 'ModelManifest', arb: manifest, encode: encodeManifest, decode: decodeManifest, limit: MAX_SIZES.manifest }),
  kase({ name: 'ShardRequest', arb: shardRequest, encode: encodeShardRequest, decode: decodeShardRequest, limit: MAX_SIZES.shardRequest }),
  kase({ name: 'ShardResponse', arb: shardResponse, encode: encodeShardResponse, decode: decodeShardResponse, limit: MAX_SIZES.shardResponse }),
  kase({ name: 'HeadAnnouncement', arb: head, encode: encodeHeadAnnouncement, decode: decodeHeadAnnouncement, limit: MAX_SIZES.headAnnouncement }),
  kase({ name: 'StateSyncMessage', arb: stateMessage, encode: encodeStateSyncMessage, decode: decodeStateSyncMessage, limit: MAX_SIZES.stateMessage }),
  kase({ name: 'MembershipGrant', arb: grant, encode: encodeMembershipGrant, decode: decodeMembershipGrant, limit: MAX_SIZES.membershipGrant })
]

/** A decoder's only allowed outcomes: a message we would send ourselves, or a WireFormatError. */
function decodesSafely (c: Case<unknown>, bytes: Uint8Array): void {
  let decoded: unknown
  try {
    decoded = c.decode(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(WireFormatError)
    expect(err).toBeInstanceOf(MurmurError)
    expect((err as MurmurError).code).toMatch(/^ERR_(WIRE_FORMAT|MESSAGE_TOO_LARGE)$/)
    return
  }
  expect(() => c.encode(decoded)).not.toThrow()
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) })
)

function mutate (bytes: Uint8Array, muts: Array<{ op: 'truncate' | 'flip' | 'insert', at: number, byte: number }>): Uint8Array {
  let out = bytes.slice()
  for (const m of muts) {
    const at = out.length === 0 ? 0 : m.at % (out.length + (m.op === 'insert' ? 1 : 0))
    if (m.op === 'truncate') out = out.slice(0, at)
    else if (m.op === 'flip' && out.length > 0) out[at] = (out[at] as number) ^ m.byte
    else if (m.op === 'insert') out = Uint8Array.from([...out.subarray(0, at), m.byte, ...out.subarray(at)])
  }
  return out
}

describe.each(CASES)('wire $name', (c) => {
  it('round-trips through encode and the safe decoder', () => {
    fc.assert(fc.property(c.arb, m => {
      const bytes = c.encode(m)
      expect(bytes.byteLength).toBeLessThanOrEqual(c.limit)
      expect(c.decode(bytes)).toEqual(m)
    }), { numRuns: 60 })
  })

  it('turns random bytes into a valid message or a WireFormatError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: Math.min(c.limit, 600) }), bytes => decodesSafely(c, bytes)), { numRuns: 400 })
  })

  it('turns truncated and mutated valid messages into a valid message or a WireFormatError', () => {
    fc.assert(fc.property(c.arb, fc.array(mutation, { minLength: 1, maxLength: 4 }), (m, muts) => {
      decodesSafely(c, mutate(c.encode(m), muts))
    }), { numRuns: 300 })
  })

  it('refuses an oversize message before decoding it', () => {
    fc.assert(fc.property(c.arb, m => {
      // A valid message padded with an unknown field: would decode fine, but is too big.
      const valid = c.encode(m)
      const padding = c.limit + 1 - valid.length
      const field = [0xfa, 0x3f] // field 1023, wire type 2
      const len: number[] = []
      for (let n = padding; ; n >>>= 7) {
        len.push(n > 0x7f ? (n & 0x7f) | 0x80 : n)
        if (n <= 0x7f) break
      }
      const bytes = new Uint8Array(valid.length + field.length + len.length + padding)
      bytes.set(valid)
      bytes.set([...field, ...len], valid.length)
      const err = (() => { try { c.decode(bytes) } catch (e) { return e } })()
      expect(err).toBeInstanceOf(MessageTooLargeError)
      expect((err as MurmurError).code).toBe('ERR_MESSAGE_TOO_LARGE')
    }), { numRuns: 5 })
    // bytes protons would choke on still get the size error: the limit is checked first
    expect(() => c.decode(new Uint8Array(c.limit + 1).fill(0xff))).toThrow(MessageTooLargeError)
  })
})

describe('wire semantic checks', () => {
  const cid = CID.createV1(0x55, Digest.create(0x12, new Uint8Array(32).fill(7)))
  const base: ModelManifest = {
    format: 1, modelId: 'm', architecture: '{}', encoding: Encoding.FP32, chunkSize: 0,
    tensors: [
      { name: 'w', shape: [2, 3], kind: TensorInfo.Kind.WEIGHT, elements: 6, offset: 0, length: 24 },
      { name: 'b', shape: [3], kind: TensorInfo.Kind.BIAS, elements: 3, offset: 24, length: 12 }
    ],
    shardSize: 16, totalBytes: 36, shards: [cid.bytes, cid.bytes, cid.bytes], version: 1, samples: 10, author: 'p', createdAt: 5
  }
  const raw = (m: Partial<ModelManifest>): Uint8Array => ModelManifest.encode({ ...base, ...m })
  const bad: Array<[string, Partial<ModelManifest>]> = [
    ['an unknown format', { format: 2 }],
    ['a gap between tensors', { tensors: [base.tensors[0] as TensorInfo, { ...base.tensors[1] as TensorInfo, offset: 25 }] }],
    ['elements that are not the shape product', { tensors: [{ ...base.tensors[0] as TensorInfo, elements: 5 }, base.tensors[1] as TensorInfo] }],
    ['duplicate tensor names', { tensors: [base.tensors[0] as TensorInfo, { ...base.tensors[1] as TensorInfo, name: 'w' }] }],
    ['an empty tensor name', { tensors: [{ ...base.tensors[0] as TensorInfo, name: '' }, base.tensors[1] as TensorInfo] }],
    ['totalBytes beyond the tensors', { totalBytes: 40 }],
    ['too few shards', { shards: [cid.bytes, cid.bytes] }],
    ['a zero shard size', { shardSize: 0 }],
    ['a shard size over the limit', { shardSize: 2 * 1024 * 1024, shards: [cid.bytes] }],
    ['a shard that is not a CID', { shards: [cid.bytes, new Uint8Array([1, 2, 3]), cid.bytes] }],
    ['a CIDv0 shard', { shards: [cid.bytes, CID.createV0(Digest.create(0x12, new Uint8Array(32))).bytes, cid.bytes] }],
    ['a dag-cbor shard', { shards: [cid.bytes, CID.createV1(0x71, cid.multihash).bytes, cid.bytes] }],
    ['a parent that is not a CID', { parent: new Uint8Array([0x01, 0x55]) }]
  ]

  it('accepts a consistent manifest', () => {
    expect(decodeManifest(raw({}))).toEqual(base)
  })

  it.each(bad)('refuses a manifest with %s', (_, change) => {
    expect(() => decodeManifest(raw(change))).toThrow(WireFormatError)
    expect(() => encodeManifest({ ...base, ...change })).toThrow(WireFormatError)
  })

  it('refuses uint64 values beyond 2^53 - 1', () => {
    // field 10 (version) again, as the varint 2^60: the last occurrence wins
    expect(() => decodeManifest(Uint8Array.from([...raw({}), 0x50, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]))).toThrow(WireFormatError)
    expect(() => encodeManifest({ ...base, version: 2 ** 60 })).toThrow(WireFormatError)
    expect(() => encodeManifest({ ...base, samples: -1 })).toThrow(WireFormatError)
  })

  it('refuses unknown enum values', () => {
    // field 4 (encoding), varint 9: no such Encoding
    expect(() => decodeManifest(Uint8Array.from([...raw({}), 0x20, 0x09]))).toThrow(WireFormatError)
    expect(() => decodeShardResponse(Uint8Array.from([0x08, 0x07]))).toThrow(WireFormatError)
    expect(() => decodeStateSyncMessage(Uint8Array.from([0x08, 0x05, 0x12, 0x01, 0x61]))).toThrow(WireFormatError)
  })

  it('applies protons repeated-field limits (rank and tensor count)', () => {
    const deep = { ...base, tensors: [{ ...base.tensors[0] as TensorInfo, shape: new Array(MAX_RANK + 1).fill(1), elements: 1, length: 36 }] }
    expect(() => decodeManifest(ModelManifest.encode(deep))).toThrow(/too many elements/)
    const many = Array.from({ length: MAX_TENSORS + 1 }, (_, i) => ({ name: `t${i}`, shape: [0], kind: TensorInfo.Kind.WEIGHT, elements: 0, offset: 0, length: 0 }))
    const bytes = ModelManifest.encode({ ...base, tensors: many, totalBytes: 0, shards: [] })
    expect(bytes.byteLength).toBeLessThan(MAX_SIZES.manifest)
    expect(() => decodeManifest(bytes)).toThrow(/too many elements/)
  })

  it('checks CIDs, statuses, sessions and accuracy in the other messages', () => {
    expect(() => decodeShardRequest(ShardRequest.encode({ cid: new Uint8Array([1, 2]) }))).toThrow(WireFormatError)
    expect(parseBlockCid(cid.bytes).equals(cid)).toBe(true)
    expect(() => encodeShardResponse({ status: ShardResponse.Status.NOT_FOUND, data: new Uint8Array(1), message: '' })).toThrow(WireFormatError)
    expect(() => encodeShardResponse({ status: ShardResponse.Status.OK, data: new Uint8Array(MAX_SIZES.shardResponse), message: '' })).toThrow(WireFormatError)
    // a HAVE bitfield comes alone, with status OK, and covers at most MAX_SHARDS shards
    expect(() => encodeShardResponse({ status: ShardResponse.Status.OK, data: new Uint8Array(1), message: '', have: new Uint8Array(1) })).toThrow(WireFormatError)
    expect(() => encodeShardResponse({ status: ShardResponse.Status.BUSY, data: new Uint8Array(), message: '', have: new Uint8Array(1) })).toThrow(WireFormatError)
    expect(() => encodeShardResponse({ status: ShardResponse.Status.OK, data: new Uint8Array(), message: '', have: new Uint8Array(8193) })).toThrow(WireFormatError)
    expect(() => decodeShardResponse(ShardResponse.encode({ status: ShardResponse.Status.OK, data: new Uint8Array(), message: '', have: new Uint8Array(8193) }))).toThrow(WireFormatError)
    const h: HeadAnnouncement = { session: 's', peer: 'p', manifest: cid.bytes, version: 1, samples: 1, encoding: Encoding.FP16, timestamp: 1, loss: 0.5, accuracy: 0.9 }
    expect(decodeHeadAnnouncement(encodeHeadAnnouncement(h))).toEqual(h)
    expect(() => decodeHeadAnnouncement(HeadAnnouncement.encode({ ...h, session: 'a/b' }))).toThrow(WireFormatError)
    expect(() => decodeHeadAnnouncement(HeadAnnouncement.encode({ ...h, accuracy: 1.5 }))).toThrow(WireFormatError)
    expect(() => decodeHeadAnnouncement(HeadAnnouncement.encode({ ...h, peer: '' }))).toThrow(WireFormatError)
    expect(() => encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session: '', payload: new Uint8Array() })).toThrow(WireFormatError)
    expect(() => encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session: 's', payload: new Uint8Array(MAX_SIZES.stateMessage) })).toThrow(MessageTooLargeError)
    expect(() => decodeMembershipGrant(MembershipGrant.encode({ session: 's', peer: 'p', role: '', expires: 1, signature: new Uint8Array(), issuer: new Uint8Array() }))).toThrow(WireFormatError)
  })
})
