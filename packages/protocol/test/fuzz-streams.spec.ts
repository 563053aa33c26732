import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import {
  PROTOCOL_SHARD, PROTOCOL_STATE, MAX_SIZES, ShardRequest, ShardResponse, StateSyncMessage, encodeShardRequest, encodeShardResponse,
  decodeShardResponse, decodeStateSyncMessage, encodeStateSyncMessage, encodeHeadAnnouncement, Encoding
} from '../src/wire/index.js'
import { createModelContent, verifyShard } from '../src/content/index.js'
import type { ModelContent, ShardStore } from '../src/content/index.js'
import type { ModelSnapshot } from '../src/learn/index.js'
import { createSessionDoc, upsertMember, recordRound, sameState, getMember, checkStateVector } from '../src/state/index.js'
import { MURMUR_DHT_PROTOCOL } from '../src/mesh/services.js'
import { inspectUpdate, dropPending } from '../src/mesh/state/dependencies.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'
import { OutcomeTable, concat, exchange, frame, inParallel, mutate, randomBytes, seeded, unframe, varint, watchProcess } from './helpers/fuzz.js'
import type { Exchange } from './helpers/fuzz.js'

// Hostile bytes on every Murmur stream protocol of a running node: random, truncated,
// oversized, wrongly typed, replayed and mutated frames, and slowloris streams. The node
// must not crash, must store nothing corrupt, must keep its document identical to a
// control replica, and must keep serving honest peers. MURMUR_FUZZ_INPUTS scales the run
// (bench/fuzz.bench.ts runs it with 100k).

const INPUTS = Number(process.env.MURMUR_FUZZ_INPUTS ?? 1200)
const SEED = Number(process.env.MURMUR_FUZZ_SEED ?? 20_251)
const IDLE_MS = 1500
const SESSION = 'fuzz'
const table = new OutcomeTable()
const guard = watchProcess()

let nodes: MeshNode[] = []
let target: MeshNode
let honest: MeshNode
let attacker: MeshNode
let content: ModelContent
let targetDoc: Y.Doc
let honestDoc: Y.Doc
let original: ModelSnapshot
const control = new Y.Doc()
const honestUpdates: Uint8Array[] = []

const timeoutFor = (inputs: number): number => 60_000 + inputs * 40

async function blocksOf (store: ShardStore): Promise<string[]> {
  const out: string[] = []
  for await (const cid of store.cids()) {
    await verifyShard(cid, await store.get(cid))
    out.push(cid.toString())
  }
  return out.sort()
}

function rawCid (bytes: Uint8Array, codec = 0x55, hash = 0x12): CID {
  return CID.createV1(codec, Digest.create(hash, bytes))
}

beforeAll(async () => {
  target = await createMemoryNode({
    shards: { idleTimeout: IDLE_MS, requestRatePerPeer: 1_000_000 },
    state: { syncTimeout: IDLE_MS, syncRatePerPeer: 1_000_000 }
  })
  honest = await createMemoryNode()
  attacker = await createMemoryNode()
  nodes = [target, honest, attacker]
  const rand = seeded(SEED)
  original = { tensors: [{ name: 'dense/kernel', shape: [60, 100], kind: 'weight', data: new Float32Array(6000).map(() => rand() - 0.5) }] }
  content = await createModelContent(original, { shardSize: 4096, modelId: SESSION, version: 1 })
  await target.services.shards.publish(content)

  targetDoc = createSessionDoc()
  honestDoc = createSessionDoc()
  honestDoc.on('update', (u: Uint8Array) => { honestUpdates.push(u); Y.applyUpdate(control, u) })
  target.services.state.join(SESSION, targetDoc)
  honest.services.state.join(SESSION, honestDoc)
  for (let i = 0; i < 12; i++) {
    upsertMember(honestDoc, { peerId: `member-${i}`, role: 'trainer', backend: 'wasm', samples: i, joinedAt: i, lastSeen: i })
    recordRound(honestDoc, {
      head: { peerId: `member-${i}`, manifest: `bafk-${i}`, version: i + 1, samples: i, encoding: 'fp32', timestamp: i },
      metrics: { peerId: `member-${i}`, round: i, loss: 1 / (i + 1), accuracy: i / 12, bytesSent: 0, bytesReceived: 0, timestamp: i }
    })
  }
  await honest.dial(target.getMultiaddrs())
  await attacker.dial(target.getMultiaddrs())
  expect(await waitFor(() => sameState(targetDoc, control), 10_000)).toBe(true)
}, 30_000)

