import type { Connection } from '@libp2p/interface'
import type { MurmurNode } from '@murmur/protocol'
import { isRelayedConnection } from './discovery.js'

/** How a page is connected to one peer. */
export interface PeerView {
  peerId: string
  /** `relayed` when the bytes pass through a relay, whatever carries them to it. */
  transport: 'webrtc' | 'websockets' | 'relayed' | 'tcp' | 'other'
  /** False when every connection to the peer goes through a relay. */
  direct: boolean
  /** Round-trip time libp2p last measured on the connection, if any. */
  rttMs?: number
}

/** Name a connection's transport in the words `PeerView` uses. */
export function transportOfConnection (connection: Pick<Connection, 'limits' | 'direct' | 'remoteAddr'>): PeerView['transport'] {
  if (isRelayedConnection(connection)) return 'relayed'
  const addr = connection.remoteAddr.toString()
  if (addr.includes('/webrtc')) return 'webrtc'
  if (/\/(ws|wss)(\/|$)/.test(addr)) return 'websockets'
  if (addr.includes('/tcp/')) return 'tcp'
  return 'other'
}

const RANK: Record<PeerView['transport'], number> = { webrtc: 0, websockets: 1, tcp: 2, other: 3, relayed: 4 }

/** One view per connected peer, its best open connection first (direct before relayed). */
export function peerViews (node: MurmurNode): PeerView[] {
  const best = new Map<string, PeerView>()
  for (const c of node.getConnections()) {
    if (c.status !== 'open') continue
    const transport = transportOfConnection(c)
    const view: PeerView = { peerId: c.remotePeer.toString(), transport, direct: transport !== 'relayed', ...(c.rtt != null ? { rttMs: c.rtt } : {}) }
    const cur = best.get(view.peerId)
    if (cur == null || RANK[transport] < RANK[cur.transport]) best.set(view.peerId, view)
  }
  return [...best.values()]
}
