import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { RPC } from '@libp2p/gossipsub/message'
import type { Message } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'
import {
  StateSyncMessage, Encoding, encodeStateSyncMessage, decodeStateSyncMessage, encodeHeadAnnouncement, stateTopic, headsTopic
} from '../src/wire/index.js'
import type { HeadAnnouncement } from '../src/wire/index.js'
import { cidForBytes } from '../src/content/index.js'
import { createSessionDoc, upsertMember, sameState, getMember } from '../src/state/index.js'
import { PENDING_LIMITS } from '../src/mesh/state/constants.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'
import { OutcomeTable, concat, exchange, frame, mutate, randomBytes, seeded, varint, watchProcess } from './helpers/fuzz.js'

// Hostile payloads on a session's gossipsub topics, published by a signing attacker (so
// they reach Murmur's validators), plus raw gossipsub RPC frames from a bare node: forged
// signatures, unsigned messages, replays of an honest peer's signed messages, garbage.

const INPUTS = Number(process.env.MURMUR_FUZZ_INPUTS ?? 1200)
const SEED = Number(process.env.MURMUR_FUZZ_SEED ?? 20_251)
const SESSION = 'fuzzgossip'
const STATE = stateTopic(SESSION)
const HEADS = headsTopic(SESSION)
const table = new OutcomeTable()
const guard = watchProcess()

let nodes: MeshNode[] = []
let bare: Libp2p | undefined
let target: MeshNode
let honest: MeshNode
let attacker: MeshNode
let targetDoc: Y.Doc
let honestDoc: Y.Doc
const control = new Y.Doc()
const honestUpdates: Uint8Array[] = []
const honestMessages: Message[] = []
const validated: Array<{ topic: string, data: Uint8Array, verdict: string }> = []
/** what each published payload was meant to test, keyed by its bytes */
const kinds = new Map<string, string[]>()
const keyOf = (topic: string, data: Uint8Array): string => `${topic} ${Buffer.from(data).toString('base64')}`
const rowOf = (topic: string, kind: string): string => `gossip ${topic.endsWith('state') ? 'state' : 'heads'}: ${kind}`
let honestHead: HeadAnnouncement

/** Wrap the target's own validator so the test sees every verdict it gives. */
function countVerdicts (topic: string): void {
  const validators = target.services.pubsub.topicValidators
  const original = validators.get(topic)
  if (original == null) throw new Error(`no validator on ${topic}`)
  validators.set(topic, async (peer, msg) => {
    const verdict = await original(peer, msg)
    if (!peer.equals(attacker.peerId) && !peer.equals(bare?.peerId ?? attacker.peerId)) return verdict
    validated.push({ topic, data: msg.data, verdict })
    const kind = kinds.get(keyOf(topic, msg.data))?.shift() ?? 'raw RPC'
    table.record(rowOf(topic, kind), `validator: ${verdict}`)
    return verdict
  })
}

/** Wait until the target has stopped validating new messages (bounded). */
async function quiet (): Promise<void> {
  let last = -1
  await waitFor(() => { const done = validated.length === last; last = validated.length; return done }, 20_000, 500)
}

beforeAll(async () => {
  target = await createMemoryNode()
  honest = await createMemoryNode()
  attacker = await createMemoryNode()
  nodes = [target, honest, attacker]
  targetDoc = createSessionDoc()
  honestDoc = createSessionDoc()
  honestDoc.on('update', (u: Uint8Array) => { honestUpdates.push(u); Y.applyUpdate(control, u) })
  for (const [node, doc] of [[target, targetDoc], [honest, honestDoc]] as const) {
    node.services.state.join(SESSION, doc)
    node.services.heads.join(SESSION)
  }
  attacker.services.heads.join(SESSION)
  target.services.pubsub.addEventListener('gossipsub:message', evt => {
    if (evt.detail.propagationSource.equals(honest.peerId)) honestMessages.push(evt.detail.msg)
  })
  await honest.dial(target.getMultiaddrs())
  await attacker.dial(target.getMultiaddrs())
  await waitFor(() => attacker.services.pubsub.getSubscribers(STATE).length > 0 && honest.services.pubsub.getSubscribers(STATE).length > 0, 10_000)
  for (let i = 0; i < 8; i++) upsertMember(honestDoc, { peerId: `member-${i}`, role: 'trainer', backend: 'wasm', samples: i, joinedAt: i, lastSeen: i })
  const manifest = await cidForBytes(Uint8Array.of(1, 2, 3))
  honestHead = { session: SESSION, peer: honest.peerId.toString(), manifest: manifest.bytes, version: 5, samples: 10, timestamp: Date.now(), encoding: Encoding.FP32, loss: 0.5, accuracy: 0.9 }
  await honest.services.heads.announce(SESSION, honestHead)
  expect(await waitFor(() => sameState(targetDoc, control) && target.services.heads.heads(SESSION).size === 1, 10_000)).toBe(true)
  countVerdicts(STATE)
  countVerdicts(HEADS)
}, 30_000)

