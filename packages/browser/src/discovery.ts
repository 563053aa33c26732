/**
 * The browser's part in finding session members: protocol's rendezvous loop, dialling each
 * member over WebRTC (the relay carries only the SDP exchange).
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { discoverSessionPeers as discoverMembers, naming } from '@murmur/protocol'
import type { DialMember, SessionDiscovery, SessionDiscoveryInit, SessionDiscoveryNode } from '@murmur/protocol'

export { sessionRendezvous, isRelayedConnection } from '@murmur/protocol'
export type { SessionDiscovery } from '@murmur/protocol'

/** Options of the browser's `discoverSessionPeers`. */
export interface SessionDiscoveryOptions extends Omit<SessionDiscoveryInit, 'dial' | 'exclude'> {
  /** Relays (ending in `/p2p/<id>`) to signal WebRTC through when a member's record carries no circuit address. */
  relays: string[]
}

/** WebRTC addresses of `peer`: the circuit addresses its record carries, else one through each relay. */
function webrtcAddrs (peer: string, known: Multiaddr[], relays: string[]): Multiaddr[] {
  const fromRecord = known.filter(ma => ma.toString().includes('/p2p-circuit/webrtc'))
  if (fromRecord.length > 0) return naming(peer, fromRecord)
  return relays.map(r => multiaddr(`${r}/p2p-circuit/webrtc/p2p/${peer}`))
}

/** Dial a member over WebRTC through the relays. */
export function webrtcDial (node: Pick<SessionDiscoveryNode, 'dial'>, relays: string[]): DialMember {
  return async (peer, known, options) => await node.dial(webrtcAddrs(peer.toString(), known, relays), options)
}

/**
 * Announce this page in the session's rendezvous record and keep direct WebRTC
 * connections to the members the record (and `doc`, when given) names.
 */
export function discoverSessionPeers (node: SessionDiscoveryNode, options: SessionDiscoveryOptions): SessionDiscovery {
  const { relays, ...init } = options
  const exclude = relays.map(r => /\/p2p\/([^/]+)$/.exec(r)?.[1]).filter((p): p is string => p != null)
  return discoverMembers(node, { ...init, exclude, dial: webrtcDial(node, relays) })
}
