/**
 * The Node agent's part in finding session members: protocol's rendezvous loop (DHT
 * record + the session document's member list), dialling each member plainly first, then
 * through the relay with its direct upgrade and WebRTC (`Agent.connect`).
 */
import type { ServiceMap } from '@libp2p/interface'
import { directSessionPeers, discoverSessionPeers, naming } from '@murmur/protocol'
import type { DialMember, SessionDiscovery, SessionDiscoveryInit } from '@murmur/protocol'
import type { Agent } from './agent.js'

/** Options of `discoverAgentPeers`: protocol's, with the relays to leave out. */
export interface AgentDiscoveryOptions extends Omit<SessionDiscoveryInit, 'dial' | 'exclude'> {
  /** Peer ids of the bootstrap relays (not session peers). */
  relays: ReadonlySet<string>
}

/** Reach a member the way an agent can: a plain dial to its record's addresses (or what the peer store knows), then the relay path. */
export function agentDial<S extends ServiceMap> (agent: Agent<S>, relays: ReadonlySet<string>): DialMember {
  return async (peer, addrs, { signal }) => {
    const node = agent.node
    // the addresses its record carried: the peer store may know none for a member found
    // only through the DHT rendezvous, and a dial by id alone then fails
    const targets = naming(peer.toString(), addrs)
    try {
      await node.dial(targets.length > 0 ? targets : peer, { signal: AbortSignal.any([signal, AbortSignal.timeout(8000)]) })
    } catch { /* no reachable direct address: the relay path below */ }
    if (directSessionPeers(node.getConnections(peer), relays).size > 0 || signal.aborted) return
    const report = await agent.connect(peer.toString())
    if (!report.relayed && report.upgrade == null && !report.webrtc) throw new Error(report.errors.join('; '))
  }
}

/** Look for session peers and connect to them until the signal fires (or `stop()`). */
export function discoverAgentPeers<S extends ServiceMap> (agent: Agent<S>, options: AgentDiscoveryOptions): SessionDiscovery {
  const { relays, ...init } = options
  return discoverSessionPeers(agent.node, { ...init, exclude: relays, dial: agentDial(agent, relays) })
}
