import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayed } from './direct-upgrade.js'

/** The transport a connection rides on, in the words operators use. */
export type TransportName = 'webrtc' | 'webrtc-direct' | 'wss' | 'ws' | 'tcp' | 'memory' | 'relay' | 'unknown'

/**
 * Name the transport of an address. A `/p2p-circuit/webrtc` address is WebRTC (the relay
 * only carried the SDP); any other circuit address is the relay itself.
 */
export function transportOf (addr: Multiaddr | string): TransportName {
  const text = addr.toString()
  const afterCircuit = text.includes('/p2p-circuit') ? text.slice(text.lastIndexOf('/p2p-circuit')) : text
  if (afterCircuit.includes('/webrtc-direct')) return 'webrtc-direct'
  if (afterCircuit.includes('/webrtc')) return 'webrtc'
  if (text.includes('/p2p-circuit')) return 'relay'
  if (text.includes('/wss') || text.includes('/tls/ws')) return 'wss'
  if (text.includes('/ws')) return 'ws'
  if (text.includes('/tcp/')) return 'tcp'
  if (text.includes('/memory/')) return 'memory'
  return 'unknown'
}

/** What `murmur status` and agents say about one connection. */
export interface ConnectionSummary {
  /** Remote peer id. */
  peer: string
  transport: TransportName
  /** False when the bytes pass through a relay (limited by it). */
  direct: boolean
  direction: 'inbound' | 'outbound'
  remoteAddr: string
}

/** Summarise a connection for printing. */
export function summarizeConnection (connection: Connection): ConnectionSummary {
  const relayed = isRelayed(connection)
  const transport = transportOf(connection.remoteAddr)
  return {
    peer: connection.remotePeer.toString(),
    // a WebRTC connection keeps the circuit address it was dialled through but its bytes go peer to peer
    transport: relayed ? 'relay' : transport,
    direct: !relayed,
    direction: connection.direction,
    remoteAddr: connection.remoteAddr.toString()
  }
}
