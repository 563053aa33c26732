/**
 * Finding the other members of a session. Gossip reaches a peer only over direct
 * connections to other members, so a newcomer that knows just a relay must first learn who
 * is in the session: every member announces itself as a provider of one DHT key derived
 * from the session id (a rendezvous), looks the key up, and dials each member it is not yet
 * directly connected to over WebRTC (the relay carries only the SDP exchange).
 */
import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { cidForBytes } from '@murmur/protocol'

/** The DHT key every member of `session` provides. */
export async function sessionRendezvous (session: string): ReturnType<typeof cidForBytes> {
  return await cidForBytes(new TextEncoder().encode(`/murmur/session/${session}`))
}

/** A connection whose bytes pass through a relay (circuit v2 sets `limits` on those). */
export function isRelayedConnection (connection: Pick<Connection, 'limits' | 'remoteAddr'>): boolean {
  if (connection.limits != null) return true
  const addr = connection.remoteAddr.toString()
  // a WebRTC connection keeps the circuit address it was signalled through but is direct
  return addr.includes('/p2p-circuit') && !addr.slice(addr.lastIndexOf('/p2p-circuit')).includes('/webrtc')
}

/** Options of `discoverSessionPeers`. */
export interface SessionDiscoveryOptions {
  session: string
  /** Relays to signal WebRTC through when a member's record carries no circuit address. */
  relays: string[]
  /**
   * Seconds between lookups: quick at first so a new page meets the others in seconds,
   * then slower.
   * @default [2, 10]
   */
  interval?: [first: number, later: number]
  /** How long one WebRTC dial may take (ms). @default 15000 */
  dialTimeout?: number
  signal: AbortSignal
}

/** A running discovery loop; `stop()` ends it (the `signal` does too). */
export interface SessionDiscovery {
  /** Members found so far (peer ids), ourselves excluded. */
  readonly members: ReadonlySet<string>
  /** Called with each member dialled and the connection or why there is none; settable later. */
  onDial?: (peer: string, result: Connection | Error) => void
  /** Run one announce + lookup + dial pass now. */
  refresh(): Promise<void>
  stop(): void
}

function webrtcAddrs (peer: string, known: Multiaddr[], relays: string[]): Multiaddr[] {
  const fromRecord = known.filter(ma => ma.toString().includes('/p2p-circuit/webrtc'))
  if (fromRecord.length > 0) return fromRecord.map(ma => ma.toString().endsWith(`/p2p/${peer}`) ? ma : ma.encapsulate(`/p2p/${peer}`))
  return relays.map(r => multiaddr(`${r}/p2p-circuit/webrtc/p2p/${peer}`))
}

/**
 * Announce this peer in the session's rendezvous record and keep direct WebRTC
 * connections to the members the record names. Of two members that find each other, the
 * one with the smaller id dials first; the other waits a pass so they do not dial twice.
 */
export function discoverSessionPeers (node: Libp2p, options: SessionDiscoveryOptions): SessionDiscovery {
  const self = node.peerId.toString()
  const members = new Set<string>()
  const seenBefore = new Set<string>()
  const dialling = new Set<string>()
  const stopper = new AbortController()
  const signal = AbortSignal.any([options.signal, stopper.signal])
  const [first, later] = options.interval ?? [2, 10]
  const started = Date.now()
  let pass: Promise<void> | undefined

  const hasDirect = (peer: PeerId): boolean => node.getConnections(peer).some(c => c.status === 'open' && !isRelayedConnection(c))

  const dial = async (peer: string, known: Multiaddr[]): Promise<void> => {
    const id = peerIdFromString(peer)
    if (dialling.has(peer) || hasDirect(id)) return
    dialling.add(peer)
    try {
      const connection = await node.dial(webrtcAddrs(peer, known, options.relays), {
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.dialTimeout ?? 15_000)])
      })
      discovery.onDial?.(peer, connection)
    } catch (err) {
      discovery.onDial?.(peer, err as Error)
    } finally {
      dialling.delete(peer)
    }
  }

  const once = async (): Promise<void> => {
    const key = await sessionRendezvous(options.session)
    const lookup = AbortSignal.any([signal, AbortSignal.timeout(8_000)])
    // announcing and looking up run side by side, and each member is dialled as soon as it
    // is found: a DHT query can wait seconds on peers it cannot reach
    const providing = node.contentRouting.provide(key, { signal: lookup }).catch(() => {})
    const dials: Array<Promise<void>> = []
    let found = 0
    try {
      for await (const provider of node.contentRouting.findProviders(key, { signal: lookup })) {
        const peer = provider.id.toString()
        if (peer === self) continue
        members.add(peer)
        const mineFirst = self < peer || seenBefore.has(peer)
        seenBefore.add(peer)
        if (mineFirst) dials.push(dial(peer, provider.multiaddrs))
        if (++found >= 64) break
      }
    } catch { /* a lookup that timed out still yielded what it found */ }
    await Promise.all([providing, ...dials])
  }

  const refresh = async (): Promise<void> => {
    pass ??= once().finally(() => { pass = undefined })
    await pass
  }

  const discovery: SessionDiscovery = { members, refresh, stop: () => { stopper.abort() } }
  void (async () => {
    while (!signal.aborted) {
      await refresh().catch(() => {})
      const wait = (Date.now() - started < 30_000 ? first : later) * 1000
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, wait)
        function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
        signal.addEventListener('abort', done, { once: true })
      })
    }
  })()

  return discovery
}
