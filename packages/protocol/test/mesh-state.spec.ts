import { describe, it, expect, afterEach } from 'vitest'
import * as Y from 'yjs'
import { createSessionDoc, upsertMember, recordRound, sameState, listMembers, getMember, getConfig, setConfig, REMOTE_ORIGIN } from '../src/state/index.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import { tinyModel } from './helpers/tiny-model.js'
import type { MeshNode } from './helpers/mesh.js'

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

async function chain (group: MeshNode[]): Promise<void> {
  for (let i = 1; i < group.length; i++) {
    await (group[i] as MeshNode).dial((group[i - 1] as MeshNode).getMultiaddrs())
    if (i >= 2) await (group[i] as MeshNode).dial((group[i - 2] as MeshNode).getMultiaddrs())
  }
}

const member = (peerId: string, t: number) => ({ peerId, role: 'trainer' as const, backend: 'wasm', samples: t, joinedAt: t, lastSeen: t })

describe('state sync over a real libp2p mesh', () => {
  it('delivers live edits by gossip, not only on connect', async () => {
    nodes = await Promise.all(Array.from({ length: 4 }, async () => createMemoryNode()))
    const docs = nodes.map(() => createSessionDoc())
    nodes.forEach((n, i) => { n.services.state.join('live', docs[i] as Y.Doc) })
    await chain(nodes)
    // wait for the gossip mesh to form, then edit on one end
    await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers('/murmur/live/state').length > 0), 10_000)
    upsertMember(docs[0] as Y.Doc, member('edited-live', 1))
    const arrived = await waitFor(() => docs.every(d => getMember(d, 'edited-live') != null), 10_000)
    expect(arrived).toBe(true)
    expect(nodes[3]?.services.state.stats.updatesApplied).toBeGreaterThan(0)
  }, 30_000)

  it('two partitioned halves edit apart and hold the identical document after healing', async () => {
    nodes = await Promise.all(Array.from({ length: 10 }, async () => createMemoryNode()))
    const docs = nodes.map(() => createSessionDoc())
    nodes.forEach((n, i) => { n.services.state.join('split', docs[i] as Y.Doc) })
    const left = nodes.slice(0, 5)
    const right = nodes.slice(5)
    await chain(left)
    await chain(right)
    // each half edits while cut off from the other
    for (let i = 0; i < 10; i++) {
      const doc = docs[i] as Y.Doc
      upsertMember(doc, member(`peer-${i}`, i + 1))
      recordRound(doc, {
        head: { peerId: `peer-${i}`, manifest: `bafk-${i}`, version: i + 1, samples: 100, encoding: 'fp32', timestamp: i },
        metrics: { peerId: `peer-${i}`, round: 1, loss: 1, accuracy: 0.1 * i, bytesSent: 0, bytesReceived: 0, timestamp: i }
      })
    }
    const halvesSettled = await waitFor(() => left.every((_, i) => sameState(docs[0] as Y.Doc, docs[i] as Y.Doc)) && right.every((_, i) => sameState(docs[5] as Y.Doc, docs[5 + i] as Y.Doc)), 15_000)
    expect(halvesSettled).toBe(true)
    expect(sameState(docs[0] as Y.Doc, docs[5] as Y.Doc)).toBe(false)

    // heal: one link between the halves; the state-vector exchange on connect catches up exactly
    const healedAt = Date.now()
    await (nodes[5] as MeshNode).dial((nodes[4] as MeshNode).getMultiaddrs())
    const converged = await waitFor(() => docs.every(d => sameState(docs[0] as Y.Doc, d)), 20_000)
    expect(converged).toBe(true)
    console.log(`partition healed: 10 replicas identical ${Date.now() - healedAt} ms after the link came back`)
    expect(listMembers(docs[9] as Y.Doc)).toHaveLength(10)
  }, 60_000)

  it('a peer that joins after its connections opened still gets the document (no gossip needed)', async () => {
    nodes = await Promise.all(Array.from({ length: 2 }, async () => createMemoryNode()))
    const [a, b] = nodes as [MeshNode, MeshNode]
    const docA = createSessionDoc()
    setConfig(docA, { model: tinyModel, averaging: 'plain', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' })
    a.services.state.join('late', docA)
    // the connection (and its identify) comes first, as when a DHT walk dials a member
    await b.dial(a.getMultiaddrs())
    // identify runs again about a second after connecting (identify-push), which would also
    // run the exchange: join only after that, as a page does whose DHT walk dialled long before
    await new Promise(resolve => setTimeout(resolve, 2500))
    const docB = createSessionDoc()
    b.services.state.join('late', docB)
    // A edits nothing after the join: only a catch-up exchange can bring the config over
    expect(await waitFor(() => getConfig(docB) != null, 5000)).toBe(true)
    expect(sameState(docA, docB)).toBe(true)
  }, 20_000)

  it('gossip that builds on edits a peer missed makes it catch up instead of holding the edit back', async () => {
    nodes = await Promise.all(Array.from({ length: 2 }, async () => createMemoryNode()))
    const [a, b] = nodes as [MeshNode, MeshNode]
    const docA = createSessionDoc()
    const docB = createSessionDoc()
    a.services.state.join('gap', docA)
    b.services.state.join('gap', docB)
    await b.dial(a.getMultiaddrs())
    await waitFor(() => a.services.pubsub.getSubscribers('/murmur/gap/state').length > 0 && b.services.pubsub.getSubscribers('/murmur/gap/state').length > 0, 10_000)
    await new Promise(resolve => setTimeout(resolve, 2500)) // past the exchanges identify runs
    // an edit A never gossips (as if its message was lost), then one it does, which builds on it
    Y.transact(docA, () => { upsertMember(docA, member('missed', 1)) }, REMOTE_ORIGIN)
    upsertMember(docA, member('gossiped', 2))
    expect(await waitFor(() => getMember(docB, 'gossiped') != null && getMember(docB, 'missed') != null, 10_000)).toBe(true)
    expect(sameState(docA, docB)).toBe(true)
  }, 30_000)

  it('tracks presence of peers in the session', async () => {
    nodes = await Promise.all(Array.from({ length: 3 }, async () => createMemoryNode({ state: { presenceInterval: 300 } })))
    nodes.forEach(n => { n.services.state.join('presence', createSessionDoc()) })
    await chain(nodes)
    const seen = await waitFor(() => (nodes[0]?.services.state.presence('presence').size ?? 0) >= 2, 10_000)
    expect(seen).toBe(true)
    await nodes[2]?.stop()
    const gone = await waitFor(() => !(nodes[0]?.services.state.presence('presence').has((nodes[2] as MeshNode).peerId.toString()) ?? true), 10_000)
    expect(gone).toBe(true)
  }, 30_000)
})
