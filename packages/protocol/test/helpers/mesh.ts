import { createLibp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { murmurServices } from '../../src/mesh/services.js'
import type { MurmurServicesInit, MurmurNode } from '../../src/mesh/services.js'
import { MemoryShardStore } from '../../src/content/index.js'

export type MeshNode = MurmurNode

let counter = 0

/** One real libp2p node over the in-process memory transport, with every Murmur service. */
export async function createMemoryNode (init: Partial<MurmurServicesInit> = {}): Promise<MeshNode> {
  const address = `/memory/murmur-test-${process.pid}-${counter++}`
  return createLibp2p({
    addresses: { listen: [address] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    // every test peer shares one "host": lift the per-host inbound rate limit
    connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 100 },
    // all peers share one event loop: a busy loop delays pings, which is not a dead peer
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: murmurServices({ store: init.store ?? new MemoryShardStore(), ...init })
  })
}

/** Connect `nodes` in a random sparse graph: each node dials `degree` others (and node i dials i+1, so it is connected). */
export async function connectSparse (nodes: MeshNode[], degree: number, seed = 1): Promise<void> {
  let s = seed
  const rand = (): number => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 }
  const dials: Array<Promise<unknown>> = []
  for (let i = 0; i < nodes.length; i++) {
    const a = nodes[i] as MeshNode
    const targets = new Set<number>([(i + 1) % nodes.length])
    while (targets.size < Math.min(degree, nodes.length - 1)) {
      const j = Math.floor(rand() * nodes.length)
      if (j !== i) targets.add(j)
    }
    for (const j of targets) dials.push(a.dial((nodes[j] as MeshNode).getMultiaddrs()))
  }
  await Promise.all(dials)
}

/** Poll `check` until it is true or `ms` pass; returns whether it became true. */
export async function waitFor (check: () => boolean | Promise<boolean>, ms: number, every = 50): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await new Promise(resolve => setTimeout(resolve, every))
  }
  return await check()
}

/** Stop every node, ignoring ones already stopped. */
export async function stopAll (nodes: MeshNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { try { await n.stop() } catch { /* already stopped */ } }))
}
