import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import type { Connection } from '@libp2p/interface'
import { createNodePeer, isRelayed } from '../src/index.js'
import type { NodePeer } from '../src/index.js'
import { runRelay, RELAY_DEFAULT_LIMITS } from '../src/relay/relay.js'
import type { Relay } from '../src/relay/relay.js'
import { waitFor } from './helpers.js'

// A relay over loopback TCP under a crowd of simultaneous joiners (each dials and asks for
// a reservation) keeps serving the peers it already has: pings to it and a relayed
// connection between two of them keep working. MURMUR_RELAY_ATTEMPTS scales the crowd
// (bench/relay-load.bench.ts runs 200).

const ATTEMPTS = Number(process.env.MURMUR_RELAY_ATTEMPTS ?? 60)
const PING = '/ipfs/ping/1.0.0'
let relay: Relay | undefined
const peers: NodePeer[] = []
const crowd: Libp2p[] = []

afterAll(async () => {
  await Promise.allSettled(crowd.splice(0).map(async n => { await n.stop() }))
  await Promise.allSettled(peers.splice(0).map(async p => { await p.stop() }))
  await relay?.stop()
})

/** Echo 32 random bytes over this very connection: proof that it carries data. */
async function pingOver (connection: Connection): Promise<boolean> {
  try {
    const stream = await connection.newStream(PING, { signal: AbortSignal.timeout(5000), runOnLimitedConnection: true })
    const sent = randomBytes(32)
    stream.send(sent)
    const received: number[] = []
    for await (const chunk of stream) {
      received.push(...chunk.subarray())
      if (received.length >= 32) break
    }
    await stream.close()
    return Buffer.from(received).equals(sent)
  } catch {
    return false
  }
}

/** A bare joiner: TCP, and the circuit transport that asks the relay for a reservation. */
async function joiner (): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/p2p-circuit'] },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: { identify: identify() }
  })
  crowd.push(node)
  return node
}

describe('relay under load', () => {
  it(`keeps serving its peers while ${ATTEMPTS} joiners dial and reserve at once`, async () => {
    relay = await runRelay({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const relayAddr = relay.addrs[0] ?? ''
    const existing = async (): Promise<NodePeer> => {
      const node = await createNodePeer({ listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'], bootstrap: [relayAddr], bootstrapTimeout: 10_000, directUpgrade: false })
      peers.push(node)
      expect(await waitFor(() => node.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 10_000)).toBe(true)
      return node
    }
    const a = await existing()
    const b = await existing()
    const circuit = b.getMultiaddrs().find(ma => ma.toString().includes('/p2p-circuit/p2p/'))
    const relayed = await a.dial(circuit ?? [], { signal: AbortSignal.timeout(10_000) })
    expect(isRelayed(relayed)).toBe(true)
    const toRelay = a.getConnections(relay.node.peerId)[0] as Connection

    // the existing peers keep pinging the relay and each other through it while the crowd arrives
    const pings = { relay: { ok: 0, failed: 0 }, relayed: { ok: 0, failed: 0 } }
    let loading = true
    const pinger = (async () => {
      while (loading) {
        const [r, c] = await Promise.all([pingOver(toRelay), pingOver(relayed)])
        pings.relay[r ? 'ok' : 'failed']++
        pings.relayed[c ? 'ok' : 'failed']++
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    })()

    const joiners = await Promise.all(Array.from({ length: ATTEMPTS }, joiner))
    const outcome = { connected: 0, refused: 0, reserved: 0, noReservation: 0 }
    const t0 = Date.now()
    await Promise.all(joiners.map(async j => {
      try {
        await j.dial(relay?.node.getMultiaddrs() ?? [], { signal: AbortSignal.timeout(20_000) })
        outcome.connected++
      } catch {
        outcome.refused++
        return
      }
      const got = await waitFor(() => j.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 15_000, 250)
      outcome[got === true ? 'reserved' : 'noReservation']++
    }))
    const loadMs = Date.now() - t0
    // a few more rounds of pings after the crowd settled
    await new Promise(resolve => setTimeout(resolve, 1500))
    loading = false
    await pinger

    const held = relay.node.services.relay?.reservations.size ?? 0
    console.log(`relay load: ${ATTEMPTS} joiners at once → ${outcome.connected} connected, ${outcome.refused} refused; ` +
      `${outcome.reserved} got a reservation, ${outcome.noReservation} did not (relay holds ${held} of ${RELAY_DEFAULT_LIMITS.maxReservations}); ` +
      `${loadMs} ms; existing peers' pings to the relay ${pings.relay.ok}/${pings.relay.ok + pings.relay.failed} ok, ` +
      `over their relayed connection ${pings.relayed.ok}/${pings.relayed.ok + pings.relayed.failed} ok`)

    expect(relay.node.status).toBe('started')
    expect(held).toBeLessThanOrEqual(RELAY_DEFAULT_LIMITS.maxReservations)
    expect(outcome.connected + outcome.refused).toBe(ATTEMPTS)
    expect(outcome.reserved).toBeGreaterThan(0)
    // the peers the relay already served were never cut off
    expect(pings.relay.failed).toBe(0)
    expect(pings.relayed.failed).toBe(0)
    expect(pings.relayed.ok).toBeGreaterThan(0)
    expect(await pingOver(relayed)).toBe(true)
  }, 120_000)
})
