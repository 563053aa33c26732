import type { IdentifyResult, PeerId } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import { sleep } from '@murmur/protocol'
import type { IceServer } from '@murmur/protocol'
import { parseMultiaddr } from '../peer/bootstrap.js'
import { summarizeConnection } from '../peer/connection-info.js'
import type { ConnectionSummary } from '../peer/connection-info.js'
import { PeerUnreachableError } from '../errors.js'
import { createNodePeer } from '../peer/node-peer.js'

/** What `murmur status` learns about a peer. */
export interface PeerStatus {
  peer: string
  /** The remote's user agent, e.g. `murmur-node/0.1.0`. */
  agentVersion?: string
  /** Protocols the remote speaks, from identify, sorted. */
  protocols: string[]
  /** Addresses the remote listens on, from identify. */
  listenAddrs: string[]
  connection: ConnectionSummary
  /** Round trip of one ping, in milliseconds. */
  rttMs: number
}

/** Options of `peerStatus`. */
export interface PeerStatusOptions {
  /**
   * Milliseconds for the dial, identify and ping together.
   * @default 10000
   */
  timeout?: number
  /** STUN servers, for `/p2p-circuit/webrtc` targets behind NAT. */
  iceServers?: IceServer[]
}

/** Dial a peer from a short-lived node and report who it is, what it speaks and how far it is. */
export async function peerStatus (target: string, options: PeerStatusOptions = {}): Promise<PeerStatus> {
  const ma = parseMultiaddr(target, 'peer address')
  const timeout = options.timeout ?? 10_000
  const signal = AbortSignal.timeout(timeout)
  // a prober needs no listener, no DHT service for others, no relay slot
  const node = await createNodePeer({ listen: [], dhtMode: 'client', directUpgrade: false, iceServers: options.iceServers })
  try {
    let identified: IdentifyResult | undefined
    const gotIdentify = new Promise<void>(resolve => {
      node.addEventListener('peer:identify', evt => { identified = evt.detail; resolve() })
      signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
    let connection
    try {
      connection = await node.dial(ma, { signal })
    } catch (err) {
      const why = signal.aborted ? `no answer within ${timeout} ms` : (err as Error).message
      throw new PeerUnreachableError(`could not reach ${target}: ${why}; check the address and that the peer is running`, { cause: err })
    }
    await gotIdentify
    const rttMs = await pingOnce(node.services.ping, connection.remotePeer, signal)
    const stored = await node.peerStore.get(connection.remotePeer).catch(() => undefined)
    return {
      peer: connection.remotePeer.toString(),
      agentVersion: identified?.agentVersion ?? textOf(stored?.metadata.get('AgentVersion')),
      protocols: [...(identified?.protocols ?? stored?.protocols ?? [])].sort(),
      listenAddrs: (identified?.listenAddrs ?? stored?.addresses.map(a => a.multiaddr) ?? []).map(String),
      connection: summarizeConnection(connection),
      rttMs
    }
  } finally {
    await node.stop()
  }
}

async function pingOnce (service: Ping, peer: PeerId, signal: AbortSignal): Promise<number> {
  // libp2p's connection monitor pings new connections too, and ping allows one outbound stream
  for (let attempt = 0; ; attempt++) {
    try {
      return await service.ping(peer, { signal })
    } catch (err) {
      if ((err as Error).name !== 'TooManyOutboundProtocolStreamsError' || attempt >= 4) throw err
      await sleep(100 * (attempt + 1))
    }
  }
}

function textOf (bytes: Uint8Array | undefined): string | undefined {
  return bytes == null ? undefined : new TextDecoder().decode(bytes)
}

/** Render a status report for a terminal. */
export function formatStatus (status: PeerStatus): string {
  const c = status.connection
  return [
    `peer        ${status.peer}`,
    `agent       ${status.agentVersion ?? 'unknown'}`,
    `connection  ${c.transport} ${c.direct ? 'direct' : 'relayed'} ${c.direction} ${c.remoteAddr}`,
    `rtt         ${status.rttMs} ms`,
    `protocols   ${status.protocols.join('\n            ')}`,
    `listening   ${status.listenAddrs.join('\n            ')}`
  ].join('\n')
}