afterAll(async () => {
  guard.dispose()
  await bare?.stop()
  await stopAll(nodes)
  console.log(`\ngossip fuzz (seed ${SEED}, ${INPUTS} inputs per topic):\n${table.format()}\n`)
})

function statePayloads (): fc.Arbitrary<{ kind: string, data: Uint8Array }> {
  const msg = (type: StateSyncMessage.Type, payload: Uint8Array, session = SESSION): Uint8Array =>
    encodeStateSyncMessage({ type, session, payload: payload as Uint8Array<ArrayBuffer> })
  const honestUpdate = fc.constantFrom(...honestUpdates)
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map(data => ({ kind: 'random bytes', data })),
    fc.uint8Array({ maxLength: 200 }).map(b => ({ kind: 'update, random Yjs', data: msg(StateSyncMessage.Type.UPDATE, b) })),
    fc.tuple(honestUpdate, fc.integer()).map(([u, s]) => ({ kind: 'update, mutated Yjs', data: msg(StateSyncMessage.Type.UPDATE, mutate(u, seeded(s)).bytes) })),
    fc.tuple(honestUpdate, fc.integer()).map(([u, s]) => ({ kind: 'mutated message', data: mutate(msg(StateSyncMessage.Type.UPDATE, u), seeded(s)).bytes })),
    honestUpdate.map(u => ({ kind: 'replayed update', data: msg(StateSyncMessage.Type.UPDATE, u) })),
    honestUpdate.map(u => ({ kind: 'wrong session', data: msg(StateSyncMessage.Type.UPDATE, u, 'elsewhere') })),
    fc.constant({ kind: 'state vector on topic', data: msg(StateSyncMessage.Type.STATE_VECTOR, Y.encodeStateVector(control)) }),
    fc.integer({ min: 257, max: 4096 }).map(n => ({ kind: 'awareness over 256 B', data: msg(StateSyncMessage.Type.AWARENESS, new Uint8Array(n)) })),
    fc.uint8Array({ maxLength: 256 }).map(b => ({ kind: 'presence, random bytes', data: msg(StateSyncMessage.Type.AWARENESS, b) })),
    fc.oneof(fc.double(), fc.integer({ min: -(2 ** 40), max: 2 ** 52 })).map(t => ({ kind: 'presence, implausible clock', data: msg(StateSyncMessage.Type.AWARENESS, new TextEncoder().encode(String(Math.abs(t - Date.now()) < 20 * 60_000 ? t + 3_600_000 : t))) })),
    fc.tuple(fc.nat({ max: 4096 }), fc.integer()).map(([n, s]) => ({ kind: 'update, missing dependencies', data: msg(StateSyncMessage.Type.UPDATE, orphan(n, s)) }))
  )
}

