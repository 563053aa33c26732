import type { Connection, PeerId, ServiceMap } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { headsTopic, isValidSessionId, sleep, stateTopic } from '@murmur/protocol'
import type { IceServer, ShardStore } from '@murmur/protocol'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ServiceFactoryMap } from 'libp2p'
import { parseMultiaddr } from '../peer/bootstrap.js'
import { summarizeConnection } from '../peer/connection-info.js'
import type { ConnectionSummary, TransportName } from '../peer/connection-info.js'
import { isRelayed } from '../peer/direct-upgrade.js'
import { pingConnection } from '../peer/probe.js'
import { UsageError } from '../errors.js'
import { createNodePeer } from '../peer/node-peer.js'
import type { NodePeer, NodePeerOptions } from '../peer/node-peer.js'

/** Options of `runAgent`. */
export interface AgentOptions<S extends ServiceMap = Record<never, never>> {
  /** `murmur relay` addresses with `/p2p/<id>`; at least one. */
  bootstrap: string[]
  /** Session id: letters, digits, `.`, `_`, `-` (it names the pubsub topics). */
  session: string
  /**
   * Keeps the identity and datastore across restarts.
   * @default undefined (fresh identity each run)
   */
  dataDir?: string
  /**
   * Listen addresses.
   * @default TCP + WebSockets on random ports, `/p2p-circuit`, `/webrtc`
   */
  listen?: string[]
  /**
   * STUN/TURN servers for WebRTC; behind NAT a STUN server is what makes WebRTC work.
   * @default []
   */
  iceServers?: IceServer[]
  /**
   * How long to wait for the first bootstrap peer before failing.
   * @default 10000
   */
  bootstrapTimeout?: number
  /**
   * How long to wait for a relay reservation before going on without one (reported).
   * @default 10000
   */
  reservationTimeout?: number
  /**
   * Where model shards are kept and served from (see `NodePeerOptions.store`).
   * @default a store in the data directory's datastore, else in memory
   */
  store?: ShardStore
  /** Extra libp2p services, merged over the defaults. */
  services?: ServiceFactoryMap<S>
  /** This peer's scores of others (gossipsub's application score, bans in the gater). */
  scores?: NodePeerOptions['scores']
  /** Receives everything the agent does worth telling its operator. */
  onEvent?: (event: AgentEvent) => void
}

/** What an agent reports. `direct` is the hook for work that needs a direct connection. */
export type AgentEvent =
  | { type: 'started', peer: string, addrs: string[] }
  | { type: 'reserved', addrs: string[] }
  | { type: 'reservation-missing', reason: string }
  | { type: 'subscribed', topics: string[] }
  | { type: 'connect', connection: ConnectionSummary, peers: number }
  /** A direct connection to a session peer opened and carried a ping (the hook for shard fetches). */
  | { type: 'direct', connection: ConnectionSummary, rttMs: number }
  | { type: 'disconnect', peer: string, peers: number }
  | { type: 'connect-report', report: ConnectReport }

/** How `Agent.connect` went, transport by transport. */
export interface ConnectReport {
  peer: string
  /** The relayed (signalling) connection opened. */
  relayed: boolean
  /** Transport of the direct connection DCUtR or the direct upgrade made from the relayed one, if any. */
  upgrade?: TransportName
  /** A direct WebRTC connection opened through `/p2p-circuit/webrtc`. */
  webrtc: boolean
  /** Why each failed step failed. */
  errors: string[]
  /** Milliseconds from the start of `connect` until each step succeeded. */
  ms: { relayed?: number, upgrade?: number, webrtc?: number }
}

/** A running agent. */
export interface Agent<S extends ServiceMap = Record<never, never>> {
  node: NodePeer<S>
  topics: { state: string, heads: string }
  /**
   * Reach a session peer known by id (through our relays) or by multiaddr: open the
   * relayed connection, then wait up to `upgradeTimeout` ms for DCUtR / the direct upgrade
   * while trying WebRTC alongside, and report which worked.
   */
  connect(target: string, options?: { upgradeTimeout?: number, webrtcTimeout?: number }): Promise<ConnectReport>
  stop(): Promise<void>
}


