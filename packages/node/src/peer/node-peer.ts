import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import type { Libp2p, PrivateKey, ServiceMap } from '@libp2p/interface'
import { memory } from '@libp2p/memory'
import { tcp } from '@libp2p/tcp'
import { webRTC, webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { CONNECTION_LIMITS, DatastoreShardStore, MemoryShardStore, RELAY_CONNECTION_LIMITS, murmurServices } from '@murmur/protocol'
import type { IceServer, MurmurServices, MurmurServicesInit, PeerScores, ShardStore } from '@murmur/protocol'
import { FsDatastore } from 'datastore-fs'
import { createLibp2p } from 'libp2p'
import type { Libp2pOptions, ServiceFactoryMap } from 'libp2p'
import { dialBootstrap, parseMultiaddr } from './bootstrap.js'
import { directUpgrade } from './direct-upgrade.js'
import type { DirectUpgrade } from './direct-upgrade.js'
import { AddressInUseError, BootstrapUnreachableError } from '../errors.js'
import { loadOrCreateIdentity } from './identity.js'

/** Murmur's own Kademlia DHT protocol id; one definition, in `@murmur/protocol`. */
export { MURMUR_DHT_PROTOCOL } from '@murmur/protocol'

/** Version string peers see through identify. */
export const MURMUR_USER_AGENT = 'murmur-node/0.1.0'

/**
 * How much a relay gives away. Circuit relay v2's own defaults (15 reservations) run out
 * the moment a few dozen devices join one session; these are sized for one bootstrap
 * relay serving a field deployment.
 */
export interface RelayServerLimits {
  /**
   * Peers that may hold a reservation (a `/p2p-circuit` address through this relay) at once.
   * @default 128
   */
  maxReservations?: number
  /**
   * How long a reservation lasts unless the peer refreshes it; a vanished device frees
   * its slot after this.
   * @default 3_600_000 (1 hour; libp2p's default is 2 hours)
   */
  reservationTtl?: number
  /**
   * Longest life of one relayed connection. Relayed connections carry signalling only
   * (DCUtR, WebRTC SDP, the first identify); data moves to direct connections.
   * @default 120_000 (2 minutes, the circuit v2 default)
   */
  durationLimit?: number
  /**
   * Bytes one relayed connection may carry in each direction before the relay closes it.
   * @default 131_072n (128 KiB, the circuit v2 default)
   */
  dataLimit?: bigint
  /**
   * Concurrent relay (HOP) streams this relay serves.
   * @default 256
   */
  maxHopStreams?: number
}

/** Options of `createNodePeer`. */
export interface NodePeerOptions<S extends ServiceMap = Record<never, never>> {
  /**
   * Directory for state that survives restarts: the Ed25519 identity in
   * `<dataDir>/identity.key` (mode 0600, created on first run) and a file-backed
   * datastore in `<dataDir>/datastore` (peer store, DHT records and, unless `store` is
   * given, model shards).
   * @default undefined (a fresh identity and an in-memory datastore on every start)
   */
  dataDir?: string
  /**
   * Multiaddrs to listen on.
   * @default TCP and WebSockets on 0.0.0.0 with random ports, plus `/p2p-circuit` and
   * `/webrtc` for a peer that is not a relay, or `/udp/0/webrtc-direct` for a relay;
   * with `transports: 'memory'`, a random `/memory/...` address only (circuit relay over
   * the memory transport crashes libp2p 3.3's address manager)
   */
  listen?: string[]
  /**
   * Multiaddrs to announce instead of the ones transports report (e.g. a relay's public
   * address behind port forwarding).
   * @default undefined (announce what the transports listen on)
   */
  announce?: string[]
  /**
   * Multiaddrs to announce on top of what the transports report, trusted as they are. A
   * public listen address is otherwise advertised only after AutoNAT confirms it.
   * @default undefined
   */
  appendAnnounce?: string[]
  /**
   * Peers dialled at start (normally one or more `murmur relay` addresses with
   * `/p2p/<id>`), retried with exponential backoff and redialled after a drop.
   * @default []
   */
  bootstrap?: string[]
  /**
   * When set, wait this many ms for the first bootstrap peer to answer and throw
   * `BootstrapUnreachableError` (after stopping the node) when none did.
   * @default undefined (dial in the background, do not wait)
   */
  bootstrapTimeout?: number
  /**
   * STUN/TURN servers for WebRTC and WebRTC-Direct; peers behind NAT need a STUN server
   * to find their public address.
   * @default [] (host candidates only: works on one LAN)
   */
  iceServers?: IceServer[]
  /**
   * Act as a circuit relay v2 server. `true` uses the limits documented on
   * `RelayServerLimits`.
   * @default false
   */
  relayServer?: boolean | RelayServerLimits
  /**
   * `server` answers DHT queries (relays, reachable agents); `client` only asks; `auto`
   * starts as a client and becomes a server once AutoNAT confirms a public address.
   * @default 'server' for a relay, 'auto' otherwise
   */
  dhtMode?: 'server' | 'client' | 'auto'
  /**
   * Where model shards and manifests are kept and served from.
   * @default a `DatastoreShardStore` in `<dataDir>/datastore` when `dataDir` is set (a
   * restarted agent still holds and serves what it fetched), else a `MemoryShardStore`
   */
  store?: ShardStore
  /**
   * Keep private and loopback addresses in DHT records (see `MurmurServicesInit`).
   * @default true
   */
  allowPrivateAddresses?: boolean
  /** Options of the shard exchange (upload cap, request rates, ...). */
  shards?: MurmurServicesInit['shards']
  /** Options of state sync. */
  state?: MurmurServicesInit['state']
  /**
   * Extra libp2p services, merged over Murmur's (`murmurServices`) and the Node-only
   * ones: a key that is also a default service replaces it.
   * @default {}
   */
  services?: ServiceFactoryMap<S>
  /**
   * `default`: TCP, WebSockets, WebRTC, WebRTC-Direct and circuit relay. `memory`: the
   * in-process memory transport and circuit relay, for tests with many peers.
   * @default 'default'
   */
  transports?: 'default' | 'memory'
  /**
   * Connections kept before libp2p prunes the least useful. An agent gossips with a few
   * neighbours plus DHT traffic; a relay holds one connection per reservation.
   * @default 512 for a relay, 128 otherwise
   */
  maxConnections?: number
  /**
   * Move relayed connections to direct ones over addresses DCUtR will not try (private
   * and loopback: peers on one LAN or host). See `directUpgrade`.
   * @default true
   */
  directUpgrade?: boolean
  /** Use this key instead of one from `dataDir` or a fresh one. */
  privateKey?: PrivateKey
  /**
   * This peer's scores of others: gossipsub's application-specific score, and the gater
   * refuses banned peers' dials and inbound connections (`SessionPeer` passes its own).
   */
  scores?: Pick<PeerScores, 'gossipScore' | 'isBanned'>
}

/**
 * The services every Node peer runs: Murmur's own (`node.services.dht`, `.pubsub`,
 * `.shards`, `.state`, `.heads`, ...) plus the Node-only NAT traversal services.
 */
export type NodePeerServices = MurmurServices & {
  [key: string]: unknown
  autoNAT: unknown
  dcutr: unknown
  /** Absent when `directUpgrade: false`. */
  directUpgrade?: DirectUpgrade
  /** Present only when `relayServer` is set. */
  relay?: CircuitRelayService
}

/** A started Node peer with Murmur's default services and any extra ones. */
export type NodePeer<S extends ServiceMap = Record<never, never>> = Libp2p<NodePeerServices & S>

/** Create and start a libp2p node for Node.js configured for Murmur (see `NodePeerOptions`). */
export async function createNodePeer<S extends ServiceMap = Record<never, never>> (options: NodePeerOptions<S> = {}): Promise<NodePeer<S>> {
  const isRelay = options.relayServer != null && options.relayServer !== false
  const kind = options.transports ?? 'default'
  for (const addr of [...(options.listen ?? []), ...(options.announce ?? []), ...(options.appendAnnounce ?? []), ...(options.bootstrap ?? [])]) parseMultiaddr(addr)
  const bootstrap = (options.bootstrap ?? []).map(a => parseMultiaddr(a, 'bootstrap address'))

  const privateKey = options.privateKey ?? (options.dataDir != null ? await loadOrCreateIdentity(options.dataDir) : undefined)
  let datastore: FsDatastore | undefined
  if (options.dataDir != null) {
    datastore = new FsDatastore(join(options.dataDir, 'datastore'), { createIfMissing: true })
    await datastore.open()
  }

  const rtcConfiguration: RTCConfiguration = { iceServers: options.iceServers ?? [] }
  const transports: NonNullable<Libp2pOptions['transports']> = kind === 'memory'
    ? [memory(), circuitRelayTransport()]
    : [tcp(), webSockets(), webRTC({ rtcConfiguration }), webRTCDirect({ rtcConfiguration }), circuitRelayTransport()]

  const store = options.store ?? (datastore != null ? new DatastoreShardStore(datastore) : new MemoryShardStore())
  const defaults = {
    ...murmurServices({
      store,
      // 'auto' lets kad-dht switch to server once AutoNAT confirms a public address
      dhtMode: options.dhtMode ?? (isRelay ? 'server' : 'auto'),
      allowPrivateAddresses: options.allowPrivateAddresses,
      shards: options.shards,
      state: options.state,
      ...(options.scores != null ? { appSpecificScore: options.scores.gossipScore } : {})
    }),
    autoNAT: autoNAT(),
    dcutr: dcutr(),
    ...(options.directUpgrade === false ? {} : { directUpgrade: directUpgrade() }),
    ...(isRelay ? { relay: relayService(options.relayServer === true ? {} : options.relayServer as RelayServerLimits) } : {})
  }

  let node: NodePeer<S>
  try {
    node = await createLibp2p({
      privateKey,
      datastore,
      nodeInfo: { userAgent: MURMUR_USER_AGENT },
      addresses: {
        listen: options.listen ?? defaultListen(kind, isRelay),
        ...(options.announce != null ? { announce: options.announce } : {}),
        ...(options.appendAnnounce != null ? { appendAnnounce: options.appendAnnounce } : {})
      },
      transports,
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // Node's default gater already allows private addresses; say so explicitly because
      // Murmur runs on LANs, loopback and test namespaces (10.x, 192.168.x)
      connectionGater: {
        denyDialMultiaddr: () => false,
        ...(options.scores != null ? bannedPeersGater(options.scores) : {})
      },
      connectionManager: {
        maxConnections: options.maxConnections ?? (isRelay ? 512 : 128),
        // devices behind one NAT share an address: 5/s (libp2p's default) would turn a camp away
        ...(isRelay ? RELAY_CONNECTION_LIMITS : CONNECTION_LIMITS)
      },
      services: { ...defaults, ...options.services } as unknown as ServiceFactoryMap<NodePeerServices & S>
    })
  } catch (err) {
    await datastore?.close()
    throw translateListenError(err)
  }
  if (datastore != null) {
    const store = datastore
    node.addEventListener('stop', () => { void store.close() }, { once: true })
  }

  if (bootstrap.length > 0) {
    const first = dialBootstrap(node, bootstrap)
    if (options.bootstrapTimeout == null) {
      first.catch(() => {})
    } else {
      try {
        await withTimeout(first, options.bootstrapTimeout, bootstrap.map(String))
      } catch (err) {
        await node.stop()
        throw err
      }
    }
  }
  return node
}

function relayService (limits: RelayServerLimits): ReturnType<typeof circuitRelayServer> {
  const hop = limits.maxHopStreams ?? 256
  return circuitRelayServer({
    maxInboundHopStreams: hop,
    maxOutboundHopStreams: hop,
    reservations: {
      maxReservations: limits.maxReservations ?? 128,
      reservationTtl: limits.reservationTtl ?? 3_600_000,
      applyDefaultLimit: true,
      defaultDurationLimit: limits.durationLimit ?? 120_000,
      defaultDataLimit: limits.dataLimit ?? 131_072n
    }
  })
}

function defaultListen (kind: 'default' | 'memory', isRelay: boolean): string[] {
  // no /p2p-circuit over memory: libp2p 3.3's address manager throws on a relayed
  // /memory address (it expects IP or DNS), crashing the process on reservation
  if (kind === 'memory') return [`/memory/murmur-${randomBytes(8).toString('hex')}`]
  const direct = ['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']
  // a relay is the reachable peer others reserve on, so it needs no circuit address itself
  return isRelay ? [...direct, '/ip4/0.0.0.0/udp/0/webrtc-direct'] : [...direct, '/p2p-circuit', '/webrtc']
}

async function withTimeout<T> (promise: Promise<T>, ms: number, addrs: string[]): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new BootstrapUnreachableError(`no bootstrap peer answered within ${ms} ms (${addrs.join(', ')}); check the address and that the relay is running and reachable`))
    }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Turn the transports' "address in use" failure, buried in libp2p's wrapping, into one clear error. */
function translateListenError (err: unknown): unknown {
  for (let e: unknown = err, depth = 0; e != null && depth < 8; depth++) {
    const text = e instanceof Error ? `${e.message} ${(e as NodeJS.ErrnoException).code ?? ''}` : String(e)
    const match = /EADDRINUSE[^\d]*([\d.:[\]a-f]*:\d+)?/i.exec(text)
    if (match != null) {
      const where = match[1] != null ? ` (${match[1]})` : ''
      return new AddressInUseError(`a listen address is already in use${where}: pick another port or stop the process holding it`, { cause: err })
    }
    e = e instanceof AggregateError ? e.errors[0] : (e as { cause?: unknown }).cause
  }
  return err
}

/** Gater rules that refuse a banned peer's dials and inbound connections. */
function bannedPeersGater (scores: Pick<PeerScores, 'isBanned'>): { denyDialPeer: (peer: { toString: () => string }) => boolean, denyInboundEncryptedConnection: (peer: { toString: () => string }) => boolean } {
  return {
    denyDialPeer: peer => scores.isBanned(peer.toString()),
    denyInboundEncryptedConnection: peer => scores.isBanned(peer.toString())
  }
}
