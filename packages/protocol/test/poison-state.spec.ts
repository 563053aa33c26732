import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import type { PeerId } from '@libp2p/interface'
import { createSessionDoc, setConfig, getConfig, sameState } from '../src/state/index.js'
import { StateSyncMessage, encodeStateSyncMessage, stateTopic } from '../src/wire/index.js'
import { PENDING_LIMITS } from '../src/mesh/state/constants.js'
import type { StateRefusal } from '../src/mesh/state-sync.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'
import { tinyModel } from './helpers/tiny-model.js'

// Issue 13, "poisoned state": an outside peer gossips Yjs updates whose dependencies never
// exist. Before the fix every replica accepted, forwarded and kept them as pending structs,
// handed them to every newcomer in the state-vector exchange, and a newcomer's exchange
// outgrew the 4 MiB message limit, so it never got the config.

const SESSION = 'poison'
const TOPIC = stateTopic(SESSION)
const KiB = 1024

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

/** An update that builds on an edit nobody will ever see: its author's first one. */
function orphan (bytes: number, key = 'junk'): Uint8Array {
  const doc = new Y.Doc()
  doc.getMap('config').set('seed', 1)
  const before = Y.encodeStateVector(doc)
  doc.getMap('config').set(key, 'x'.repeat(bytes))
  return Y.encodeStateAsUpdate(doc, before)
}

async function gossip (from: MeshNode, update: Uint8Array): Promise<void> {
  await from.services.pubsub.publish(TOPIC, encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session: SESSION, payload: update as Uint8Array<ArrayBuffer> }))
}

/** Count the messages signed by `author` that reach `node`'s state-topic validator (whatever its verdict). */
function arrivals (node: MeshNode, author: PeerId): { count: number } {
  const seen = { count: 0 }
  const validators = node.services.pubsub.topicValidators
  const original = validators.get(TOPIC)
  if (original == null) throw new Error('no state validator')
  validators.set(TOPIC, async (peer, msg) => {
    if (msg.type === 'signed' && msg.from.equals(author)) seen.count++
    return original(peer, msg)
  })
  return seen
}

/** Every `refused` event a node's state service emits, by peer and reason. */
function refusals (node: MeshNode): Array<{ peer: string, reason: StateRefusal }> {
  const out: Array<{ peer: string, reason: StateRefusal }> = []
  node.services.state.addEventListener('refused', evt => { out.push({ peer: evt.detail.peer, reason: evt.detail.reason }) })
  return out
}

const encodedSize = (doc: Y.Doc): number => Y.encodeStateAsUpdate(doc).length
const holdsPending = (doc: Y.Doc): boolean => doc.store.pendingStructs != null || doc.store.pendingDs != null

