import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { murmurServices, MemoryShardStore } from '@murmur/protocol'
import type { MurmurServicesInit, MurmurNode } from '@murmur/protocol'
import type { Datastore } from 'interface-datastore'

/** A Murmur peer over the in-process memory transport. */
export type MemoryPeer = MurmurNode

let counter = 0

/**
 * A real libp2p node with every Murmur service, over `@libp2p/memory`: the transport of
 * simulations and benchmarks that run many peers in one process. Only the transport
 * differs from a networked agent.
 */
export async function createMemoryPeer (init: Partial<MurmurServicesInit> & { denyPeer?(peerId: string): boolean, datastore?: Datastore } = {}): Promise<MemoryPeer> {
  const { denyPeer: deny, datastore, ...services } = init
  return createLibp2p({
    // the DHT keeps its provider records here: soaks pass their own to count them
    ...(datastore != null ? { datastore } : {}),
    addresses: { listen: [`/memory/murmur-${process.pid}-${Date.now()}-${counter++}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // every peer shares one host and one event loop: lift the per-host inbound rate limit,
    // and do not take a ping delayed by a busy loop for a dead peer
    connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 100 },
    connectionMonitor: { abortConnectionOnPingFailure: false },
    connectionGater: {
      denyDialMultiaddr: () => false,
      // simulations cut the mesh into islands by refusing peers on the other side
      denyDialPeer: (peerId) => deny?.(peerId.toString()) ?? false,
      denyInboundEncryptedConnection: (peerId) => deny?.(peerId.toString()) ?? false
    },
    services: murmurServices({ store: init.store ?? new MemoryShardStore(), ...services })
  })
}
