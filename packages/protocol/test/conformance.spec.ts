import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { createHash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import * as Y from 'yjs'
// Message encoding uses only the generated protobuf codecs: no Murmur client code, no
// Murmur framing, no Murmur validation. Everything else a client does is built from
// docs/protocol.md by hand.
import { Encoding, HeadAnnouncement, ShardRequest, ShardResponse, StateSyncMessage } from '../src/wire/murmur.js'
// The peer under test is set up with Murmur's own code.
import { createModelContent } from '../src/content/index.js'
import { createSessionDoc, upsertMember, recordRound } from '../src/state/index.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

// Conformance of a running Murmur peer to docs/protocol.md: a plain libp2p node opens raw
// streams (or publishes raw gossip) with frames built from the spec, and checks the answers
// the spec promises. Section numbers refer to docs/protocol.md.

const SESSION = 'conformance'
const SHARD = '/murmur/shard/1.0.0'
const STATE = '/murmur/state/1.0.0'
const HEADS_TOPIC = `/murmur/${SESSION}/heads`
const STATE_TOPIC = `/murmur/${SESSION}/state`

// §1 framing: unsigned LEB128 length, then the message
function varint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n % 0x80) | 0x80); n = Math.floor(n / 0x80) }
  out.push(n)
  return Uint8Array.from(out)
}
function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}
const frame = (message: Uint8Array): Uint8Array => concat(varint(message.length), message)

const u8 = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b)

// §2.1 block addressing: CIDv1 (0x01), raw (0x55), sha2-256 (0x12), 32-byte digest (0x20)
const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())
const blockCid = (bytes: Uint8Array, codec = 0x55): Uint8Array<ArrayBuffer> => u8(concat(Uint8Array.of(0x01, codec, 0x12, 0x20), sha256(bytes)))
const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i])

/** A raw stream: frames in and out, and how it ended (`closed` by the remote, or `reset`). */
class Raw {
  readonly stream: Stream
  private readonly buffer = new Uint8ArrayList()
  private ended?: 'closed' | 'reset'
  private wake: () => void = () => {}
  /** Every byte the remote ever sent. */
  received = 0

  constructor (stream: Stream) {
    this.stream = stream
    void (async () => {
      try {
        for await (const chunk of stream) { this.buffer.append(chunk); this.received += chunk.byteLength; this.wake() }
        // a reset that lands before any read is pending ends the iterator quietly: ask the stream
        this.ended = stream.status === 'reset' ? 'reset' : 'closed'
      } catch {
        this.ended = 'reset'
      }
      this.wake()
    })()
  }

  async send (bytes: Uint8Array): Promise<void> {
    if (!this.stream.send(bytes)) await this.stream.onDrain()
  }

  /** The next frame's body; throws when the stream ends first or `ms` pass. */
  async read (ms = 5000): Promise<Uint8Array> {
    const until = Date.now() + ms
    for (;;) {
      const body = this.take()
      if (body != null) return body
      if (this.ended != null) throw new Error(`stream ${this.ended} before a full frame`)
      if (Date.now() > until) throw new Error(`no frame within ${ms} ms`)
      await new Promise<void>(resolve => { const t = setTimeout(resolve, 50); this.wake = () => { clearTimeout(t); resolve() } })
    }
  }

  /** How the stream ended, waited for up to `ms`; 'open' when it has not. */
  async end (ms = 5000): Promise<'closed' | 'reset' | 'open'> {
    await waitFor(() => this.ended != null, ms, 20)
    return this.ended ?? 'open'
  }

  private take (): Uint8Array | undefined {
    const bytes = this.buffer.subarray()
    let len = 0
    let scale = 1
    let o = 0
    for (;;) {
      if (o >= bytes.length) return undefined
      const b = bytes[o++] as number
      len += (b & 0x7f) * scale
      scale *= 0x80
      if (b < 0x80) break
    }
    if (o + len > bytes.length) return undefined
    const body = bytes.slice(o, o + len)
    this.buffer.consume(o + len)
    return body
  }
}

type Client = Libp2p<{ identify: ReturnType<ReturnType<typeof identify>>, pubsub: GossipSub }>

