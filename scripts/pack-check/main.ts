/**
 * A user's Node program, compiled and run by scripts/pack-check.mjs in a fresh project
 * outside the monorepo, against the packed @murmur/* tarballs. It imports the packages'
 * public entry points only, so it breaks when a published export or type does.
 */
import * as tf from '@tensorflow/tfjs'
import { createNodePeer, joinSession, runRelay } from '@murmur/node'
import type { Dataset, NodePeer, NodeSessionPeer, Relay, RoundMetrics } from '@murmur/node'
import { weightedAverage } from '@murmur/protocol'
import type { IceServer } from '@murmur/protocol'
import { simulate } from '@murmur/node/sim'

/** The whole program must finish well inside this; pack-check kills it later still. */
const DEADLINE_MS = 150_000

/**
 * A short real training session through the relay, as a user writes one: their own tfjs
 * model and data (a two-feature classification), two peers via `joinSession`, a few rounds;
 * the peers must merge each other's models, and the model must come out and predict.
 */
async function runConsumerSession (bootstrap: string[]): Promise<void> {
  const tcp = bootstrap.filter(a => a.includes('/tcp/') && !a.includes('/ws'))
  const data = (offset: number, count: number): Dataset => {
    const xs = new Float32Array(count * 2)
    const ys = new Int32Array(count)
    for (let i = 0; i < count; i++) {
      const a = Math.sin((i + offset) * 12.9898) * 0.5
      const b = Math.cos((i + offset) * 78.233) * 0.5
      xs[2 * i] = a
      xs[2 * i + 1] = b
      ys[i] = a > b ? 1 : 0
    }
    return { xs, ys, count, inputShape: [2], targetShape: [] }
  }
  const model = tf.sequential({ layers: [tf.layers.dense({ name: 'hidden', units: 8, activation: 'relu', inputShape: [2] }), tf.layers.dense({ name: 'out', units: 2, activation: 'softmax' })] })
  const training = { loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'], optimizer: { name: 'sgd' as const, learningRate: 0.2 }, batchSize: 16, localSteps: 5 }
  const peers: NodeSessionPeer[] = []
  try {
    peers.push(await joinSession({ bootstrap: tcp, session: 'consumer', model, training, create: { fanOut: 1 }, train: data(0, 200), test: data(1000, 100), maxRounds: 4, pace: { minPeers: 1 } }))
    peers.push(await joinSession({ bootstrap: tcp, session: 'consumer', train: data(500, 200), test: data(1000, 100), maxRounds: 4, pace: { minPeers: 1 } }))
    const merged = peers.map(() => new Set<string>())
    peers.forEach((p, i) => { p.addEventListener('round', (e: CustomEvent<RoundMetrics>) => { for (const m of e.detail.mergedWith) merged[i]?.add(m) }) })
    await Promise.all(peers.map(async p => await p.done))
    const [a, b] = peers as [NodeSessionPeer, NodeSessionPeer]
    if (!(merged[0]?.has(b.peerId) === true && merged[1]?.has(a.peerId) === true)) throw new Error(`the peers did not merge each other's models: ${JSON.stringify(merged.map(m => [...m]))}`)
    const trained = await b.model()
    const out = trained.predict(tf.tensor2d([[0.4, -0.4]])) as tf.Tensor
    if (out.shape[1] !== 2) throw new Error(`the exported model predicts shape ${JSON.stringify(out.shape)}`)
    console.log(`session: 2 peers, ${a.rounds}+${b.rounds} rounds, each merged the other's model; exported model predicts ${JSON.stringify(Array.from(await out.data()).map(v => v.toFixed(2)))}`)
    trained.dispose()
    out.dispose()
  } finally {
    await Promise.all(peers.map(async p => await p.leave()))
    model.dispose()
  }
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
