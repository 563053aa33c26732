import { describe, it, expect, afterAll } from 'vitest'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { murmurServices } from '../src/mesh/services.js'
import type { MurmurNode } from '../src/mesh/services.js'
import { CONNECTION_LIMITS, IP_COLOCATION } from '../src/mesh/colocation.js'
import { MemoryShardStore, cidForBytes } from '../src/content/index.js'
import { createSessionDoc, getMember, upsertMember } from '../src/state/index.js'
import { Encoding } from '../src/wire/index.js'
import { stopAll, waitFor } from './helpers/mesh.js'

// Issue 13, "one NAT's worth of peers cuts a member out". Gossipsub scores peers by the IP
// address of their connection; memory-transport connections have none (`/memory/…`), so
// this runs over loopback TCP, where every peer is 127.0.0.1. Loopback is on the default
// colocation whitelist, so the member here clears it: 127.0.0.1 stands for a NAT's public
// address, as all of a campus's devices look to a member outside it.

const SESSION = 'crowd'
const CROWD = 32
const nodes: MurmurNode[] = []
afterAll(async () => { await stopAll(nodes) })

async function tcpNode (): Promise<MurmurNode> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    // what the bindings are to use for a peer that accepts connections
    connectionManager: { ...CONNECTION_LIMITS },
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: murmurServices({ store: new MemoryShardStore(), ipColocationWhitelist: [] })
  })
  nodes.push(node)
  return node
}

describe('many honest peers behind one address', () => {
  it(`${CROWD} peers from one IP all deliver to a member, and after they left a newcomer from it still does`, async () => {
    const member = await tcpNode()
    member.services.heads.join(SESSION)
    const memberDoc = createSessionDoc()
    member.services.state.join(SESSION, memberDoc)
    const manifest = (await cidForBytes(Uint8Array.of(1))).bytes
    const announce = async (n: MurmurNode, version: number): Promise<void> => {
      await n.services.heads.announce(SESSION, { manifest, version, samples: 1, encoding: Encoding.FP32, timestamp: Date.now(), loss: 1, accuracy: 0.5 })
    }

    // the crowd arrives at once, as after a relay restart
    const crowd = await Promise.all(Array.from({ length: CROWD }, async () => tcpNode()))
    for (const n of crowd) n.services.heads.join(SESSION)
    await Promise.all(crowd.map(async n => n.dial(member.getMultiaddrs())))
    expect(await waitFor(() => crowd.every(n => n.services.pubsub.getSubscribers(`/murmur/${SESSION}/heads`).some(p => p.equals(member.peerId))), 20_000)).toBe(true)
    // every peer of the crowd is heard while connected
    await Promise.all(crowd.map(async (n, i) => { await announce(n, i + 1) }))
    const heard = await waitFor(() => member.services.heads.heads(SESSION).size === CROWD, 15_000)
    console.log(`heads from a crowd of ${CROWD} at one address: ${member.services.heads.heads(SESSION).size}`)
    expect(heard).toBe(true)

    // they leave; a gossipsub that kept counting them against the address would graylist the next one
    await stopAll(crowd)
    expect(await waitFor(() => member.getConnections().length === 0, 10_000)).toBe(true)
    // past the second in which the crowd used up the address's inbound connection rate
    await new Promise(resolve => setTimeout(resolve, 1100))

    const late = await tcpNode()
    late.services.heads.join(SESSION)
    const lateDoc = createSessionDoc()
    late.services.state.join(SESSION, lateDoc)
    await late.dial(member.getMultiaddrs())
    expect(await waitFor(() => late.services.pubsub.getSubscribers(`/murmur/${SESSION}/heads`).some(p => p.equals(member.peerId)) &&
      late.services.pubsub.getSubscribers(`/murmur/${SESSION}/state`).some(p => p.equals(member.peerId)), 10_000)).toBe(true)
    // the implementation has getScore; the GossipSub interface does not name it
    const score = (member.services.pubsub as unknown as { getScore(peer: string): number }).getScore(late.peerId.toString())
    await announce(late, 1)
    upsertMember(lateDoc, { peerId: 'from-the-crowd', role: 'trainer', backend: 'wasm', samples: 1, joinedAt: 1, lastSeen: 1 })
    const delivered = await waitFor(() => member.services.heads.heads(SESSION).has(late.peerId.toString()) && getMember(memberDoc, 'from-the-crowd') != null, 10_000)
    console.log(`after ${CROWD} peers from the address came and went: the next one's gossipsub score ${score} (P6 starts past ${IP_COLOCATION.threshold}), head delivered ${String(member.services.heads.heads(SESSION).has(late.peerId.toString()))}, state update delivered ${String(getMember(memberDoc, 'from-the-crowd') != null)}`)
    expect(delivered).toBe(true)
    expect(score).toBeGreaterThanOrEqual(0)
  }, 60_000)
})
