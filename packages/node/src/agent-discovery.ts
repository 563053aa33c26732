/**
 * How training agents that know only a relay find each other: each one provides a
 * rendezvous key derived from the session id in the Murmur DHT (the relay is a DHT server),
 * looks the key up, and also reads the members the session document lists; every session
 * peer it lacks a direct connection to is dialled (plain dial first, then the relay with its
 * direct upgrade and WebRTC). Gossip learning merges only over direct connections.
 */
import type { Connection, PeerId, ServiceMap } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { cidForBytes, listMembers } from '@murmur/protocol'
import type * as Y from 'yjs'
import type { Agent } from './agent.js'

/** Options of `discoverSessionPeers`. */
export interface DiscoveryOptions<S extends ServiceMap = ServiceMap> {
  agent: Agent<S>
  session: string
  /** The session document, whose member list names more peers to reach. */
  doc: Y.Doc
  /** Peer ids of the bootstrap relays (not session peers). */
  relays: Set<string>
  /** Stop looking when this fires. */
  signal: AbortSignal
  /**
   * Direct connections to session peers beyond which no more are dialled.
   * @default 8
   */
  maxPeers?: number
  /**
   * Milliseconds between looks while below `maxPeers`.
   * @default 2000
   */
  interval?: number
  /** Told about each dial that failed (`connect` reports are the agent's own events). */
  onError?: (peer: string, err: Error) => void
}

/** The DHT key session peers provide, so peers that know only a relay meet. */
export async function sessionRendezvous (session: string): Promise<ReturnType<typeof cidForBytes>> {
  return cidForBytes(new TextEncoder().encode(`/murmur/session/${session}`))
}

/** Session peers (not relays) this node holds an unlimited, open connection to. */
export function directSessionPeers (connections: Connection[], relays: Set<string>): Set<string> {
  const out = new Set<string>()
  for (const c of connections) {
    const peer = c.remotePeer.toString()
    if (c.limits == null && c.status === 'open' && !relays.has(peer)) out.add(peer)
  }
  return out
}

/** Look for session peers and connect to them until `signal` fires; resolves then. */
export async function discoverSessionPeers<S extends ServiceMap> (options: DiscoveryOptions<S>): Promise<void> {
  const { agent, signal, relays } = options
  const node = agent.node
  const self = node.peerId.toString()
  const maxPeers = options.maxPeers ?? 8
  const interval = options.interval ?? 2000
  const key = await sessionRendezvous(options.session)
  const dialling = new Set<string>()
  let providedAt = 0

  const reach = async (peer: string): Promise<void> => {
    dialling.add(peer)
    try {
      let id: PeerId
      try { id = peerIdFromString(peer) } catch { return }
      try {
        await node.dial(id, { signal: AbortSignal.any([signal, AbortSignal.timeout(8000)]) })
      } catch { /* no known direct address: the relay path below */ }
      if (directSessionPeers(node.getConnections(id), relays).has(peer) || signal.aborted) return
      const report = await agent.connect(peer)
      if (!report.relayed && report.upgrade == null && !report.webrtc) options.onError?.(peer, new Error(report.errors.join('; ')))
    } catch (err) {
      options.onError?.(peer, err as Error)
    } finally {
      dialling.delete(peer)
    }
  }

  while (!signal.aborted) {
    const now = Date.now()
    // providing again now and then refreshes the record and reaches DHT servers that joined later
    if (now - providedAt > 30_000) {
      try {
        await node.contentRouting.provide(key, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) })
        providedAt = now
      } catch { /* no DHT server reachable yet: next turn */ }
    }
    const direct = directSessionPeers(node.getConnections(), relays)
    if (direct.size < maxPeers) {
      const candidates = new Set<string>()
      for (const m of listMembers(options.doc)) if (m.leftAt == null) candidates.add(m.peerId)
      try {
        for await (const p of node.contentRouting.findProviders(key, { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) })) {
          candidates.add(p.id.toString())
        }
      } catch { /* lookup timed out: use what arrived */ }
      const todo = [...candidates].filter(p => p !== self && !relays.has(p) && !direct.has(p) && !dialling.has(p))
      for (const p of todo.slice(0, Math.max(0, maxPeers - direct.size - dialling.size))) void reach(p)
    }
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, interval)
      function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
