/**
 * A user's Node program, compiled and run by scripts/pack-check.mjs in a fresh project
 * outside the monorepo, against the packed @murmur/* tarballs. It imports the packages'
 * public entry points only, so it breaks when a published export or type does.
 */
import { createNodePeer, runRelay } from '@murmur/node'
import type { NodePeer, Relay } from '@murmur/node'
import { weightedAverage } from '@murmur/protocol'
import type { IceServer } from '@murmur/protocol'
import { simulate } from '@murmur/node/sim'

/** The whole program must finish well inside this; pack-check kills it later still. */
const DEADLINE_MS = 90_000

/**
 * A short real training session between the two nodes through the relay.
 *
 * TO BE WRITTEN once the session API lands: join `bootstrap` as two peers of one
 * session, train a few rounds on a small data set, and assert the peers merged each
 * other's models (throw on failure; pack-check fails when this program exits non-zero).
 * Until then it checks nothing and says so.
 */
async function runConsumerSession (bootstrap: string[]): Promise<void> {
  console.log(`runConsumerSession: not written yet (relay ${bootstrap.length} addrs)`)
}

async function main (): Promise<void> {
  // protocol's averaging math, straight from the package
  const mean = weightedAverage([Float32Array.of(1, 2), Float32Array.of(3, 6)])
  if (mean[0] !== 2 || mean[1] !== 4) throw new Error(`weightedAverage gave ${String(mean)}`)
  if (typeof simulate !== 'function') throw new Error('@murmur/node/sim has no simulate()')

  const iceServers: IceServer[] = [] // Murmur's own type: no DOM lib in this project
  const relay: Relay = await runRelay({ host: '127.0.0.1' })
  const peers: NodePeer[] = []
  try {
    const tcp = relay.addrs.filter(a => a.includes('/tcp/') && !a.includes('/ws'))
    if (tcp.length === 0) throw new Error(`relay has no TCP address: ${relay.addrs.join(' ')}`)
    for (let i = 0; i < 2; i++) {
      peers.push(await createNodePeer({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: tcp, bootstrapTimeout: 15_000, iceServers }))
    }
    const [a, b] = peers as [NodePeer, NodePeer]
    for (const peer of peers) {
      if (peer.getConnections(relay.node.peerId).length === 0) throw new Error(`${peer.peerId.toString()} is not connected to the relay`)
    }
    await a.dial(b.getMultiaddrs())
    const rtt = await a.services.ping.ping(b.peerId, { signal: AbortSignal.timeout(10_000) })
    console.log(`relay ${relay.node.peerId.toString()}; two nodes connected to it and to each other (ping ${rtt} ms)`)

    await runConsumerSession(relay.addrs)
  } finally {
    await Promise.all(peers.map(async p => p.stop()))
    await relay.stop()
  }
}

const deadline = setTimeout(() => {
  console.error(`consumer: not done after ${DEADLINE_MS / 1000} s`)
  process.exit(1)
}, DEADLINE_MS)
deadline.unref()

try {
  await main()
  console.log('consumer: OK')
  process.exitCode = 0
} catch (err) {
  console.error('consumer: FAILED', err)
  process.exitCode = 1
}
// libp2p can leave sockets or timers behind after stop; the program is done
setTimeout(() => process.exit(), 200).unref()
