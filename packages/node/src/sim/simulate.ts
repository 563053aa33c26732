import { SessionPeer, Trainer, PeerScores, mergeModels, mulberry32, partitionIid, partitionDirichlet, partitionLabelShards, subset, mnistMlp } from '@murmur/protocol'
import type { AveragingRule, Dataset, ModelConfig, ModelSnapshot, RoundMetrics, SessionEncoding } from '@murmur/protocol'
import { byzantineTrainer } from './byzantine.js'
import type { ByzantineSpec } from './byzantine.js'
import { createMemoryPeer } from './memory-peer.js'
import type { MemoryPeer } from './memory-peer.js'
import { buildTopology } from './topology.js'
import type { TopologySpec, Edges } from './topology.js'

export { attackSnapshot, consensusOf } from './byzantine.js'
export type { ByzantineAttack, ByzantineSpec } from './byzantine.js'

/** How the training data is split across peers. */
export type PartitionSpec =
  | { kind: 'iid' }
  | { kind: 'dirichlet', alpha: number }
  | { kind: 'label-shards', perPeer: number }

/** Something that happens to the mesh at the start of a round. */
export type Disruption =
  | { round: number, kind: 'drop', peers: number[] }
  | { round: number, kind: 'partition', islands: number[][] }
  | { round: number, kind: 'heal' }

/** Options of one simulated run. */
export interface SimulationOptions {
  peers: number
  topology: TopologySpec
  rounds: number
  /** A gossip averaging rule, or `fedavg`: a central server averaging every model each round (the reference). */
  rule: AveragingRule | 'fedavg'
  partition: PartitionSpec
  train: Dataset
  test: Dataset
  model?: ModelConfig
  fanOut?: number
  selfWeight?: number
  encoding?: 'fp32' | 'fp16' | 'int8' | { kind: 'topk', fraction: number, values?: 'fp16' | 'int8', keyframeEvery?: number }
  /** Peers that hold no data: they merge and forward models but do not train. */
  connectivityOnly?: number[]
  disruptions?: Disruption[]
  /** Byzantine peers (omniscient, colluding); round summaries then cover the honest peers only. */
  byzantine?: ByzantineSpec
  /**
   * Give each honest peer a `PeerScores` (fed to gossipsub too), so peers that keep sending
   * invalid models are banned and disconnected. Off, the merge rule alone faces the attack
   * (validation still refuses NaN and outliers, but nobody is banned).
   * @default true when `byzantine` is set
   */
  scoring?: boolean
  seed?: number
  /**
   * Start every peer from one initial model (as when a session ships one) instead of each from
   * its own. Robust rules judge models coordinate by coordinate, which only means something
   * once the honest models agree. @default false
   */
  sameInit?: boolean
  /** Track each weight tensor's variance (mean over live peers) every round. */
  trackVariance?: boolean
  onRound?(summary: RoundSummary): void
}

/** What a round looked like across the live peers. */
export interface RoundSummary {
  round: number
  live: number
  meanAccuracy: number
  minAccuracy: number
  maxAccuracy: number
  /** Mean bytes each live peer received this round. */
  bytesPerPeer: number
  /** Weight-tensor name → variance of its values (mean over live peers). */
  variance?: Record<string, number>
  /** Bans honest peers have imposed so far (with `scoring`). */
  bans?: number
  /** Models the honest live peers merged this round (sum over peers). */
  merged: number
  /** Models the honest live peers' validation refused this round (sum over peers). */
  rejected: number
}

/** The result of a run. */
export interface SimulationResult {
  rounds: RoundSummary[]
  edges: Edges
}

const mean = (xs: number[]): number => xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length

function variances (s: ModelSnapshot): Record<string, number> {
  const out: Record<string, number> = {}
  for (const t of s.tensors) {
    if (t.kind !== 'weight') continue
    let m = 0
    for (const v of t.data) m += v
    m /= t.data.length
    let q = 0
    for (const v of t.data) q += (v - m) * (v - m)
    out[t.name] = q / t.data.length
  }
  return out
}

function meanVariance (snapshots: ModelSnapshot[]): Record<string, number> {
  const sums: Record<string, number[]> = {}
  for (const s of snapshots) for (const [k, v] of Object.entries(variances(s))) (sums[k] ??= []).push(v)
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, mean(v)]))
}