/** Three members in a line (c – b – a) holding a config, and an outsider connected to `a` only. */
async function poisonedMesh (outsiderJoins: boolean): Promise<{ a: MeshNode, b: MeshNode, c: MeshNode, x: MeshNode, docs: Y.Doc[] }> {
  const [a, b, c, x] = nodes = await Promise.all(Array.from({ length: 4 }, async () => createMemoryNode())) as [MeshNode, MeshNode, MeshNode, MeshNode]
  const docs = [createSessionDoc(), createSessionDoc(), createSessionDoc()]
  setConfig(docs[0] as Y.Doc, { model: tinyModel, averaging: 'plain', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' })
  ;[a, b, c].forEach((n, i) => { n.services.state.join(SESSION, docs[i] as Y.Doc) })
  // an outsider of a public session: it needs no grant, only a subscription (and, to answer
  // exchanges, a replica of its own)
  if (outsiderJoins) x.services.state.join(SESSION, createSessionDoc())
  else x.services.pubsub.subscribe(TOPIC)
  await b.dial(a.getMultiaddrs())
  await c.dial(b.getMultiaddrs())
  await x.dial(a.getMultiaddrs())
  expect(await waitFor(() => docs.every(d => getConfig(d) != null) &&
    x.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(a.peerId)) && a.services.pubsub.getSubscribers(TOPIC).some(p => p.equals(x.peerId)), 10_000)).toBe(true)
  return { a, b, c, x, docs }
}

describe('state an outside peer cannot poison', () => {
  it('ten 512 KiB updates with missing dependencies: not forwarded, not kept, and a newcomer still gets the config', async () => {
    const { a, b, c, x, docs } = await poisonedMesh(false)
    const before = docs.map(encodedSize)
    const atA = arrivals(a, x.peerId)
    const atB = arrivals(b, x.peerId)
    const atC = arrivals(c, x.peerId)
    const refusedByA = refusals(a)

    for (let i = 0; i < 10; i++) await gossip(x, orphan(512 * KiB, `big-${i}`))
    // and a flood of smaller ones, each under the gossip size limit: 60 × 20 KiB
    for (let i = 0; i < 60; i++) await gossip(x, orphan(20 * KiB, `small-${i}`))
    expect(await waitFor(() => atA.count === 70, 15_000)).toBe(true)
    await new Promise(resolve => setTimeout(resolve, 1000)) // time for any forwarding

    const after = docs.map(encodedSize)
    console.log(`encoded document sizes (a, b, c) before ${before.join(', ')} B, after ${after.join(', ')} B; ` +
      `a holds ${a.services.state.stats.pendingBytes} B in ${a.services.state.stats.pendingUpdates} pending updates; ` +
      `arrivals at a/b/c: ${atA.count}/${atB.count}/${atC.count}; refusals at a: ${JSON.stringify(a.services.state.stats.refusals)}`)
    // not forwarded: the members behind a never see them
    expect(atB.count).toBe(0)
    expect(atC.count).toBe(0)
    // not kept: no replica holds pending structs, documents did not grow
    for (const [i, doc] of docs.entries()) {
      expect(holdsPending(doc)).toBe(false)
      expect(after[i]).toBe(before[i])
    }
    // what a holds back is within one peer's cap
    expect(a.services.state.stats.pendingBytes).toBeLessThanOrEqual(PENDING_LIMITS.perPeerBytes)
    // every big one was refused as too large, and the flood ran into the author's write budget
    expect(refusedByA.filter(r => r.peer === x.peerId.toString() && r.reason === 'oversized')).toHaveLength(10)
    expect(refusedByA.some(r => r.reason === 'over-budget')).toBe(true)

    // a newcomer that connects to the attacked member afterwards gets the document, quickly
    const d = await createMemoryNode()
    nodes.push(d)
    const docD = createSessionDoc()
    d.services.state.join(SESSION, docD)
    const t0 = Date.now()
    await d.dial(a.getMultiaddrs())
    expect(await waitFor(() => getConfig(docD) != null, 5000)).toBe(true)
    console.log(`newcomer got the config ${Date.now() - t0} ms after dialling the attacked member; its document is ${encodedSize(docD)} B`)
    expect(sameState(docD, docs[0] as Y.Doc)).toBe(true)
    expect(holdsPending(docD)).toBe(false)
  }, 60_000)

  it('an outsider that answers exchanges but never supplies what its updates build on is refused, and nothing is left held', async () => {
    const { a, x, docs } = await poisonedMesh(true)
    const refusedByA = refusals(a)
    const atA = arrivals(a, x.peerId)
    for (let i = 0; i < 3; i++) await gossip(x, orphan(8 * KiB, `orphan-${i}`))
    expect(await waitFor(() => atA.count >= 3, 10_000)).toBe(true)
    // a asks x for what they build on; the exchange completes without it, so they go
    expect(await waitFor(() => refusedByA.filter(r => r.peer === x.peerId.toString() && r.reason === 'missing-dependencies').length === 3, 10_000)).toBe(true)
    expect(a.services.state.stats.pendingUpdates).toBe(0)
    expect(holdsPending(docs[0] as Y.Doc)).toBe(false)
  }, 30_000)

  it('an update whose missing dependency arrives later is applied, and reaches the members behind', async () => {
    const { a, b, c, x, docs } = await poisonedMesh(false)
    // an honest author whose first edit is delayed: its second arrives first
    const author = new Y.Doc()
    const edits: Uint8Array[] = []
    author.on('update', (u: Uint8Array) => edits.push(u))
    author.getMap('members').set('first', { n: 1 })
    author.getMap('members').set('second', { n: 2 })
    const atA = arrivals(a, x.peerId)
    await gossip(x, edits[1] as Uint8Array)
    expect(await waitFor(() => atA.count === 1, 10_000)).toBe(true)
    expect(a.services.state.stats.pendingUpdates).toBe(1)
    expect((docs[0] as Y.Doc).getMap('members').has('second')).toBe(false)
    await gossip(x, edits[0] as Uint8Array)
    // a applies both, the second from its pending buffer; b and c (which never got the
    // second by gossip: a did not forward it) receive it through a's exchange with b
    expect(await waitFor(() => docs.every(d => d.getMap('members').has('first') && d.getMap('members').has('second')), 15_000)).toBe(true)
    expect(a.services.state.stats.heldApplied).toBeGreaterThanOrEqual(1)
    expect(a.services.state.stats.pendingUpdates).toBe(0)
    for (const d of docs) expect(holdsPending(d)).toBe(false)
    void b
    void c
  }, 30_000)
})
