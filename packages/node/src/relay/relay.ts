import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { Connection, PeerId } from '@libp2p/interface'
import { summarizeConnection } from '../peer/connection-info.js'
import { UsageError } from '../errors.js'
import type { ConnectionSummary } from '../peer/connection-info.js'
import { createNodePeer } from '../peer/node-peer.js'
import type { NodePeer, RelayServerLimits } from '../peer/node-peer.js'

/**
 * What one relay gives away, chosen so a crowd of joiners cannot starve the peers it
 * already serves (measured: bench/relay-load.bench.ts, 200 concurrent joiners from one IP).
 * A reservation pins one connection, so `maxReservations` stays well under the connection
 * cap; the rest of the cap is headroom for DHT and gossip peers and for short-lived dials.
 * Two more limits come from `createNodePeer` for every relay: at most 50 inbound
 * connections a second from one IP (devices behind one NAT share it) and at most 64
 * connections mid-handshake; attempts over them are refused before any crypto is done.
 */
export const RELAY_DEFAULT_LIMITS = {
  /** Open connections the relay keeps before libp2p prunes the least useful. */
  maxConnections: 512,
  /** Reservations (`/p2p-circuit` addresses through this relay) held at once; later ones are refused. */
  maxReservations: 128,
  /** A vanished device frees its slot after an hour unless it refreshes it. */
  reservationTtl: 3_600_000,
  /** Relayed connections carry signalling only: 2 minutes... */
  durationLimit: 120_000,
  /** ...and 128 KiB each way, then data moves to a direct connection. */
  dataLimit: 131_072n,
  /** Concurrent HOP streams (reservation requests and circuit opens) served at once. */
  maxHopStreams: 256
} as const

/** Options of `runRelay`. */
export interface RelayOptions {
  /**
   * Listen addresses; when given they replace the ones built from host and ports.
   * @default TCP, WebSockets and WebRTC-Direct on `host` at `tcpPort`, `wsPort`, `webrtcPort`
   */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (public IP, DNS name). */
  announce?: string[]
  /** Keeps the relay's peer id (and so its bootstrap address) across restarts. */
  dataDir?: string
  /**
   * Interface to listen on.
   * @default '0.0.0.0'
   */
  host?: string
  /** @default 0 (random) */
  tcpPort?: number
  /** @default 0 (random) */
  wsPort?: number
  /** UDP port of WebRTC-Direct (browsers dial it without a TLS certificate). @default 0 (random) */
  webrtcPort?: number
  /**
   * Listen on WebRTC-Direct.
   * @default true
   */
  webrtcDirect?: boolean
  /** Other relays to join (a mesh of bootstrap relays shares one DHT). */
  bootstrap?: string[]
  /** Reservation and per-connection limits; unset fields keep `RELAY_DEFAULT_LIMITS`. */
  limits?: RelayServerLimits
  /** @default RELAY_DEFAULT_LIMITS.maxConnections */
  maxConnections?: number
  /** Receives connection and reservation events. */
  onEvent?: (event: RelayEvent) => void
}

/** What a relay reports while it runs. */
export type RelayEvent =
  | { type: 'connect', connection: ConnectionSummary }
  | { type: 'disconnect', peer: string }
  /** The number of reservations held changed (checked every 2 s: circuit relay v2 emits no event for it). */
  | { type: 'reservations', count: number, peers: string[] }

/** A running relay. */
export interface Relay {
  node: NodePeer
  /** Every address it can be dialled on, each ending in `/p2p/<peer id>`. */
  addrs: string[]
  stop(): Promise<void>
}

/** The listen addresses `murmur relay` uses when `--listen` is not given. */
export function relayListenAddrs (options: Pick<RelayOptions, 'host' | 'tcpPort' | 'wsPort' | 'webrtcPort' | 'webrtcDirect'> = {}): string[] {
  const host = options.host ?? '0.0.0.0'
  const family = host.includes(':') ? 'ip6' : 'ip4'
  const addrs = [`/${family}/${host}/tcp/${options.tcpPort ?? 0}`, `/${family}/${host}/tcp/${options.wsPort ?? 0}/ws`]
  if (options.webrtcDirect !== false) addrs.push(`/${family}/${host}/udp/${options.webrtcPort ?? 0}/webrtc-direct`)
  return addrs
}