let peer: MeshNode
let peerDoc: Y.Doc
const clients: Client[] = []
let counter = 0

/** A plain libp2p node (no Murmur services) connected to the peer under test. */
async function client (): Promise<Client> {
  const node = await createLibp2p({
    addresses: { listen: [`/memory/conformance-client-${process.pid}-${counter++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true }) }
  }) as Client
  clients.push(node)
  await node.dial(peer.getMultiaddrs())
  return node
}
async function open (c: Client, protocol: string): Promise<Raw> {
  return new Raw(await c.dialProtocol(peer.peerId, protocol, { signal: AbortSignal.timeout(5000) }))
}

const snapshot = (values: number) => ({ tensors: [{ name: 'dense/kernel', shape: [values], kind: 'weight' as const, data: Float32Array.from({ length: values }, (_, i) => Math.sin(i)) }] })

beforeAll(async () => {
  peer = await createMemoryNode()
  peerDoc = createSessionDoc()
  for (let i = 0; i < 3; i++) {
    upsertMember(peerDoc, { peerId: `member-${i}`, role: 'trainer', backend: 'wasm', samples: i, joinedAt: i, lastSeen: i })
    recordRound(peerDoc, {
      head: { peerId: `member-${i}`, manifest: `bafk-${i}`, version: i + 1, samples: i, encoding: 'fp32', timestamp: i },
      metrics: { peerId: `member-${i}`, round: i, loss: 1 / (i + 1), bytesSent: 0, bytesReceived: 0, timestamp: i }
    })
  }
  peer.services.state.join(SESSION, peerDoc)
  peer.services.heads.join(SESSION)
}, 30_000)

afterAll(async () => {
  await Promise.all(clients.map(async c => { try { await c.stop() } catch { /* already stopped */ } }))
  await stopAll([peer])
})

describe('/murmur/shard/1.0.0 (§3)', () => {
  let whole: Awaited<ReturnType<typeof createModelContent>>
  let partial: Awaited<ReturnType<typeof createModelContent>>

  beforeAll(async () => {
    whole = await createModelContent(snapshot(1000), { shardSize: 1024 })
    await peer.services.shards.publish(whole, { announce: false })
    // 12 shards of which the peer holds 0, 2 and 9 (and the manifest)
    partial = await createModelContent(snapshot(3000), { shardSize: 1000 })
    expect(partial.shards).toHaveLength(12)
    await peer.services.shards.store.put(partial.manifestCid, partial.manifestBytes)
    for (const i of [0, 2, 9]) await peer.services.shards.store.put(partial.shards[i]!.cid, partial.shards[i]!.bytes)
  })

  it('answers BLOCK requests in order on one stream with the bytes whose sha2-256 is the CID, then closes when the requester does', async () => {
    const s = await open(await client(), SHARD)
    const cids = [whole.manifestCid.bytes, ...whole.shards.map(sh => sh.cid.bytes)]
    // pipelined: every request written before any response is read
    await s.send(concat(...cids.map(cid => frame(ShardRequest.encode({ cid: u8(cid), kind: ShardRequest.Kind.BLOCK })))))
    for (const cid of cids) {
      const res = ShardResponse.decode(await s.read())
      expect(res.status).toBe(ShardResponse.Status.OK)
      expect(res.have).toHaveLength(0)
      expect(equal(blockCid(res.data), cid)).toBe(true)
    }
    await s.stream.close()
    expect(await s.end()).toBe('closed')
  })

  it('answers NOT_FOUND with no data for a CID it lacks, and keeps the stream for the next request', async () => {
    const s = await open(await client(), SHARD)
    await s.send(frame(ShardRequest.encode({ cid: blockCid(Uint8Array.of(1, 2, 3)), kind: ShardRequest.Kind.BLOCK })))
    const missing = ShardResponse.decode(await s.read())
    expect(missing.status).toBe(ShardResponse.Status.NOT_FOUND)
    expect(missing.data).toHaveLength(0)
    await s.send(frame(ShardRequest.encode({ cid: whole.shards[0]!.cid.bytes, kind: ShardRequest.Kind.BLOCK })))
    expect(ShardResponse.decode(await s.read()).status).toBe(ShardResponse.Status.OK)
  })

  it('answers HAVE with a ⌈n/8⌉-byte bitfield, least significant bit first, data empty', async () => {
    const s = await open(await client(), SHARD)
    await s.send(frame(ShardRequest.encode({ cid: partial.manifestCid.bytes, kind: ShardRequest.Kind.HAVE })))
    const res = ShardResponse.decode(await s.read())
    expect(res.status).toBe(ShardResponse.Status.OK)
    expect(res.data).toHaveLength(0)
    // shards 0, 2 (byte 0: 0b101) and 9 (byte 1: bit 1); bits 12-15 clear
    expect([...res.have]).toEqual([0b0000_0101, 0b0000_0010])

    await s.send(frame(ShardRequest.encode({ cid: whole.manifestCid.bytes, kind: ShardRequest.Kind.HAVE })))
    const all = ShardResponse.decode(await s.read())
    const n = whole.shards.length
    expect(all.have).toHaveLength(Math.ceil(n / 8))
    for (let i = 0; i < all.have.length * 8; i++) expect(((all.have[i >> 3]! >> (i & 7)) & 1) === 1).toBe(i < n)
  })

  it('answers HAVE with NOT_FOUND for a manifest it lacks and for a block that is not a manifest', async () => {
    const s = await open(await client(), SHARD)
    for (const cid of [blockCid(Uint8Array.of(9)), whole.shards[0]!.cid.bytes]) {
      await s.send(frame(ShardRequest.encode({ cid: u8(cid), kind: ShardRequest.Kind.HAVE })))
      const res = ShardResponse.decode(await s.read())
      expect(res.status).toBe(ShardResponse.Status.NOT_FOUND)
      expect(res.data).toHaveLength(0)
      expect(res.have).toHaveLength(0)
    }
  })

  it('resets the stream, answering nothing, for a frame over 128 bytes, a non-block CID or bytes that are no ShardRequest', async () => {
    const c = await client()
    const inputs = [
      concat(varint(129), new Uint8Array(129)),
      frame(ShardRequest.encode({ cid: blockCid(Uint8Array.of(1), 0x70), kind: ShardRequest.Kind.BLOCK })),
      frame(Uint8Array.of(0xff, 0xff, 0xff))
    ]
    for (const input of inputs) {
      const s = await open(c, SHARD)
      await s.send(input)
      expect(await s.end()).toBe('reset')
      expect(s.received).toBe(0)
    }
    // a request within the limit is answered on the same connection
    const s = await open(c, SHARD)
    await s.send(frame(ShardRequest.encode({ cid: whole.manifestCid.bytes, kind: ShardRequest.Kind.BLOCK })))
    expect(ShardResponse.decode(await s.read()).status).toBe(ShardResponse.Status.OK)
  })

  it('answers BUSY with no data past the burst of 400 requests (200 a second)', async () => {
    const s = await open(await client(), SHARD)
    const request = frame(ShardRequest.encode({ cid: blockCid(Uint8Array.of(4)), kind: ShardRequest.Kind.BLOCK }))
    const count = 1000
    await s.send(concat(...Array.from({ length: count }, () => request)))
    const statuses: ShardResponse.Status[] = []
    for (let i = 0; i < count; i++) {
      const res = ShardResponse.decode(await s.read())
      if (res.status === ShardResponse.Status.BUSY) expect(res.data).toHaveLength(0)
      statuses.push(res.status)
    }
    expect(statuses.slice(0, 400).every(st => st === ShardResponse.Status.NOT_FOUND)).toBe(true)
    expect(statuses.filter(st => st === ShardResponse.Status.BUSY).length).toBeGreaterThan(0)
  })
})

describe('/murmur/state/1.0.0 (§4)', () => {
  const message = (type: StateSyncMessage.Type, payload: Uint8Array, session = SESSION): Uint8Array =>
    frame(StateSyncMessage.encode({ type, session, payload: u8(payload) }))

  it('runs the exchange in the stated order: STATE_VECTOR →, ← UPDATE, ← STATE_VECTOR, UPDATE →; the replica equals the peer', async () => {
    const s = await open(await client(), STATE)
    const started = Date.now()
    await s.send(message(StateSyncMessage.Type.STATE_VECTOR, Y.encodeStateVector(new Y.Doc())))
    const diff = StateSyncMessage.decode(await s.read())
    const vector = StateSyncMessage.decode(await s.read())
    expect(Date.now() - started).toBeLessThan(10_000)
    expect([diff.type, diff.session]).toEqual([StateSyncMessage.Type.UPDATE, SESSION])
    expect([vector.type, vector.session]).toEqual([StateSyncMessage.Type.STATE_VECTOR, SESSION])
    expect(equal(vector.payload, Y.encodeStateVector(peerDoc))).toBe(true)

    const replica = new Y.Doc()
    Y.applyUpdate(replica, diff.payload)
    expect(equal(Y.encodeStateVector(replica), Y.encodeStateVector(peerDoc))).toBe(true)
    expect(replica.getMap('members').toJSON()).toEqual(peerDoc.getMap('members').toJSON())

    // the initiator's own edit, sent as the diff the responder's vector lacks
    replica.getMap('members').set('from-exchange', { peerId: 'from-exchange', role: 'observer', backend: 'wasm', samples: 0, joinedAt: 1, lastSeen: 1 })
    await s.send(message(StateSyncMessage.Type.UPDATE, Y.encodeStateAsUpdate(replica, vector.payload)))
    await s.stream.close()
    expect(await s.end()).toBe('closed')
    expect(await waitFor(() => peerDoc.getMap('members').has('from-exchange'), 5000)).toBe(true)
    expect(equal(Y.encodeStateVector(replica), Y.encodeStateVector(peerDoc))).toBe(true)
  })

  it('resets, sending nothing, when the first message names an unknown session, is not a STATE_VECTOR, or carries no state vector', async () => {
    const inputs = [
      message(StateSyncMessage.Type.STATE_VECTOR, Y.encodeStateVector(new Y.Doc()), 'not-joined'),
      message(StateSyncMessage.Type.UPDATE, Y.encodeStateAsUpdate(new Y.Doc())),
      message(StateSyncMessage.Type.STATE_VECTOR, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
    ]
    for (const input of inputs) {
      // a fresh client each time: the rate limit must not be what resets the stream
      const s = await open(await client(), STATE)
      await s.send(input)
      expect(await s.end()).toBe('reset')
      expect(s.received).toBe(0)
    }
  })

  it('resets a stream over the rate limit (burst 5) at once, with no message, while the first five stay open', async () => {
    const c = await client()
    const streams: Raw[] = []
    for (let i = 0; i < 6; i++) streams.push(await open(c, STATE))
    const sixth = streams[5]!
    expect(await sixth.end(2000)).toBe('reset')
    expect(sixth.received).toBe(0)
    // the first one is served in full
    const first = streams[0]!
    await first.send(message(StateSyncMessage.Type.STATE_VECTOR, Y.encodeStateVector(peerDoc)))
    expect(StateSyncMessage.decode(await first.read()).type).toBe(StateSyncMessage.Type.UPDATE)
    for (const s of streams.slice(1, 5)) expect(await s.end(10)).toBe('open')
    for (const s of streams) s.stream.abort(new Error('test done'))
  })

  it('answers within the 10 s deadline, and resets an exchange that is not finished 10 s after it opened', async () => {
    const s = await open(await client(), STATE)
    const started = Date.now()
    await s.send(message(StateSyncMessage.Type.STATE_VECTOR, Y.encodeStateVector(new Y.Doc())))
    await s.read()
    await s.read()
    expect(Date.now() - started).toBeLessThan(10_000)
    // never send the final UPDATE
    expect(await s.end(14_000)).toBe('reset')
    const elapsed = Date.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(9_500)
    expect(elapsed).toBeLessThan(13_000)
  }, 20_000)
})

describe('gossip topics (§5, §6)', () => {
  let c: Client

  beforeAll(async () => {
    c = await client()
    c.services.pubsub.subscribe(HEADS_TOPIC)
    c.services.pubsub.subscribe(STATE_TOPIC)
    const ready = await waitFor(() => [HEADS_TOPIC, STATE_TOPIC].every(t => c.services.pubsub.getSubscribers(t).some(p => p.equals(peer.peerId))), 10_000)
    expect(ready).toBe(true)
  })

  it('accepts a signed head from a raw gossipsub node, and drops ±Infinity losses and a head naming another peer', async () => {
    const seen: number[] = []
    const refused: string[] = []
    peer.services.heads.addEventListener('head', evt => { if (evt.detail.from.equals(c.peerId)) seen.push(evt.detail.version) })
    peer.services.heads.addEventListener('refused', evt => { refused.push(evt.detail.reason) })
    const head = (h: Partial<HeadAnnouncement>): Uint8Array => HeadAnnouncement.encode({
      session: SESSION, peer: c.peerId.toString(), manifest: u8(blockCid(Uint8Array.of(7))), version: 1, samples: 10, encoding: Encoding.FP32,
      timestamp: Date.now(), loss: 0.5, accuracy: Number.NaN, ...h
    })
    await c.services.pubsub.publish(HEADS_TOPIC, head({ version: 1 }))
    await c.services.pubsub.publish(HEADS_TOPIC, head({ version: 2, loss: Infinity }))
    await c.services.pubsub.publish(HEADS_TOPIC, head({ version: 3, loss: -Infinity }))
    await c.services.pubsub.publish(HEADS_TOPIC, head({ version: 4, peer: peer.peerId.toString() }))
    await c.services.pubsub.publish(HEADS_TOPIC, head({ version: 5, loss: Number.NaN }))
    expect(await waitFor(() => peer.services.heads.heads(SESSION).get(c.peerId.toString())?.version === 5, 10_000)).toBe(true)
    expect(seen).toEqual([1, 5])
    expect(refused.filter(r => r === 'malformed')).toHaveLength(3)
  })

  it('takes a decimal-clock presence beacon, and refuses one with a leading zero', async () => {
    const refused: string[] = []
    peer.services.state.addEventListener('refused', evt => { if (evt.detail.peer === c.peerId.toString()) refused.push(evt.detail.reason) })
    const beacon = (text: string): Uint8Array => StateSyncMessage.encode({ type: StateSyncMessage.Type.AWARENESS, session: SESSION, payload: u8(new TextEncoder().encode(text)) })
    await c.services.pubsub.publish(STATE_TOPIC, beacon(`0${Date.now()}`))
    expect(await waitFor(() => refused.includes('malformed'), 10_000)).toBe(true)
    expect(peer.services.state.presence(SESSION).has(c.peerId.toString())).toBe(false)
    await c.services.pubsub.publish(STATE_TOPIC, beacon(String(Date.now())))
    expect(await waitFor(() => peer.services.state.presence(SESSION).has(c.peerId.toString()), 10_000)).toBe(true)
  })

  it('applies a gossiped Yjs update, and refuses one over 256 KiB as oversized', async () => {
    const refused: string[] = []
    peer.services.state.addEventListener('refused', evt => { if (evt.detail.peer === c.peerId.toString()) refused.push(evt.detail.reason) })
    const edit = (key: string, backend: string): Uint8Array => {
      const doc = new Y.Doc()
      doc.getMap('members').set(key, { peerId: key, role: 'observer', backend, samples: 0, joinedAt: 1, lastSeen: 1 })
      return StateSyncMessage.encode({ type: StateSyncMessage.Type.UPDATE, session: SESSION, payload: u8(Y.encodeStateAsUpdate(doc)) })
    }
    await c.services.pubsub.publish(STATE_TOPIC, edit('too-large', 'x'.repeat(257 * 1024)))
    expect(await waitFor(() => refused.includes('oversized'), 10_000)).toBe(true)
    await c.services.pubsub.publish(STATE_TOPIC, edit('from-gossip', 'wasm'))
    expect(await waitFor(() => peerDoc.getMap('members').has('from-gossip'), 10_000)).toBe(true)
    expect(peerDoc.getMap('members').has('too-large')).toBe(false)
  })
})
