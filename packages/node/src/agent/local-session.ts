/**
 * `trainLocally`: a whole session on this machine — a relay on loopback and one peer per
 * share of the data, each a real `joinSession` peer — to try a task before deploying it, to
 * compare merged peers with a peer alone, or to test a model. The first peer creates the
 * session with the model and training settings; the others join and receive both (and the
 * creator's starting weights). With one share it is "trained alone": the same trainer and
 * steps, no neighbours.
 */
import type * as tf from '@tensorflow/tfjs'
import type { ModelInput, RoundMetrics, SessionSettings, TrainingData, TrainingHyperparameters } from '@murmur/protocol'
import { runRelay } from '../relay/relay.js'
import { joinSession } from './join-session.js'
import type { NodeSessionPeer } from './join-session.js'

/** Options of `trainLocally`. */
export interface LocalSessionInit {
  /** Session id (each run needs its own). @default a fresh one */
  session?: string
  /** One training share per peer. */
  shares: TrainingData[]
  /** Held-out data every peer reports its metrics on. */
  test?: TrainingData
  /** The model to start from (the creator shares its weights with the others). */
  model: ModelInput
  training?: Partial<TrainingHyperparameters>
  /** Session settings of the creator (rule, fan-out, encoding, …). */
  settings?: SessionSettings
  rounds: number
  /** Longest the whole run may take (ms) before it fails. @default 90000 */
  timeout?: number
  /** Called after every round of every peer. */
  onRound?: (peer: number, metrics: RoundMetrics) => void
}

/** What came out: each peer's final model (the caller disposes them) and its round metrics. */
export interface LocalSessionResult {
  models: tf.LayersModel[]
  rounds: RoundMetrics[][]
  ms: number
}

let runs = 0

/** Start a loopback relay, run one peer per share for `rounds` rounds, collect their models, and stop everything. */
export async function trainLocally (init: LocalSessionInit): Promise<LocalSessionResult> {
  const started = Date.now()
  const session = init.session ?? `local-${process.pid}-${Date.now()}-${runs++}`
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
        session,
        listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'],
        // the creator brings the model; joiners take it (and its weights) from the session
        ...(i === 0 ? { model: init.model, ...(init.training != null ? { training: init.training } : {}), create: init.settings ?? true } : {}),
        train,
        ...(init.test != null ? { test: init.test } : {}),
        maxRounds: init.rounds,
        // peer i draws its batches in the same order whether it trains alone or with others
        seed: i,
        // a run is short: keep every version, so a neighbour's fetch of one that a faster peer
        // has since replaced still finds it (what the examples' figures were measured with)
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
      timer = setTimeout(() => { reject(new Error(`session ${session}: peers did not finish ${init.rounds} rounds within ${timeout} ms (rounds done: ${peers.map(p => p.rounds).join(', ')}; errors: ${errors.slice(-3).join('; ') || 'none'})`)) }, timeout)
    })
    try {
      await Promise.race([Promise.all(peers.map(async p => await p.done)), expired])
    } finally {
      clearTimeout(timer)
    }
    const short = peers.findIndex(p => p.rounds < init.rounds)
    if (short >= 0) throw new Error(`session ${session}: peer ${short} stopped after ${peers[short]?.rounds} of ${init.rounds} rounds: ${errors.join('; ') || 'no error reported'}`)
    const models = await Promise.all(peers.map(async p => await p.model()))
    return { models, rounds, ms: Date.now() - started }
  } finally {
    await Promise.all(peers.map(async p => { await p.leave() }))
    await relay.stop()
  }
}