/** Start an agent: join through the bootstrap relays, reserve a relay slot, subscribe to the session. */
export async function runAgent<S extends ServiceMap = Record<never, never>> (options: AgentOptions<S>): Promise<Agent<S>> {
  if (!isValidSessionId(options.session)) throw new UsageError(`invalid session id "${options.session}": use 1-64 letters, digits, '.', '_' or '-'`)
  if (options.bootstrap.length === 0) throw new UsageError('an agent needs at least one bootstrap address (--bootstrap /ip4/.../p2p/<relay id>)')
  const relays = options.bootstrap.map(a => parseMultiaddr(a, 'bootstrap address'))
  const emit = options.onEvent ?? (() => {})

  const node = await createNodePeer<S>({
    dataDir: options.dataDir,
    listen: options.listen,
    bootstrap: options.bootstrap,
    bootstrapTimeout: options.bootstrapTimeout ?? 10_000,
    iceServers: options.iceServers,
    store: options.store,
    services: options.services,
    scores: options.scores
  })
  const relayIds = new Set(relays.map(peerIdOf).filter((p): p is string => p != null))
  const isSessionPeer = (c: Connection): boolean => !relayIds.has(c.remotePeer.toString())

  const onOpen = (evt: CustomEvent<Connection>): void => {
    const connection = evt.detail
    const summary = summarizeConnection(connection)
    emit({ type: 'connect', connection: summary, peers: node.getPeers().length })
    if (isRelayed(connection) || !isSessionPeer(connection)) return
    // announce a direct connection only once data has crossed it: libp2p can hand the
    // answering side of a WebRTC dial a connection whose ICE never completed
    confirmDirect(connection).then(rttMs => {
      if (rttMs != null) emit({ type: 'direct', connection: summary, rttMs })
    }, () => {})
  }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => {
    emit({ type: 'disconnect', peer: evt.detail.toString(), peers: node.getPeers().length })
  }
  node.addEventListener('connection:open', onOpen)
  node.addEventListener('peer:disconnect', onDisconnect)
  emit({ type: 'started', peer: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })

  const reserved = await waitForReservation(node, options.reservationTimeout ?? 10_000)
  if (reserved.length > 0) emit({ type: 'reserved', addrs: reserved })
  else emit({ type: 'reservation-missing', reason: 'no relay granted a reservation: peers behind NAT cannot reach this agent until one does' })

  const topics = { state: stateTopic(options.session), heads: headsTopic(options.session) }
  node.services.pubsub.subscribe(topics.state)
  node.services.pubsub.subscribe(topics.heads)
  emit({ type: 'subscribed', topics: [topics.state, topics.heads] })

  const connect = async (target: string, opts: { upgradeTimeout?: number, webrtcTimeout?: number } = {}): Promise<ConnectReport> => {
    const report = await connectPeer(node, relays, target, opts.upgradeTimeout ?? 8000, opts.webrtcTimeout ?? 15_000)
    emit({ type: 'connect-report', report })
    return report
  }
  const stop = async (): Promise<void> => {
    node.removeEventListener('connection:open', onOpen)
    node.removeEventListener('peer:disconnect', onDisconnect)
    await node.stop()
  }
  return { node, topics, connect, stop }
}

async function confirmDirect (connection: Connection): Promise<number | undefined> {
  // libp2p's connection monitor pings new connections too, and ping allows one outbound stream per connection
  for (let attempt = 0; attempt < 4 && connection.status === 'open'; attempt++) {
    try {
      return await pingConnection(connection, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      if ((err as Error).name !== 'TooManyOutboundProtocolStreamsError') return undefined
      await sleep(200 * (attempt + 1))
    }
  }
  return undefined
}

function peerIdOf (ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast(c => c.name === 'p2p')?.value
}

async function waitForReservation (node: NodePeer<ServiceMap>, ms: number): Promise<string[]> {
  const circuits = (): string[] => node.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))
  if (circuits().length > 0) return circuits()
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); node.removeEventListener('self:peer:update', check); resolve() }
    const check = (): void => { if (circuits().length > 0) done() }
    const timer = setTimeout(done, ms)
    node.addEventListener('self:peer:update', check)
  })
  return circuits()
}