afterAll(async () => {
  guard.dispose()
  await stopAll(nodes)
  console.log(`\nstream fuzz (seed ${SEED}, ${INPUTS} inputs per handler):\n${table.format()}\n`)
})

const openOn = (protocol: string) => async () => attacker.dialProtocol(target.peerId, protocol, { signal: AbortSignal.timeout(5000) })

/** What a shard-protocol exchange came to, as the table counts it. */
function shardOutcome (x: Exchange): string {
  const frames = unframe(x.bytes)
  if (frames.length === 0) return x.end
  const statuses = new Set(frames.map(f => { try { return decodeShardResponse(f).status } catch { return 'garbled' } }))
  return `answered ${[...statuses].join('+')}`
}

/** One hostile input for `/murmur/shard/1.0.0`: the bytes, and what a correct server must answer. */
interface ShardInput { kind: string, chunks: Uint8Array[], expect?: 'ok' | 'not-found' | 'have-all', asks?: CID[] }

function shardInputs (): fc.Arbitrary<ShardInput> {
  const present = fc.constantFrom(content.manifestCid, ...content.shards.map(s => s.cid))
  const request = (cid: CID): Uint8Array => frame(encodeShardRequest({ cid: cid.bytes }))
  const have = (cid: CID): Uint8Array => frame(encodeShardRequest({ cid: cid.bytes, kind: ShardRequest.Kind.HAVE }))
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map(b => ({ kind: 'random bytes', chunks: [b] })),
    fc.integer({ min: MAX_SIZES.shardRequest + 1, max: 2 ** 31 }).chain(n => fc.uint8Array({ maxLength: 64 }).map(b => ({ kind: 'length over MAX_SIZES', chunks: [concat(varint(n), b)] }))),
    fc.integer({ min: 6, max: 12 }).map(n => ({ kind: 'bad varint prefix', chunks: [new Uint8Array(n).fill(0xff)] })),
    fc.tuple(present, fc.nat()).map(([cid, k]) => { const f = request(cid); return { kind: 'truncated frame', chunks: [f.slice(0, k % f.length)] } }),
    fc.constantFrom(
      frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session: SESSION, payload: Y.encodeStateVector(control) as Uint8Array<ArrayBuffer> })),
      frame(encodeShardResponse({ status: ShardResponse.Status.OK, data: new Uint8Array(10), message: '' })),
      frame(encodeHeadAnnouncement({ session: SESSION, peer: 'x', manifest: content.manifestCid.bytes, version: 1, samples: 1, timestamp: 1, encoding: Encoding.FP32, loss: 0, accuracy: 0 }))
    ).map(f => ({ kind: 'valid frame, wrong type', chunks: [f] })),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map(d => { const cid = rawCid(d); return { kind: 'absent CID', chunks: [request(cid)], expect: 'not-found' as const, asks: [cid] } }),
    fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom([0x70, 0x12], [0x55, 0x00], [0x71, 0x13], [0x55, 0xb220])).map(([d, [codec, hash]]) => {
      const cid = hash === 0x00 ? rawCid(d.slice(0, 8), codec, hash) : rawCid(hash === 0x13 ? concat(d, d) : d, codec, hash)
      return { kind: 'garbage CID', chunks: [frame(encodeShardRequestUnchecked(cid))] }
    }),
    fc.array(present, { minLength: 1, maxLength: 4 }).map(cids => ({ kind: 'valid request (replayed)', chunks: [concat(...cids.map(request))], expect: 'ok' as const, asks: cids })),
    fc.tuple(present, fc.integer()).map(([cid, s]) => ({ kind: 'mutated request', chunks: [mutate(request(cid), seeded(s)).bytes] })),
    // HAVE: which shards of a manifest the node holds
    fc.constant<ShardInput>({ kind: 'HAVE, held manifest', chunks: [have(content.manifestCid)], expect: 'have-all', asks: [content.manifestCid] }),
    fc.constantFrom(...content.shards.map(s => s.cid)).map(cid => ({ kind: 'HAVE, a shard (not a manifest)', chunks: [have(cid)], expect: 'not-found' as const, asks: [cid] })),
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map(d => { const cid = rawCid(d); return { kind: 'HAVE, absent manifest', chunks: [have(cid)], expect: 'not-found' as const, asks: [cid] } }),
    fc.integer({ min: 2, max: 2 ** 31 }).map(k => ({ kind: 'unknown request kind', chunks: [frame(concat(encodeShardRequestUnchecked(content.manifestCid), Uint8Array.of(0x10), varint(k)))] }))
  )
}