/** Split `train` across peers as `spec` says. */
export function partitionData (train: Dataset, peers: number, spec: PartitionSpec, seed: number): Dataset[] {
  const parts = spec.kind === 'iid'
    ? partitionIid(train.ys, peers, seed)
    : spec.kind === 'dirichlet'
      ? partitionDirichlet(train.ys, peers, spec.alpha, seed)
      : partitionLabelShards(train.ys, peers, spec.perPeer, seed)
  return parts.map(idx => subset(train, idx))
}

/**
 * Run N full Murmur peers in this process over the memory transport, on a topology, with
 * scheduled disruptions; or the FedAvg reference in the same harness. Rounds advance in
 * lockstep only so runs can be compared by round; the protocol itself has no barrier.
 */
export async function simulate (options: SimulationOptions): Promise<SimulationResult> {
  const seed = options.seed ?? 1
  const edges = buildTopology(options.topology, options.peers, seed)
  const model = options.model ?? mnistMlp()
  const shards = partitionData(options.train, options.peers, options.partition, seed)
  const data = shards.map((d, i) => options.connectivityOnly?.includes(i) === true ? undefined : d)
  if (options.rule === 'fedavg') return { rounds: await fedAvg(options, model, data, seed), edges }
  return { rounds: await gossip(options, options.rule, model, data, edges, seed), edges }
}

async function gossip (options: SimulationOptions, rule: AveragingRule, model: ModelConfig, data: Array<Dataset | undefined>, edges: Edges, seed: number): Promise<RoundSummary[]> {
  const n = options.peers
  const island = new Map<string, number>()
  const ids: string[] = []
  const byzantine = new Set(options.byzantine?.peers ?? [])
  const scores = Array.from({ length: n }, (_, i) => (options.scoring ?? options.byzantine != null) && !byzantine.has(i) ? new PeerScores() : undefined)
  // while the mesh is partitioned, each peer refuses peers on another island (and those it banned)
  // filled once the sessions exist: what the colluding attackers read each round
  let honestModels = (): ModelSnapshot[] => []
  const peers: MemoryPeer[] = await Promise.all(Array.from({ length: n }, async (_, i) => createMemoryPeer({
    denyPeer: (other) => (island.size > 0 && island.get(other) !== island.get(ids[i] ?? '')) || (scores[i]?.isBanned(other) ?? false),
    appSpecificScore: scores[i]?.gossipScore
  })))
  peers.forEach(p => ids.push(p.peerId.toString()))
  const settings = { averaging: rule, fanOut: options.fanOut ?? 2, selfWeight: options.selfWeight ?? 0.5, encoding: (options.encoding ?? 'fp32') as SessionEncoding }
  const start = async (node: MemoryPeer, i: number): Promise<SessionPeer> => await SessionPeer.start({
    node,
    session: 'simulation',
    model,
    // one creator; the others check the session's model against theirs
    ...(i === 0 ? { create: settings } : {}),
    autoRun: false,
    discover: false,
    scores: scores[i] ?? false,
    wrapTrainer: options.byzantine != null && byzantine.has(i) ? trainer => byzantineTrainer(trainer, options.byzantine as ByzantineSpec, mulberry32(seed * 31 + i), () => honestModels()) : undefined,
    trainerSeed: seed * 1000 + (options.sameInit === true ? 0 : i),
    yieldEveryMs: 50,
    ...(data[i] != null ? { train: data[i] } : {}),
    test: options.test,
    seed: seed * 7919 + i,
    staleAfter: 10 * 60_000,
    keepVersions: 2,
    // rounds advance in lockstep here: nobody waits for anybody
    pace: { minPeers: 0, waitForNeighbours: 0 }
  })
  let sessions: SessionPeer[] = []
  const alive = new Set(Array.from({ length: n }, (_, i) => i))
  honestModels = () => [...alive].filter(i => !byzantine.has(i)).map(i => (sessions[i] as SessionPeer).snapshot())
  try {
    await Promise.all(edges.map(async ([a, b]) => peers[a]?.dial((peers[b] as MemoryPeer).getMultiaddrs())))
    sessions = await Promise.all(peers.map(start))
    const rounds: RoundSummary[] = []
    let lastBytes = new Map<number, number>()
    for (let r = 1; r <= options.rounds; r++) {
      for (const d of options.disruptions ?? []) {
        if (d.round !== r) continue
        if (d.kind === 'drop') {
          for (const i of d.peers) {
            if (!alive.delete(i)) continue
            await sessions[i]?.leave()
            await peers[i]?.stop()
          }
        } else if (d.kind === 'partition') {
          d.islands.forEach((members, k) => { for (const i of members) island.set(ids[i] as string, k) })
          await Promise.all([...alive].map(async i => {
            const mine = island.get(ids[i] as string)
            for (const c of peers[i]?.getConnections() ?? []) {
              if (island.get(c.remotePeer.toString()) !== mine) await c.close().catch(() => {})
            }
          }))
        } else {
          island.clear()
          await Promise.all(edges.map(async ([a, b]) => alive.has(a) && alive.has(b) ? peers[a]?.dial((peers[b] as MemoryPeer).getMultiaddrs()).catch(() => {}) : undefined))
        }
      }
      const live = [...alive]
      const all = await Promise.all(live.map(async i => (sessions[i] as SessionPeer).step()))
      const bytes = new Map(live.map((i, k) => [i, (all[k] as RoundMetrics).bytesReceived]))
      // a Byzantine peer's own accuracy says nothing about the session: report the honest ones
      const metrics = all.filter((_, k) => !byzantine.has(live[k] as number))
      const accs = metrics.map(m => m.accuracy)
      const summary: RoundSummary = {
        round: r,
        live: live.length,
        meanAccuracy: mean(accs),
        minAccuracy: Math.min(...accs),
        maxAccuracy: Math.max(...accs),
        bytesPerPeer: mean(live.map(i => (bytes.get(i) ?? 0) - (lastBytes.get(i) ?? 0))),
        merged: metrics.reduce((n, m) => n + m.mergedWith.length, 0),
        rejected: metrics.reduce((n, m) => n + m.rejected, 0)
      }
      lastBytes = bytes
      if (scores.some(s => s != null)) summary.bans = scores.reduce((b, s) => b + (s?.stats.bans ?? 0), 0)
      if (options.trackVariance === true) summary.variance = meanVariance(live.map(i => (sessions[i] as SessionPeer).snapshot()))
      rounds.push(summary)
      options.onRound?.(summary)
    }
    return rounds
  } finally {
    await Promise.all([...alive].map(async i => sessions[i]?.leave().catch(() => {})))
    await Promise.all(peers.map(async p => { await p.stop() }))
  }
}