function headPayloads (): fc.Arbitrary<{ kind: string, data: Uint8Array }> {
  const own = (h: Partial<HeadAnnouncement>): HeadAnnouncement => ({ ...honestHead, peer: attacker.peerId.toString(), version: 1, ...h })
  return fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map(data => ({ kind: 'random bytes', data })),
    fc.integer().map(s => ({ kind: 'mutated head', data: mutate(encodeHeadAnnouncement(own({})), seeded(s)).bytes })),
    fc.nat({ max: 1000 }).map(v => ({ kind: 'spoofed peer', data: encodeHeadAnnouncement({ ...honestHead, version: honestHead.version + 1 + v }) })),
    fc.constant({ kind: 'wrong session', data: encodeHeadAnnouncement(own({ session: 'elsewhere' })) }),
    fc.integer({ min: 3_600_000, max: 2 ** 40 }).map(dt => ({ kind: 'future timestamp', data: encodeHeadAnnouncement(own({ timestamp: Date.now() + dt, version: 1_000_000 })) })),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map(m => ({ kind: 'garbage manifest CID', data: concat(encodeHeadAnnouncement(own({})), Uint8Array.of(0x1a), varint(m.length), m) })),
    fc.nat({ max: 20 }).map(v => ({ kind: 'own head (valid, replayed)', data: encodeHeadAnnouncement(own({ version: v })) })),
    fc.tuple(fc.constantFrom(Infinity, -Infinity), fc.nat({ max: 1000 })).map(([loss, v]) => ({ kind: 'infinite loss', data: encodeHeadAnnouncement(own({ loss, version: 100 + v })) })),
    fc.integer({ min: 2 ** 52 + 1, max: Number.MAX_SAFE_INTEGER }).map(version => ({ kind: 'version over 2^52', data: encodeHeadAnnouncement(own({ version })) })),
    fc.nat({ max: 1000 }).map(v => ({ kind: 'NaN loss and accuracy (unknown, valid)', data: encodeHeadAnnouncement(own({ loss: NaN, accuracy: NaN, version: 2000 + v })) }))
  )
}

/** An update that builds on an edit of its author's that nobody ever sees. */
function orphan (bytes: number, seed: number): Uint8Array {
  const doc = new Y.Doc()
  doc.clientID = (seed >>> 0) % 2 ** 31
  doc.getMap('members').set('hidden', 1)
  const sv = Y.encodeStateVector(doc)
  doc.getMap('members').set('orphan', 'x'.repeat(bytes))
  return Y.encodeStateAsUpdate(doc, sv)
}

/** Accepted state updates the target must hold: those it let through and a correct peer would apply (Yjs takes them). */
function applyAcceptedToControl (): number {
  let n = 0
  for (const { topic, data, verdict } of validated) {
    if (topic !== STATE || verdict !== 'accept') continue
    try {
      const m = decodeStateSyncMessage(data)
      if (m.session !== SESSION || m.type !== StateSyncMessage.Type.UPDATE) continue
      const scratch = new Y.Doc()
      Y.applyUpdate(scratch, Y.encodeStateAsUpdate(control))
      Y.applyUpdate(scratch, m.payload)
      Y.applyUpdate(control, m.payload)
      n++
    } catch { /* malformed: a correct peer drops it */ }
  }
  return n
}