/**
 * libp2p advertises a public listen address only once AutoNAT has confirmed it through
 * other peers, which the first peer of a mesh would wait on for ever. So a relay picks its
 * ports before listening and announces every interface address it listens on outright.
 */
export async function pinListenAddrs (listen: string[]): Promise<{ listen: string[], announce: string[] }> {
  const pinned: string[] = []
  const announce: string[] = []
  for (const addr of listen) {
    const match = /^\/(ip4|ip6)\/([^/]+)\/(tcp|udp)\/(\d+)(.*)$/.exec(addr)
    if (match == null) { pinned.push(addr); continue }
    const [, family, host, proto, port, rest] = match as unknown as [string, 'ip4' | 'ip6', string, 'tcp' | 'udp', string, string]
    let concrete = Number(port)
    try {
      if (concrete === 0) concrete = await freePort(proto, family, host)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${host}: not an address of this machine; pick one with --host or --listen`, { cause: err })
      throw err
    }
    pinned.push(`/${family}/${host}/${proto}/${concrete}${rest}`)
    for (const ip of wildcard(family, host) ? interfaceAddrs(family) : [host]) announce.push(`/${family}/${ip}/${proto}/${concrete}${rest}`)
  }
  return { listen: pinned, announce }
}

function wildcard (family: 'ip4' | 'ip6', host: string): boolean {
  return family === 'ip4' ? host === '0.0.0.0' : host === '::'
}

function interfaceAddrs (family: 'ip4' | 'ip6'): string[] {
  return Object.values(networkInterfaces()).flat()
    .filter(i => i != null && i.family === (family === 'ip4' ? 'IPv4' : 'IPv6') && !i.address.startsWith('fe80'))
    .map(i => (i as { address: string }).address)
}

async function freePort (proto: 'tcp' | 'udp', family: 'ip4' | 'ip6', host: string): Promise<number> {
  if (proto === 'tcp') {
    const server = createServer()
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve) })
    const { port } = server.address() as AddressInfo
    await new Promise(resolve => server.close(resolve))
    return port
  }
  const socket = createSocket(family === 'ip4' ? 'udp4' : 'udp6')
  await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, host, resolve) })
  const { port } = socket.address()
  await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
  return port
}

/** Start a Murmur relay: bootstrap peer, circuit relay v2 server and DHT server. */
export async function runRelay (options: RelayOptions = {}): Promise<Relay> {
  const emit = options.onEvent ?? (() => {})
  const requested = options.listen ?? relayListenAddrs(options)
  const { listen, announce } = options.announce == null ? await pinListenAddrs(requested) : { listen: requested, announce: [] }
  const node = await createNodePeer({
    dataDir: options.dataDir,
    listen,
    announce: options.announce,
    appendAnnounce: announce,
    bootstrap: options.bootstrap,
    relayServer: {
      maxReservations: RELAY_DEFAULT_LIMITS.maxReservations,
      reservationTtl: RELAY_DEFAULT_LIMITS.reservationTtl,
      durationLimit: RELAY_DEFAULT_LIMITS.durationLimit,
      dataLimit: RELAY_DEFAULT_LIMITS.dataLimit,
      maxHopStreams: RELAY_DEFAULT_LIMITS.maxHopStreams,
      ...options.limits
    },
    maxConnections: options.maxConnections ?? RELAY_DEFAULT_LIMITS.maxConnections,
    dhtMode: 'server'
  })
  const onOpen = (evt: CustomEvent<Connection>): void => { emit({ type: 'connect', connection: summarizeConnection(evt.detail) }) }
  const onDisconnect = (evt: CustomEvent<PeerId>): void => { emit({ type: 'disconnect', peer: evt.detail.toString() }) }
  let reservations = 0
  const watch = setInterval(() => {
    const held = node.services.relay?.reservations
    if (held == null || held.size === reservations) return
    reservations = held.size
    emit({ type: 'reservations', count: held.size, peers: [...held.keys()].map(String) })
  }, 2000)
  watch.unref()
  node.addEventListener('connection:open', onOpen)
  node.addEventListener('peer:disconnect', onDisconnect)
  return {
    node,
    addrs: node.getMultiaddrs().map(String),
    stop: async () => {
      node.removeEventListener('connection:open', onOpen)
      node.removeEventListener('peer:disconnect', onDisconnect)
      clearInterval(watch)
      await node.stop()
    }
  }
}
