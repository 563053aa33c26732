/**
 * A libp2p node for a browser page: WebSockets to reach a relay, WebRTC to reach other
 * browsers and agents directly, circuit relay for the signalling in between, and the one
 * set of Murmur services every peer runs (DHT in client mode).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { CONNECTION_LIMITS, murmurServices } from '@murmur/protocol'
import type { IceServer, MurmurNode, MurmurServices, PeerScores } from '@murmur/protocol'
import { createLibp2p } from 'libp2p'
import type { ServiceFactoryMap } from 'libp2p'
import { BootstrapUnreachableError, InvalidOptionsError } from './errors.js'
import { openStorage } from './storage.js'
import type { PeerStorage, StorageKind } from './storage.js'

/** Version string other peers see through identify. */
export const MURMUR_BROWSER_USER_AGENT = 'murmur-browser/0.1.0'

/** Options of `createBrowserPeer`. */
export interface BrowserPeerOptions {
  /** `murmur relay` WebSocket addresses ending in `/p2p/<relay id>`; at least one. */
  bootstrap: string[]
  /**
   * `indexeddb` keeps the identity, shards and session progress across reloads.
   * @default 'indexeddb'
   */
  storage?: StorageKind
  /**
   * Name of the IndexedDB databases; two pages of one origin that should be two peers need two names.
   * @default 'murmur'
   */
  storageName?: string
  /**
   * STUN/TURN servers for WebRTC. Without one, WebRTC works only between peers on one network.
   * @default []
   */
  iceServers?: IceServer[]
  /**
   * How long to wait for the first bootstrap relay to answer (ms).
   * @default 10000
   */
  bootstrapTimeout?: number
  /** This peer's scores of others: gossipsub's application score; banned peers are refused by the gater. */
  scores?: Pick<PeerScores, 'gossipScore' | 'isBanned'>
  signal?: AbortSignal
}

/** A started browser peer and the storage behind it. */
export interface BrowserPeer {
  node: MurmurNode
  storage: PeerStorage
  /** The bootstrap relays as given, parsed. */
  relays: Multiaddr[]
  /** Stop libp2p and close the databases. */
  stop(): Promise<void>
}

function parseBootstrap (addrs: string[]): Multiaddr[] {
  if (addrs.length === 0) throw new InvalidOptionsError('bootstrap is empty: pass at least one `murmur relay` address, e.g. /ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooW...')
  return addrs.map(a => {
    let ma: Multiaddr
    try {
      ma = multiaddr(a)
    } catch (err) {
      throw new InvalidOptionsError(`bootstrap address "${a}" is not a multiaddr`, { cause: err })
    }
    const text = ma.toString()
    if (!text.includes('/p2p/')) throw new InvalidOptionsError(`bootstrap address "${a}" lacks /p2p/<relay peer id>`)
    const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value ?? ''
    try {
      peerIdFromString(id)
    } catch (err) {
      throw new InvalidOptionsError(`bootstrap address "${a}": "${id}" after /p2p/ is not a peer id (they look like 12D3KooW...)`, { cause: err })
    }
    if (!/\/(ws|wss|tls\/ws|webrtc-direct)(\/|$)/.test(text)) throw new InvalidOptionsError(`bootstrap address "${a}" is not one a browser can dial: use the relay's /ws, /wss or /webrtc-direct address`)
    return ma
  })
}

/** Start a browser libp2p node with Murmur's services, its identity loaded from storage, and dial the bootstrap relays. */
export async function createBrowserPeer (options: BrowserPeerOptions): Promise<BrowserPeer> {
  const relays = parseBootstrap(options.bootstrap)
  const storage = await openStorage(options.storage ?? 'indexeddb', options.storageName ?? 'murmur')
  const scores = options.scores
  let node: MurmurNode
  try {
    const rtcConfiguration: RTCConfiguration = { iceServers: options.iceServers ?? [] }
    node = await createLibp2p({
      privateKey: await storage.identity(),
      ...(storage.datastore != null ? { datastore: storage.datastore } : {}),
      nodeInfo: { userAgent: MURMUR_BROWSER_USER_AGENT },
      // a browser listens only through relays: a reservation, and WebRTC signalled over it
      addresses: { listen: ['/p2p-circuit', '/webrtc'] },
      transports: [webSockets(), webRTC({ rtcConfiguration }), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // the browser default refuses plain ws:// and private addresses, which is where a
      // LAN or field relay (and every test) lives
      // a browser's inbound relayed connections all come from its relay's address
      connectionManager: { ...CONNECTION_LIMITS },
      connectionGater: {
        denyDialMultiaddr: () => false,
        ...(scores != null ? { denyDialPeer: peer => scores.isBanned(peer.toString()), denyInboundEncryptedConnection: peer => scores.isBanned(peer.toString()) } : {})
      },
      services: murmurServices({ store: storage.shards, dhtMode: 'client', ...(scores != null ? { appSpecificScore: scores.gossipScore } : {}) }) as unknown as ServiceFactoryMap<MurmurServices>
    })
  } catch (err) {
    await storage.close()
    throw err
  }
  const stop = async (): Promise<void> => {
    await node.stop()
    await storage.close()
  }
  try {
    await dialFirst(node, relays, options.bootstrapTimeout ?? 10_000, options.signal)
  } catch (err) {
    await stop()
    throw err
  }
  return { node, storage, relays, stop }
}

/** Dial every relay; resolve once one answered, reject when none did in time. */
async function dialFirst (node: MurmurNode, relays: Multiaddr[], timeout: number, signal?: AbortSignal): Promise<void> {
  const limit = AbortSignal.any([AbortSignal.timeout(timeout), ...(signal != null ? [signal] : [])])
  const dials = relays.map(async ma => await node.dial(ma, { signal: limit }))
  try {
    await Promise.any(dials)
  } catch (err) {
    const reasons = err instanceof AggregateError ? err.errors.map(e => (e as Error).message) : [(err as Error).message]
    throw new BootstrapUnreachableError(`no bootstrap relay answered within ${timeout} ms (${relays.map(String).join(', ')}): ${reasons.join('; ')}; check that the relay runs and its WebSocket port is reachable`, { cause: err })
  }
}