async function connectPeer (node: NodePeer<ServiceMap>, relays: Multiaddr[], target: string, upgradeTimeout: number, webrtcTimeout: number): Promise<ConnectReport> {
  let circuitAddrs: Multiaddr[]
  let webrtcAddrs: Multiaddr[]
  let peer: string
  if (target.startsWith('/')) {
    const ma = parseMultiaddr(target, 'peer address')
    const id = peerIdOf(ma)
    if (id == null) throw new UsageError(`"${target}" has no /p2p/<peer id>`)
    peer = id
    const base = ma.toString().replace(/\/webrtc(\/p2p\/[^/]+)$/, '$1')
    circuitAddrs = [parseMultiaddr(base)]
    webrtcAddrs = base.includes('/p2p-circuit/') ? [parseMultiaddr(base.replace('/p2p-circuit/', '/p2p-circuit/webrtc/'))] : []
  } else {
    try {
      peer = peerIdFromString(target).toString()
    } catch (err) {
      throw new UsageError(`"${target}" is neither a peer id nor a multiaddr`, { cause: err })
    }
    // every agent reserves on its bootstrap relays, so a session peer is reachable at <relay>/p2p-circuit/p2p/<id>
    circuitAddrs = relays.map(r => r.encapsulate(`/p2p-circuit/p2p/${peer}`))
    webrtcAddrs = relays.map(r => r.encapsulate(`/p2p-circuit/webrtc/p2p/${peer}`))
  }
  const report: ConnectReport = { peer, relayed: false, webrtc: false, errors: [], ms: {} }
  const started = Date.now()
  const remote = peerIdFromString(peer)
  const direct = (): Connection | undefined => node.getConnections(remote).find(c => !isRelayed(c) && c.status === 'open' && !c.remoteAddr.toString().includes('/webrtc'))

  // the target may not have reserved yet (it started a moment ago): a few bounded retries
  for (let attempt = 0; attempt < 4 && !report.relayed && direct() == null; attempt++) {
    try {
      await node.dial(circuitAddrs, { signal: AbortSignal.timeout(10_000) })
      report.relayed = true
      report.ms.relayed = Date.now() - started
    } catch (err) {
      report.errors.push(`relay: ${(err as Error).message}`)
      await sleep(500 * 2 ** attempt)
    }
  }
  // DCUtR / the direct upgrade and WebRTC run side by side: whichever works first carries data
  const upgrade = async (): Promise<void> => {
    const upgraded = await poll(direct, upgradeTimeout)
    if (upgraded != null) {
      report.upgrade = summarizeConnection(upgraded).transport
      report.ms.upgrade = Date.now() - started
    } else if (report.relayed) {
      report.errors.push(`upgrade: no direct connection within ${upgradeTimeout} ms (DCUtR tries public addresses only; the direct upgrade tries the peer's own addresses)`)
    }
  }
  const webrtc = async (): Promise<void> => {
    // libdatachannel here loses a few percent of first attempts (the peer connection
    // closes during ICE), so one retry
    for (let attempt = 0; attempt < 2 && webrtcAddrs.length > 0 && !report.webrtc; attempt++) {
      try {
        const connection = await node.dial(webrtcAddrs, { force: true, signal: AbortSignal.timeout(webrtcTimeout) })
        if (await confirmDirect(connection) == null) throw new Error('the WebRTC connection opened but carried no ping')
        report.webrtc = !isRelayed(connection) && connection.remoteAddr.toString().includes('/webrtc')
        if (report.webrtc) report.ms.webrtc = Date.now() - started
      } catch (err) {
        report.errors.push(`webrtc: ${(err as Error).message}`)
      }
    }
  }
  await Promise.all([upgrade(), webrtc()])
  return report
}

async function poll<T> (get: () => T | undefined, ms: number): Promise<T | undefined> {
  const end = Date.now() + ms
  let value = get()
  while (value == null && Date.now() < end) {
    await sleep(100)
    value = get()
  }
  return value
}