describe('hostile payloads on the gossipsub topics of a session', () => {
  it(`${STATE} and ${HEADS}: validators refuse malformed messages, nothing malformed lands`, async () => {
    const publish = async (topic: string, kind: string, data: Uint8Array): Promise<void> => {
      const key = keyOf(topic, data)
      kinds.set(key, [...(kinds.get(key) ?? []), kind])
      await attacker.services.pubsub.publish(topic, data).catch(() => { table.record('gossip: attacker publish', 'refused locally') })
    }
    await fc.assert(fc.asyncProperty(statePayloads(), async p => { await publish(STATE, p.kind, p.data) }), { numRuns: INPUTS, seed: SEED })
    await fc.assert(fc.asyncProperty(headPayloads(), async p => { await publish(HEADS, p.kind, p.data) }), { numRuns: INPUTS, seed: SEED + 1 })
    await quiet()
    // what never reached a validator was dropped by gossipsub itself (peer score, duplicates)
    for (const [key, left] of kinds) for (const kind of left) table.record(rowOf(key.split(' ')[0] as string, kind), 'dropped by gossipsub')
    kinds.clear()
    const applied = applyAcceptedToControl()
    console.log(`gossip state: ${applied} accepted updates were well-formed Yjs and applied (no-ops or attacker-authored edits)`)

    expect(sameState(targetDoc, control)).toBe(true)
    // nothing held back inside the document, and what the target holds aside is within the caps
    expect(targetDoc.store.pendingStructs).toBeNull()
    expect(targetDoc.store.pendingDs).toBeNull()
    expect(target.services.state.stats.pendingBytes).toBeLessThanOrEqual(PENDING_LIMITS.perPeerBytes)
    // what can be checked was checked: none of these was let through (so none was forwarded)
    for (const kind of ['presence, random bytes', 'presence, implausible clock', 'update, missing dependencies']) {
      expect(table.count(rowOf(STATE, kind)), kind).toBeGreaterThan(0)
      expect(table.count(rowOf(STATE, kind), 'validator: accept'), kind).toBe(0)
    }
    for (const kind of ['infinite loss', 'version over 2^52']) {
      expect(table.count(rowOf(HEADS, kind)), kind).toBeGreaterThan(0)
      expect(table.count(rowOf(HEADS, kind), 'validator: accept'), kind).toBe(0)
    }
    // the honest peer's head is untouched by spoofs; every head is signed by the peer it names
    const heads = target.services.heads.heads(SESSION)
    expect(heads.get(honest.peerId.toString())?.version).toBe(honestHead.version)
    for (const [peer, h] of heads) expect(h.from.toString()).toBe(peer)
    expect(guard.failures).toEqual([])
  }, 60_000 + INPUTS * 20)

  it('raw gossipsub frames: forged signatures, unsigned and replayed messages, garbage', async () => {
    bare = await createLibp2p({
      addresses: { listen: [`/memory/murmur-fuzz-bare-${process.pid}`] },
      transports: [memory()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
      services: { identify: identify() }
    })
    await bare.dial(target.getMultiaddrs())
    const rand = seeded(SEED + 2)
    const honestFrom = honest.peerId.toMultihash().bytes
    const seqno = (): Uint8Array => randomBytes(rand, 8)
    const update = encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session: SESSION, payload: Y.encodeStateAsUpdate(control) as Uint8Array<ArrayBuffer> })
    const replay = (m: Message): RPC.Message => m.type === 'signed'
      ? { from: m.from.toMultihash().bytes, data: m.data, seqno: bigEndian(m.sequenceNumber), topic: m.topic, signature: m.signature, key: m.key.raw }
      : { data: m.data, topic: m.topic }
    const rpcs: Array<[string, Uint8Array]> = []
    for (let i = 0; i < 20; i++) rpcs.push(['forged signature', RPC.encode({ subscriptions: [], messages: [{ from: honestFrom, data: update, seqno: seqno(), topic: STATE, signature: randomBytes(rand, 64) }] })])
    for (let i = 0; i < 20; i++) rpcs.push(['unsigned message', RPC.encode({ subscriptions: [], messages: [{ data: update, topic: STATE }] })])
    for (const m of honestMessages.slice(0, 20)) rpcs.push(['replayed honest message', RPC.encode({ subscriptions: [], messages: [replay(m)] })])
    for (let i = 0; i < 20; i++) rpcs.push(['random RPC bytes', randomBytes(rand, 1 + Math.floor(rand() * 300))])
    const chunks = rpcs.map(([, b]) => frame(b))
    const before = validated.length
    const x = await exchange(async () => (bare as Libp2p).dialProtocol(target.peerId, '/meshsub/1.1.0', { signal: AbortSignal.timeout(5000) }), [concat(...chunks), concat(varint(64 * 1024 * 1024), new Uint8Array(16))], { timeoutMs: 5000 })
    for (const [kind] of rpcs) table.record(`gossip raw RPC: ${kind}`, `never validated (stream ${x.end})`)
    await quiet()
    // none of them reaches Murmur's validators: gossipsub drops them on signature, policy or duplicate
    expect(validated.length - before).toBe(0)
    expect(sameState(targetDoc, control)).toBe(true)

    // gossip from the honest peer still flows
    upsertMember(honestDoc, { peerId: 'after-barrage', role: 'trainer', backend: 'wasm', samples: 1, joinedAt: 1, lastSeen: 1 })
    expect(await waitFor(() => getMember(targetDoc, 'after-barrage') != null, 10_000)).toBe(true)
    expect(sameState(targetDoc, control)).toBe(true)
    expect(guard.failures).toEqual([])
  }, 60_000)
})

function bigEndian (n: bigint): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, n)
  return out
}
