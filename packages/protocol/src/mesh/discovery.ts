/**
 * Finding the other members of a session. Gossip, state catch-up and shard fetches need
 * direct connections to other members, so a newcomer that knows only a relay (a DHT
 * server) must first learn who is in the session: every member provides one DHT key
 * derived from the session id (a rendezvous), looks the key up, reads the members the
 * session document lists, and dials each member it lacks a direct connection to. The
 * bindings supply only how to dial a member (browser: WebRTC through the relay; Node: a
 * plain dial, then the relay path with its direct upgrade).
 */
import type { AbortOptions, Connection, Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type * as Y from 'yjs'
import { cidForBytes } from '../content/index.js'
import { listMembers } from '../state/index.js'
import { deadline, sleep } from './deadline.js'

/** The DHT key every member of `session` provides. */
export async function sessionRendezvous (session: string): Promise<CID> {
  return await cidForBytes(new TextEncoder().encode(`/murmur/session/${session}`))
}

/**
 * A connection whose bytes pass through a relay. libp2p marks those `direct: false` (the
 * address is an exact circuit match) and circuit v2 sets `limits`; a WebRTC connection
 * signalled via `/p2p-circuit/webrtc` keeps that address but is direct.
 */
export function isRelayedConnection (connection: Pick<Connection, 'limits' | 'direct'>): boolean {
  return connection.limits != null || !connection.direct
}

/** Session peers (not the `exclude`d relays) this node holds an open, direct connection to. */
export function directSessionPeers (connections: ReadonlyArray<Pick<Connection, 'remotePeer' | 'status' | 'limits' | 'direct'>>, exclude: ReadonlySet<string> = new Set()): Set<string> {
  const out = new Set<string>()
  for (const c of connections) {
    const peer = c.remotePeer.toString()
    if (c.status === 'open' && !isRelayedConnection(c) && !exclude.has(peer)) out.add(peer)
  }
  return out
}

/** How a binding reaches one member; resolves once a connection is made, throws why not. */
export type DialMember = (peer: PeerId, addrs: Multiaddr[], options: Required<AbortOptions>) => Promise<unknown>

/** The parts of a libp2p node discovery uses. */
export type SessionDiscoveryNode = Pick<Libp2p, 'peerId' | 'contentRouting' | 'getConnections' | 'dial'>

/** Options of `discoverSessionPeers`. */
export interface SessionDiscoveryInit {
  session: string
  /** Ends the loop (so does `stop()`). */
  signal?: AbortSignal
  /**
   * Reach a member. `addrs` are those its provider record carried (empty for members
   * known only from the document).
   * @default a plain dial of `addrs`, or of the peer id when there are none
   */
  dial?: DialMember
  /** The session document: its live members are dialled too, found in the DHT or not. */
  doc?: Y.Doc
  /** Peers that are not members though they may appear (the bootstrap relays). */
  exclude?: Iterable<string>
  /**
   * Direct connections to members beyond which no more are dialled.
   * @default 8
   */
  maxPeers?: number
  /**
   * Milliseconds between passes: `first` for the first `fastFor` ms, so a newcomer meets
   * the others in seconds, `later` after that, to spare the DHT.
   * @default [2000, 10000]
   */
  interval?: [first: number, later: number]
  /** @default 30000 */
  fastFor?: number
  /** How long one dial may take (ms). @default 15000 */
  dialTimeout?: number
  /** How long one DHT lookup may take (ms); what it found by then is used. @default 8000 */
  lookupTimeout?: number
  /** Provide the rendezvous again after this long (ms), for DHT servers that joined later. @default 30000 */
  reprovideEvery?: number
  /** Told about each dial: `error` is set when it failed. Settable later on the handle. */
  onDial?: (peer: string, error?: Error) => void
}

/** A running discovery loop. */
export interface SessionDiscovery {
  /** Members found so far (peer ids), ourselves excluded. */
  readonly members: ReadonlySet<string>
  /** Told about each dial: `error` is set when it failed. */
  onDial?: (peer: string, error?: Error) => void
  /** Run one provide + lookup + dial pass now (joins the pass in progress, if any). */
  refresh(): Promise<void>
  stop(): void
  /** Resolves once the loop has ended. */
  readonly done: Promise<void>
}

/** Providers read from one lookup at most: a bound against a flooded record. */
const MAX_FOUND = 64
/** Longest wait before a member whose dials keep failing is tried again (ms). */
const MAX_BACKOFF = 60_000

/**
 * Announce this peer at the session's rendezvous and keep direct connections to the
 * members the DHT and the document name, up to `maxPeers`. Of two members that find each
 * other, the one with the smaller id dials first; the other waits a pass so they do not
 * dial each other at the same moment.
 */
export function discoverSessionPeers (node: SessionDiscoveryNode, init: SessionDiscoveryInit): SessionDiscovery {
  const self = node.peerId.toString()
  const exclude = new Set(init.exclude ?? [])
  const members = new Set<string>()
  const seenBefore = new Set<string>()
  const dialling = new Set<string>()
  const backoff = new Map<string, { failures: number, until: number }>()
  const stopper = new AbortController()
  const signal = init.signal != null ? AbortSignal.any([init.signal, stopper.signal]) : stopper.signal
  const [first, later] = init.interval ?? [2000, 10_000]
  const maxPeers = init.maxPeers ?? 8
  const dialMember = init.dial ?? plainDial(node)
  const keyOf = sessionRendezvous(init.session)
  const started = Date.now()
  let providedAt = -Infinity
  let pass: Promise<void> | undefined

  const dial = async (id: PeerId, addrs: Multiaddr[]): Promise<void> => {
    const peer = id.toString()
    if (dialling.has(peer) || signal.aborted) return
    const direct = directSessionPeers(node.getConnections(), exclude)
    if (direct.has(peer) || direct.size + dialling.size >= maxPeers) return
    if ((backoff.get(peer)?.until ?? 0) > Date.now()) return
    dialling.add(peer)
    const limit = deadline(signal, init.dialTimeout ?? 15_000)
    try {
      await dialMember(id, addrs, { signal: limit.signal })
      backoff.delete(peer)
      discovery.onDial?.(peer)
    } catch (err) {
      if (signal.aborted) return
      // a member that left without a word stays in records and documents: try it less and less often
      const failures = (backoff.get(peer)?.failures ?? 0) + 1
      backoff.set(peer, { failures, until: Date.now() + Math.min(MAX_BACKOFF, first * 2 ** failures) })
      discovery.onDial?.(peer, err as Error)
    } finally {
      limit.clear()
      dialling.delete(peer)
    }
  }

  // per-call signals are children of the discovery's long-lived one, detached when the call
  // ends (AbortSignal.any would keep each in its set of dependants: see deadline.ts)
  const provideFor = async (key: CID, ms: number): Promise<void> => {
    const limit = deadline(signal, ms)
    try {
      await node.contentRouting.provide(key, { signal: limit.signal })
      providedAt = Date.now()
    } catch {
      /* no DHT server reachable yet: next pass */
    } finally {
      limit.clear()
    }
  }

  const once = async (): Promise<void> => {
    const key = await keyOf
    const dials: Array<Promise<void>> = []
    const consider = (peer: string, addrs: Multiaddr[]): void => {
      if (peer === self || exclude.has(peer)) return
      let id: PeerId
      try { id = peerIdFromString(peer) } catch { return } // a malformed id in the document
      members.add(peer)
      const mineFirst = self < peer || seenBefore.has(peer)
      seenBefore.add(peer)
      if (mineFirst) dials.push(dial(id, addrs))
    }
    // announcing and looking up run side by side, and each member is dialled as soon as it
    // is found: a DHT query can wait seconds on peers it cannot reach
    const providing = Date.now() - providedAt < (init.reprovideEvery ?? 30_000)
      ? Promise.resolve()
      : provideFor(key, 10_000)
    const found = new Set<string>()
    const lookup = deadline(signal, init.lookupTimeout ?? 8000)
    try {
      for await (const provider of node.contentRouting.findProviders(key, { signal: lookup.signal })) {
        const peer = provider.id.toString()
        if (found.has(peer)) continue
        found.add(peer)
        consider(peer, provider.multiaddrs)
        if (found.size >= MAX_FOUND) break
      }
    } catch {
      /* a lookup that timed out still yielded what it found */
    } finally {
      lookup.clear()
    }
    if (init.doc != null) {
      for (const m of listMembers(init.doc)) {
        if (m.leftAt == null && !found.has(m.peerId)) consider(m.peerId, [])
      }
    }
    await Promise.all([providing, ...dials])
  }

  const refresh = async (): Promise<void> => {
    pass ??= once().finally(() => { pass = undefined })
    await pass
  }

  const aborted = new Promise<void>(resolve => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => { resolve() }, { once: true })
  })
  const done = (async () => {
    while (!signal.aborted) {
      // a binding's dial may not heed the signal: stopping must not wait for it
      await Promise.race([refresh().catch(() => {}), aborted])
      const wait = Date.now() - started < (init.fastFor ?? 30_000) ? first : later
      await sleep(wait, signal)
    }
  })()

  const discovery: SessionDiscovery = { members, refresh, stop: () => { stopper.abort() }, done }
  if (init.onDial != null) discovery.onDial = init.onDial
  return discovery
}

/** `addrs` of `peer`, each ending in `/p2p/<peer>` (records may carry them without it), so a dial can check who answers. */
export function naming (peer: string, addrs: Multiaddr[]): Multiaddr[] {
  return addrs.map(ma => ma.toString().endsWith(`/p2p/${peer}`) ? ma : ma.encapsulate(`/p2p/${peer}`))
}

/** Dial the record's addresses, or the peer id when there are none. */
function plainDial (node: SessionDiscoveryNode): DialMember {
  return async (peer, addrs, options) => {
    const targets = naming(peer.toString(), addrs)
    return await node.dial(targets.length > 0 ? targets : peer, options)
  }
}