async function fedAvg (options: SimulationOptions, model: ModelConfig, data: Array<Dataset | undefined>, seed: number): Promise<RoundSummary[]> {
  const trainers = await Promise.all(data.map(async (_, i) => Trainer.create(model, { seed: seed * 1000 + i, yieldEveryMs: 50 })))
  try {
    let global = (trainers[0] as Trainer).getSnapshot()
    const steps = model.localSteps
    const rounds: RoundSummary[] = []
    const alive = new Set(data.map((_, i) => i))
    for (let r = 1; r <= options.rounds; r++) {
      for (const d of options.disruptions ?? []) if (d.round === r && d.kind === 'drop') for (const i of d.peers) alive.delete(i)
      const live = [...alive].filter(i => (data[i]?.count ?? 0) > 0)
      const local: ModelSnapshot[] = []
      for (const i of live) {
        const t = trainers[i] as Trainer
        t.setSnapshot(global)
        await t.trainSteps(data[i] as Dataset, steps)
        local.push(t.getSnapshot())
      }
      global = mergeModels(local, { rule: 'plain', weights: live.map(i => data[i]?.count ?? 0) })
      const t0 = trainers[0] as Trainer
      t0.setSnapshot(global)
      const accuracy = (await t0.evaluate(options.test)).metrics.accuracy ?? Number.NaN
      const bytes = global.tensors.reduce((s, t) => s + t.data.length * 4, 0)
      const summary: RoundSummary = { round: r, live: live.length, meanAccuracy: accuracy, minAccuracy: accuracy, maxAccuracy: accuracy, bytesPerPeer: 2 * bytes, merged: live.length, rejected: 0 }
      if (options.trackVariance === true) summary.variance = meanVariance([global])
      rounds.push(summary)
      options.onRound?.(summary)
    }
    return rounds
  } finally {
    for (const t of trainers) t.dispose()
  }
}
