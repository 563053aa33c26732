/**
 * Training through Murmur, with nothing but `@murmur/node`'s public API: a relay on
 * loopback, then one peer per share of the data. The first peer creates the session with
 * the user's model and training settings; the others join it and receive both. One peer
 * alone in its own session is the "trained alone" baseline: the same trainer, the same
 * steps, no neighbours to merge.
 */
import type * as tf from '@tensorflow/tfjs'
import { joinSession, runRelay } from '@murmur/node'
import type { Dataset, NodeSessionPeer, RoundMetrics, TrainingHyperparameters } from '@murmur/node'

/** What one session run needs. */
export interface PeersInit {
  /** Session id (each run needs its own). */
  session: string
  /** One training share per peer. */
  shares: Dataset[]
  /** Held-out data every peer reports its metrics on. */
  test: Dataset
  /** A fresh model to start from (the creator shares its weights with the others). */
  model: tf.LayersModel
  training: Partial<TrainingHyperparameters>
  rounds: number
  /** Longest the whole run may take (ms) before it fails. @default 90000 */
  timeout?: number
  /** Called after every round of every peer. */
  onRound?: (peer: number, metrics: RoundMetrics) => void
}

/** What came out: each peer's final model (the caller disposes them) and its round metrics. */
export interface PeersResult {
  models: tf.LayersModel[]
  rounds: RoundMetrics[][]
  ms: number
}

/** Start a loopback relay, run one peer per share for `rounds` rounds, collect their models, and stop everything. */
export async function trainPeers (init: PeersInit): Promise<PeersResult> {
  const started = Date.now()
  const relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
  const bootstrap = relay.addrs.filter(a => a.includes('/tcp/') && !a.includes('/ws'))
  const peers: NodeSessionPeer[] = []
  const rounds: RoundMetrics[][] = init.shares.map(() => [])
  const alone = init.shares.length === 1
  const errors: string[] = []
  try {
    for (const [i, train] of init.shares.entries()) {
      const peer = await joinSession({
        bootstrap,
        session: init.session,
        listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'],
        // the creator brings the model; joiners take it (and its weights) from the session
        ...(i === 0 ? { model: init.model, training: init.training, create: true } : {}),
        train,
        test: init.test,
        maxRounds: init.rounds,
        // peer i draws its batches in the same order whether it trains alone or with others
        seed: i,
        // Keep every version: with the default (2) a fast peer drops versions a neighbour has
        // already picked to fetch, and that fetch hangs for fetchTimeout (30 s) instead of
        // failing (in the regression example round 1 of two peers took 30.2 s). A small
        // model's versions cost little.
        keepVersions: init.rounds + 1,
        // wait for every other peer before the first round; a peer alone waits for nobody
        pace: alone ? { minPeers: 0, waitForNeighbours: 0 } : { minPeers: init.shares.length - 1, startTimeout: 30_000 }
      })
      peer.addEventListener('error', evt => { errors.push(`peer ${i}: ${evt.detail.message}`) })
      peer.addEventListener('round', evt => {
        rounds[i]?.push(evt.detail)
        init.onRound?.(i, evt.detail)
      })
      peers.push(peer)
    }
    const timeout = init.timeout ?? 90_000
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`session ${init.session}: peers did not finish ${init.rounds} rounds within ${timeout} ms (rounds done: ${peers.map(p => p.rounds).join(', ')}; errors: ${errors.slice(-3).join('; ') || 'none'})`)) }, timeout)
    })
    try {
      await Promise.race([Promise.all(peers.map(async p => await p.done)), expired])
    } finally {
      clearTimeout(timer)
    }
    const short = peers.findIndex(p => p.rounds < init.rounds)
    if (short >= 0) throw new Error(`session ${init.session}: peer ${short} stopped after ${peers[short]?.rounds} of ${init.rounds} rounds: ${errors.join('; ') || 'no error reported'}`)
    const models = await Promise.all(peers.map(async p => await p.model()))
    return { models, rounds, ms: Date.now() - started }
  } finally {
    await Promise.all(peers.map(async p => { await p.leave() }))
    await relay.stop()
  }
}
