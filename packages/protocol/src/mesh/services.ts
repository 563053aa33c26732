import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify, IdentifyPush } from '@libp2p/identify'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Libp2p } from '@libp2p/interface'
import { identify, identifyPush } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import type { ShardStore } from '../content/index.js'
import { shardExchange } from './shard-exchange.js'
import type { ShardExchange } from './shard-exchange.js'
import type { ShardExchangeInit } from './shard-exchange.js'
import { stateSync } from './state-sync.js'
import type { StateSync } from './state-sync.js'
import type { StateSyncInit } from './state-sync.js'
import { modelHeads } from './model-heads.js'
import type { ModelHeads } from './model-heads.js'
import { GOSSIP_RETAIN_SCORE_MS, IP_COLOCATION } from './colocation.js'

/** Murmur runs its own Kademlia DHT, apart from the public IPFS one. */
export const MURMUR_DHT_PROTOCOL = '/murmur/kad/1.0.0'

/** The services of a Murmur peer, as `node.services` exposes them. */
export type MurmurServices = {
  identify: Identify
  identifyPush: IdentifyPush
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
  shards: ShardExchange
  state: StateSync
  heads: ModelHeads
}

/** A libp2p node running Murmur's services. */
export type MurmurNode = Libp2p<MurmurServices>

/** Options of `murmurServices`. */
export interface MurmurServicesInit {
  /** Where shards are kept. */
  store: ShardStore
  /**
   * `server` answers DHT queries (relays, reachable agents); `client` only asks (browsers,
   * peers behind NAT); `auto` lets AutoNAT decide.
   * @default 'server'
   */
  dhtMode?: 'server' | 'client' | 'auto'
  /**
   * Keep private and loopback addresses in DHT records. Right for LANs, namespaces and
   * tests; a public deployment sets false.
   * @default true
   */
  allowPrivateAddresses?: boolean
  /** Extra options of the shard exchange. */
  shards?: Omit<ShardExchangeInit, 'store'>
  /** Extra options of state sync. */
  state?: StateSyncInit
  /**
   * Murmur's own opinion of a peer (e.g. `PeerScores.gossipScore`), fed to gossipsub as its
   * application-specific score: a peer Murmur has scored down far enough is first kept out
   * of gossip and then graylisted (its messages are ignored).
   */
  appSpecificScore?(peerId: string): number
  /**
   * Addresses gossipsub's IP-colocation penalty never applies to: where many honest peers
   * are known to share one (an operator's NAT). See `IP_COLOCATION`.
   * @default ['127.0.0.1', '::1']
   */
  ipColocationWhitelist?: string[]
}

/**
 * The libp2p services every Murmur peer runs, Node or browser: identify, ping, the Murmur
 * DHT, gossipsub with strict signing, and Murmur's shard, state and head services. The
 * bindings add transports (and relay/AutoNAT/DCUtR where they fit).
 */
export function murmurServices (init: MurmurServicesInit) {
  const mode = init.dhtMode ?? 'server'
  return {
    identify: identify(),
    identifyPush: identifyPush(),
    ping: ping(),
    dht: kadDHT({
      protocol: MURMUR_DHT_PROTOCOL,
      clientMode: mode === 'auto' ? undefined : mode === 'client',
      peerInfoMapper: init.allowPrivateAddresses === false ? removePrivateAddressesMapper : passthroughMapper
    }),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictSign',
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      // large enough for a state update or head; shards never travel over gossip
      maxInboundDataLength: 4 * 1024 * 1024 + 4096,
      // many honest peers share one address (NATs, relays): see colocation.ts
      scoreParams: {
        IPColocationFactorThreshold: IP_COLOCATION.threshold,
        IPColocationFactorWeight: IP_COLOCATION.weight,
        IPColocationFactorWhitelist: new Set(init.ipColocationWhitelist ?? IP_COLOCATION.whitelist),
        retainScore: GOSSIP_RETAIN_SCORE_MS,
        ...(init.appSpecificScore != null ? { appSpecificScore: init.appSpecificScore } : {})
      }
    }),
    shards: shardExchange({ store: init.store, ...init.shards }),
    state: stateSync(init.state),
    heads: modelHeads()
  }
}