/** A request frame for any CID, skipping the encoder's own block-CID check. */
function encodeShardRequestUnchecked (cid: CID): Uint8Array {
  return concat(Uint8Array.of(0x0a), varint(cid.bytes.length), cid.bytes)
}

/** One hostile input for `/murmur/state/1.0.0`. */
interface StateInput { kind: string, chunks: Uint8Array[] }

function stateInputs (): fc.Arbitrary<StateInput> {
  const vector = (): Uint8Array => frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session: SESSION, payload: Y.encodeStateVector(new Y.Doc()) as Uint8Array<ArrayBuffer> }))
  const update = (payload: Uint8Array, session = SESSION): Uint8Array => frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session, payload: payload as Uint8Array<ArrayBuffer> }))
  const honestUpdate = fc.constantFrom(...honestUpdates)
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map(b => ({ kind: 'random bytes', chunks: [b] })),
    fc.integer({ min: MAX_SIZES.stateMessage + 1, max: 2 ** 31 }).map(n => ({ kind: 'length over MAX_SIZES', chunks: [concat(varint(n), new Uint8Array(32))] })),
    fc.integer({ min: 6, max: 12 }).map(n => ({ kind: 'bad varint prefix', chunks: [new Uint8Array(n).fill(0x80)] })),
    honestUpdate.map(u => ({ kind: 'update before vector', chunks: [update(u)] })),
    fc.constantFrom('nobody', 'other-session').map(s => ({ kind: 'unknown session', chunks: [frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session: s, payload: Y.encodeStateVector(new Y.Doc()) as Uint8Array<ArrayBuffer> }))] })),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map(b => ({ kind: 'garbage state vector', chunks: [frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session: SESSION, payload: b as Uint8Array<ArrayBuffer> }))] })),
    fc.uint8Array({ maxLength: 200 }).map(b => ({ kind: 'vector + random update', chunks: [vector(), update(b)] })),
    fc.tuple(honestUpdate, fc.integer()).map(([u, s]) => ({ kind: 'vector + mutated update', chunks: [vector(), update(mutate(u, seeded(s)).bytes)] })),
    honestUpdate.map(u => ({ kind: 'vector + replayed update', chunks: [vector(), update(u)] })),
    fc.tuple(honestUpdate, fc.integer()).map(([u, s]) => ({ kind: 'mutated frames', chunks: [mutate(concat(vector(), update(u)), seeded(s)).bytes] })),
    fc.constant<StateInput>({ kind: 'vector only, then EOF', chunks: [vector()] })
  )
}

