import { describe, it, expect, afterEach } from 'vitest'
import { createSessionDoc, upsertMember } from '../src/state/index.js'
import { discoverSessionPeers, directSessionPeers, isRelayedConnection, sessionRendezvous } from '../src/mesh/discovery.js'
import type { SessionDiscovery, SessionDiscoveryNode } from '../src/mesh/discovery.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

let nodes: MeshNode[] = []
let loops: SessionDiscovery[] = []
afterEach(async () => {
  for (const l of loops) l.stop()
  await Promise.all(loops.map(async l => { await l.done }))
  loops = []
  await stopAll(nodes)
  nodes = []
})

/** The real node, with its DHT lookups counted (so a test can see the loop go quiet). */
function counted (node: MeshNode): { node: SessionDiscoveryNode, lookups: () => number } {
  let n = 0
  const contentRouting = {
    provide: node.contentRouting.provide.bind(node.contentRouting),
    cancelReprovide: node.contentRouting.cancelReprovide.bind(node.contentRouting),
    put: node.contentRouting.put.bind(node.contentRouting),
    get: node.contentRouting.get.bind(node.contentRouting),
    findProviders: (...args: Parameters<MeshNode['contentRouting']['findProviders']>) => { n++; return node.contentRouting.findProviders(...args) }
  }
  const view: SessionDiscoveryNode = {
    peerId: node.peerId,
    contentRouting,
    getConnections: node.getConnections.bind(node),
    dial: node.dial.bind(node)
  }
  return { node: view, lookups: () => n }
}

const FAST = { interval: [200, 1000] as [number, number], fastFor: 60_000, lookupTimeout: 3000, dialTimeout: 5000 }

describe('session discovery over a real libp2p mesh', () => {
  it('five peers that know only one DHT server all connect directly and learn every member', async () => {
    nodes = await Promise.all(Array.from({ length: 6 }, async () => createMemoryNode()))
    const [hub, ...peers] = nodes as [MeshNode, ...MeshNode[]]
    await Promise.all(peers.map(async p => await p.dial(hub.getMultiaddrs())))
    const exclude = [hub.peerId.toString()]
    loops = peers.map(p => discoverSessionPeers(p, { session: 'meet', exclude, ...FAST }))

    const ids = peers.map(p => p.peerId.toString())
    const everyoneMet = await waitFor(() => peers.every((p, i) => {
      const others = ids.filter((_, j) => j !== i)
      const direct = directSessionPeers(p.getConnections(), new Set(exclude))
      return others.every(o => direct.has(o) && loops[i]?.members.has(o) === true)
    }), 40_000, 100)
    expect(everyoneMet).toBe(true)
    // the relay-like hub is never counted as a member, and nobody lists itself
    loops.forEach((l, i) => {
      expect(l.members.has(exclude[0] as string)).toBe(false)
      expect(l.members.has(ids[i] as string)).toBe(false)
      expect(l.members.size).toBe(4)
    })
  }, 55_000)

  it('dials members the document lists, stops at maxPeers, and goes quiet on abort', async () => {
    nodes = await Promise.all(Array.from({ length: 5 }, async () => createMemoryNode()))
    const [hub, seeker, ...listed] = nodes as [MeshNode, MeshNode, ...MeshNode[]]
    await seeker.dial(hub.getMultiaddrs())
    // the listed members never provide the rendezvous and are unknown to the DHT: only the
    // document names them, and only the binding's dial knows how to reach them
    const doc = createSessionDoc()
    for (const m of listed) {
      upsertMember(doc, { peerId: m.peerId.toString(), role: 'trainer', backend: 'cpu', samples: 1, joinedAt: 1, lastSeen: 1 })
    }
    upsertMember(doc, { peerId: 'not-a-peer-id', role: 'trainer', backend: 'cpu', samples: 1, joinedAt: 1, lastSeen: 1 })
    const dialled: string[] = []
    const { node, lookups } = counted(seeker)
    const controller = new AbortController()
    const loop = discoverSessionPeers(node, {
      session: 'listed',
      doc,
      exclude: [hub.peerId.toString()],
      maxPeers: 2,
      signal: controller.signal,
      // a binding's dial: here the listed peers' addresses are handed over as a relay would
      dial: async (peer, _addrs, { signal }) => {
        dialled.push(peer.toString())
        const target = listed.find(m => m.peerId.equals(peer))
        if (target == null) throw new Error('unknown peer')
        return await seeker.dial(target.getMultiaddrs(), { signal })
      },
      ...FAST
    })
    loops.push(loop)

    const reached = await waitFor(() => directSessionPeers(seeker.getConnections(), new Set([hub.peerId.toString()])).size >= 2, 20_000, 100)
    expect(reached).toBe(true)
    // three listed, maxPeers 2: a few passes later still only two were dialled
    const passes = lookups()
    await waitFor(() => lookups() >= passes + 3, 10_000, 50)
    expect(new Set(dialled).size).toBe(2)
    expect(loop.members.size).toBe(3) // the malformed id is no member

    controller.abort()
    await loop.done
    const after = lookups()
    await new Promise(resolve => setTimeout(resolve, 600)) // three fast intervals
    expect(lookups()).toBe(after)
  }, 45_000)

  it('names one rendezvous per session and sees memory connections as direct', async () => {
    const [a, b] = await Promise.all([sessionRendezvous('s1'), sessionRendezvous('s2')])
    expect(a.equals(await sessionRendezvous('s1'))).toBe(true)
    expect(a.equals(b)).toBe(false)
    nodes = await Promise.all([createMemoryNode(), createMemoryNode()])
    const connection = await (nodes[0] as MeshNode).dial((nodes[1] as MeshNode).getMultiaddrs())
    expect(isRelayedConnection(connection)).toBe(false)
    expect(isRelayedConnection({ direct: true, limits: { bytes: 1n } })).toBe(true)
    expect(isRelayedConnection({ direct: false, limits: undefined })).toBe(true)
    expect([...directSessionPeers([connection])]).toEqual([(nodes[1] as MeshNode).peerId.toString()])
    expect(directSessionPeers([connection], new Set([(nodes[1] as MeshNode).peerId.toString()])).size).toBe(0)
  }, 20_000)
})