/**
 * The reference model of a correct state-sync server: when the bytes hold a vector for this
 * session followed by an update that Yjs can apply, that update lands in the document, and
 * nothing else does. Returns the update the control replica must apply too.
 */
function acceptedUpdate (chunks: Uint8Array[]): Uint8Array | undefined {
  const frames = unframe(concat(...chunks))
  try {
    const first = decodeStateSyncMessage(frames[0] ?? new Uint8Array())
    const second = decodeStateSyncMessage(frames[1] ?? new Uint8Array())
    if (first.session !== SESSION || first.type !== StateSyncMessage.Type.STATE_VECTOR) return undefined
    checkStateVector(first.payload)
    if (second.session !== SESSION || second.type !== StateSyncMessage.Type.UPDATE) return undefined
    const scratch = new Y.Doc()
    Y.applyUpdate(scratch, Y.encodeStateAsUpdate(control))
    inspectUpdate(scratch, second.payload)
    Y.applyUpdate(scratch, second.payload)
    return second.payload
  } catch {
    return undefined
  }
}

describe('hostile bytes on the stream protocols of a running node', () => {
  it(`${PROTOCOL_SHARD}: answers valid requests exactly, refuses everything else, never hangs`, async () => {
    const before = await blocksOf(target.services.shards.store)
    await fc.assert(fc.asyncProperty(shardInputs(), async input => {
      const x = await exchange(openOn(PROTOCOL_SHARD), input.chunks, { timeoutMs: IDLE_MS * 4 })
      table.record(`shard: ${input.kind}`, shardOutcome(x))
      // every input ends promptly: the node answers, closes or resets, never leaves it hanging
      expect(x.end).not.toBe('timeout')
      const answers = unframe(x.bytes).map(f => decodeShardResponse(f))
      if (input.expect != null) expect(answers).toHaveLength(input.asks?.length ?? 0)
      for (const [i, a] of answers.entries()) {
        if (input.expect === 'not-found') expect(a.status).toBe(ShardResponse.Status.NOT_FOUND)
        if (input.expect === 'ok') expect(a.status).toBe(ShardResponse.Status.OK)
        if (input.expect === 'have-all') {
          expect(a.status).toBe(ShardResponse.Status.OK)
          expect(a.data).toHaveLength(0)
          const n = content.shards.length
          expect([...a.have]).toEqual(Array.from({ length: Math.ceil(n / 8) }, (_, i) => i < Math.floor(n / 8) ? 0xff : (1 << (n % 8)) - 1))
          continue
        }
        // whatever was asked, an OK answer carries exactly the block it names
        if (a.status === ShardResponse.Status.OK && input.asks != null) await verifyShard(input.asks[i] as CID, a.data)
      }
    }), { numRuns: INPUTS, seed: SEED })
    expect(await blocksOf(target.services.shards.store)).toEqual(before)
    expect(guard.failures).toEqual([])
  }, timeoutFor(INPUTS))

  it(`${PROTOCOL_STATE}: applies only what Yjs accepts, document stays identical to a control replica`, async () => {
    await fc.assert(fc.asyncProperty(stateInputs(), async input => {
      const accepted = acceptedUpdate(input.chunks)
      const x = await exchange(openOn(PROTOCOL_STATE), input.chunks, { timeoutMs: IDLE_MS * 4 })
      const answered = unframe(x.bytes).length > 0
      table.record(`state: ${input.kind}`, `${answered ? 'answered, then ' : ''}${x.end}`)
      expect(x.end).not.toBe('timeout')
      if (accepted != null) { Y.applyUpdate(control, accepted); dropPending(control) }
      expect(sameState(targetDoc, control)).toBe(true)
    }), { numRuns: INPUTS, seed: SEED + 1 })
    expect(getMember(targetDoc, 'member-11')).toBeDefined()
    expect(guard.failures).toEqual([])
  }, timeoutFor(INPUTS))

  it(`${MURMUR_DHT_PROTOCOL}: a few garbage frames do not hurt the DHT`, async () => {
    const rand = seeded(SEED + 2)
    const inputs: Array<[string, Uint8Array]> = []
    for (let i = 0; i < 20; i++) inputs.push(['random bytes', randomBytes(rand, 1 + Math.floor(rand() * 200))])
    for (let i = 0; i < 10; i++) inputs.push(['random frame', frame(randomBytes(rand, Math.floor(rand() * 200)))])
    inputs.push(['length over 4 MiB', concat(varint(8 * 1024 * 1024), randomBytes(rand, 64))], ['bad varint prefix', new Uint8Array(12).fill(0xff)])
    await inParallel(inputs, 4, async ([kind, bytes]) => {
      const x = await exchange(openOn(MURMUR_DHT_PROTOCOL), [bytes], { timeoutMs: 5000 })
      table.record(`kad: ${kind}`, `${unframe(x.bytes).length > 0 ? 'answered, then ' : ''}${x.end}`)
    })
    // the DHT still answers an honest query through the node
    const found = await honest.peerRouting.findPeer(attacker.peerId, { signal: AbortSignal.timeout(10_000) })
    expect(found.id.equals(attacker.peerId)).toBe(true)
    expect(guard.failures).toEqual([])
  }, 30_000)

  it('slowloris streams (silent, one byte at a time) are cut off by the node, not held open', async () => {
    const request = frame(encodeShardRequest({ cid: content.manifestCid.bytes }))
    const vector = frame(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session: SESSION, payload: Y.encodeStateVector(new Y.Doc()) as Uint8Array<ArrayBuffer> }))
    const cases: Array<[string, string, Uint8Array[], number | undefined]> = [
      ['shard: slowloris silent', PROTOCOL_SHARD, [], undefined],
      ['shard: slowloris 1 byte / 0.4 s', PROTOCOL_SHARD, [...request].map(b => Uint8Array.of(b)), 400],
      ['state: slowloris silent', PROTOCOL_STATE, [], undefined],
      ['state: slowloris 1 byte / 0.4 s', PROTOCOL_STATE, [...vector].map(b => Uint8Array.of(b)), 400]
    ]
    await Promise.all(cases.map(async ([kind, protocol, chunks, gapMs]) => {
      const t0 = Date.now()
      const x = await exchange(openOn(protocol), chunks, { timeoutMs: IDLE_MS * 5, gapMs, closeWrite: false })
      table.record(kind, `${x.end} by the node after ${Math.round((Date.now() - t0) / 100) / 10} s`)
      expect(x.end).not.toBe('timeout')
    }))
  }, 30_000)

  it('after the barrage the node still serves honest peers: fetch, live edits and catch-up sync', async () => {
    const { snapshot } = await honest.services.shards.fetchModel(content.manifestCid, { providers: [target.peerId], signal: AbortSignal.timeout(10_000) })
    expect(snapshot.tensors[0]?.data).toEqual(original.tensors[0]?.data)
    // a live edit of the honest peer still arrives by gossip
    upsertMember(honestDoc, { peerId: 'after-barrage', role: 'trainer', backend: 'wasm', samples: 1, joinedAt: 1, lastSeen: 1 })
    expect(await waitFor(() => getMember(targetDoc, 'after-barrage') != null, 10_000)).toBe(true)
    expect(sameState(targetDoc, control)).toBe(true)
    // and a newcomer catches up exactly through the state-vector exchange
    const newcomer = await createMemoryNode()
    nodes.push(newcomer)
    const newDoc = createSessionDoc()
    newcomer.services.state.join(SESSION, newDoc)
    await newcomer.dial(target.getMultiaddrs())
    expect(await waitFor(() => sameState(newDoc, targetDoc), 10_000)).toBe(true)
    expect(guard.failures).toEqual([])
  }, 30_000)
})
