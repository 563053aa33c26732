/**
 * `murmur agent --dataset ...`: a real training peer. It joins a session through a relay
 * (`runAgent`), trains on its own partition of a real data set, gossips models with the
 * peers it finds, and with a data directory survives `kill -9`: blocks are verified at
 * start, the session document is replayed from its log, and training resumes from the last
 * good checkpoint with the same peer id.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type * as Y from 'yjs'
import {
  Session, Trainer, createSessionDoc, directSessionPeers, getHead, mnistMlp, partitionDirichlet, partitionIid, subset, MemoryShardStore
} from '@murmur/protocol'
import type { AveragingRule, Dataset, ModelConfig, RoundMetrics, SessionConfig, ShardStore } from '@murmur/protocol'
import { runAgent } from './agent.js'
import type { Agent, AgentEvent, AgentOptions } from './agent.js'
import { discoverAgentPeers } from './agent-discovery.js'
import { initNodeBackend, loadFashionMnist, loadMnist } from './data/index.js'
import { AGENT_DATASETS } from './agent-flags.js'
import type { AgentDataset } from './agent-flags.js'
import { UsageError } from './errors.js'
import { checkFolderStore, lockDataDir, openFolderStore } from './persist.js'
import type { LastGood, StoreCheck } from './persist.js'
import { persistDoc } from './persist-doc.js'
import type { PersistedDoc } from './persist-doc.js'
import { ModelCheckpoints } from './persist-model.js'

/** Training images of each data set (both are 60 000 / 10 000). */
const TRAIN_SIZE = 60_000
const TEST_SIZE = 10_000

export { AGENT_DATASETS, parsePartition, parsePartitionKind } from './agent-flags.js'
export type { AgentDataset } from './agent-flags.js'

/** Which slice of the data set this agent holds: part `index` of `count`. */
export interface PartitionChoice {
  index: number
  count: number
  /** `iid` (shuffled evenly) or label skew by a Dirichlet(alpha) draw per class. @default 'iid' */
  kind?: 'iid' | { dirichlet: number }
  /** Every agent of a session must use the same seed so the parts are disjoint. @default 42 */
  seed?: number
}

/** Options of `runTrainingAgent`; the network ones are `runAgent`'s. */
export interface TrainingAgentOptions extends Omit<AgentOptions, 'services' | 'store' | 'onEvent'> {
  dataset: AgentDataset
  partition: PartitionChoice
  /** Training samples per agent (the first `samples × count` images are split). @default all, split `count` ways */
  samples?: number
  /** Held-out test images each agent evaluates on. @default 1000 */
  testSamples?: number
  /** Total rounds for this peer (a resumed peer counts the rounds before its restart). @default until stopped */
  rounds?: number
  /** Averaging rule of this peer (the session's own rule when `create` is set). */
  rule?: AveragingRule
  /** Write this session config when the document has none: this agent creates the session. */
  create?: SessionConfig
  /**
   * Wait for this many direct session peers before the first round, or less long: until one
   * direct peer has begun training (announced a head). @default 0
   */
  waitPeers?: number
  /** Longest wait for `waitPeers` and for the session config to arrive (ms). @default 60000 */
  waitTimeout?: number
  /** tfjs backend; by default the faster of WASM and cpu on a short probe. */
  backend?: 'wasm' | 'cpu'
  onEvent?: (event: TrainingAgentEvent) => void
}

/** What a training agent reports, on top of `AgentEvent`. */
export type TrainingAgentEvent =
  | AgentEvent
  | { type: 'data', dataset: AgentDataset, train: number, test: number, backend: string }
  | { type: 'storage', shards: StoreCheck, checkpoints: StoreCheck & { orphans: number }, doc: { records: number, droppedBytes: number, skipped: number } }
  | { type: 'resume', lastGood: LastGood, accuracy: number }
  | { type: 'resume-failed', reason: string }
  /** The wait for `waitPeers` ended: `training` of the `direct` peers had already announced a head. */
  | { type: 'peers', direct: number, wanted: number, training: number }
  | { type: 'round', metrics: RoundMetrics, backend: string }
  | { type: 'checkpoint', lastGood: LastGood }
  | { type: 'warning', message: string }

/** A running training agent. */
export interface TrainingAgent {
  agent: Agent
  session: Session
  /** Resolves when the rounds are done (or the agent stopped). */
  done: Promise<void>
  /** Stop training, flush what is stored, leave the session and stop the node. */
  stop(): Promise<void>
}

/** Load this agent's part of the data set and the shared held-out images. */
export async function loadPartition (dataset: AgentDataset, partition: PartitionChoice, samples?: number, testSamples = 1000): Promise<{ train: Dataset, test: Dataset }> {
  if (!(AGENT_DATASETS as readonly string[]).includes(dataset)) throw new UsageError(`unknown dataset "${dataset}": use ${AGENT_DATASETS.join(' or ')}`)
  const pool = samples != null ? samples * partition.count : TRAIN_SIZE
  if (pool > TRAIN_SIZE) throw new UsageError(`${samples} samples × ${partition.count} parts needs ${pool} training images; ${dataset} has ${TRAIN_SIZE}`)
  if (testSamples > TEST_SIZE) throw new UsageError(`--test-samples ${testSamples}: ${dataset} has ${TEST_SIZE} test images`)
  const load = dataset === 'mnist' ? loadMnist : loadFashionMnist
  const [all, test] = await Promise.all([load({ split: 'train', limit: pool }), load({ split: 'test', limit: testSamples })])
  const seed = partition.seed ?? 42
  const kind = partition.kind ?? 'iid'
  const parts = kind === 'iid' ? partitionIid(all.labels, partition.count, seed) : partitionDirichlet(all.labels, partition.count, kind.dirichlet, seed)
  return { train: subset(all, parts[partition.index] ?? []), test }
}

/** The session config `murmur agent --create` writes. */
export function defaultSessionConfig (overrides: Partial<SessionConfig> & { localSteps?: number, batchSize?: number } = {}): SessionConfig {
  const { localSteps, batchSize, ...rest } = overrides
  // a flag left out arrives as undefined and must not blank the default
  const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined))
  return {
    model: mnistMlp({ localSteps: localSteps ?? 20, batchSize: batchSize ?? 32 }),
    averaging: 'variance-corrected',
    fanOut: 2,
    selfWeight: 0.5,
    encoding: 'fp16',
    ...given
  }
}

/** Start a training agent (see the file comment); resolves once it has joined and begun training. */
export async function runTrainingAgent (options: TrainingAgentOptions): Promise<TrainingAgent> {
  const emit = options.onEvent ?? (() => {})
  const { train, test } = await loadPartition(options.dataset, options.partition, options.samples, options.testSamples)
  const backend = await initNodeBackend(options.backend)
  emit({ type: 'data', dataset: options.dataset, train: train.count, test: test.count, backend: backend.backend })
  if (backend.fallbackReason != null) emit({ type: 'warning', message: backend.fallbackReason })

  const doc = createSessionDoc()
  let store: ShardStore = new MemoryShardStore()
  let persisted: PersistedDoc | undefined
  let checkpoints: ModelCheckpoints | undefined
  let unlock: (() => Promise<void>) | undefined
  if (options.dataDir != null) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
    unlock = await lockDataDir(options.dataDir)
    const shards = await openFolderStore(join(options.dataDir, 'shards'))
    const shardCheck = await checkFolderStore(shards)
    store = shards.store
    const opened = await ModelCheckpoints.open(options.dataDir)
    checkpoints = opened.checkpoints
    persisted = await persistDoc(doc, join(options.dataDir, `session-${options.session}.log`), {
      onError: err => { emit({ type: 'warning', message: `session log: ${err.message}` }) }
    })
    emit({ type: 'storage', shards: shardCheck, checkpoints: opened.check, doc: { records: persisted.loaded, droppedBytes: persisted.droppedBytes, skipped: persisted.skipped } })
  }

  const restored = await restoreCheckpoint(checkpoints, options.session, emit)
  const waitTimeout = options.waitTimeout ?? 60_000
  const agent = await runAgent({ ...options, store, onEvent: emit })
  const relays = new Set(options.bootstrap.map(a => /\/p2p\/([^/]+)$/.exec(a)?.[1]).filter((p): p is string => p != null))
  const controller = new AbortController()
  const seed = options.partition.index
  const session = new Session({
    node: agent.node,
    session: options.session,
    doc,
    config: options.create,
    rule: options.rule,
    backend: backend.backend,
    train,
    test,
    seed,
    resumeRound: restored?.lastGood.round,
    createTrainer: async (model) => {
      const trainer = await Trainer.create(model as ModelConfig, { seed: 1000 + seed })
      if (restored != null) {
        try {
          trainer.setSnapshot(restored.snapshot)
          const { accuracy } = await trainer.evaluate(test)
          emit({ type: 'resume', lastGood: restored.lastGood, accuracy })
        } catch (err) {
          emit({ type: 'resume-failed', reason: `the checkpoint does not fit the session's model: ${(err as Error).message}` })
        }
      }
      return trainer
    }
  })
  const discovery = discoverAgentPeers(agent, { session: options.session, doc, relays, signal: controller.signal })

  const stopAll = async (): Promise<void> => {
    controller.abort()
    await session.stop().catch(() => {})
    await checkpoints?.flush()
    await persisted?.close().catch(() => {})
    await discovery.done
    await agent.stop()
    await unlock?.()
  }
  try {
    await session.join({ signal: AbortSignal.timeout(waitTimeout) })
  } catch (err) {
    await stopAll()
    throw new UsageError(`no config for session "${options.session}" arrived within ${waitTimeout} ms: start one agent with --create, or check --session and --bootstrap`, { cause: err })
  }

  const wanted = options.waitPeers ?? 0
  if (wanted > 0) {
    const { direct, training } = await waitForPeers(agent, doc, options.session, relays, wanted, waitTimeout)
    emit({ type: 'peers', direct, wanted, training })
    if (direct < wanted && training === 0) emit({ type: 'warning', message: `only ${direct} of ${wanted} peers connected directly within ${waitTimeout} ms; training anyway` })
  }

  const saver = checkpoints != null ? checkpointSaver(checkpoints, options.session, emit) : undefined
  session.addEventListener('round', evt => {
    emit({ type: 'round', metrics: evt.detail, backend: backend.backend })
    // the listener runs before the next round starts, so this is the merged model of this round
    saver?.(session.snapshot(), evt.detail)
  })
  session.addEventListener('error', evt => { emit({ type: 'warning', message: `round failed: ${evt.detail.message}` }) })
  const done = session.run({ maxRounds: options.rounds, signal: controller.signal })
  let stopping: Promise<void> | undefined
  return { agent, session, done, stop: async () => { stopping ??= stopAll(); await stopping } }
}

/**
 * Wait until `wanted` direct session peers are connected, or until one of the direct peers
 * has begun training. The count alone is a one-sided barrier: the agent the others reach
 * first has its peers while they still wait for each other (discovery dials one pass apart),
 * and with short rounds it could run every round before any of them published a head,
 * merging with nobody. A peer that is training already is what the wait is for, so follow it.
 */
async function waitForPeers (agent: Agent, doc: Y.Doc, session: string, relays: ReadonlySet<string>, wanted: number, ms: number): Promise<{ direct: number, training: number }> {
  const heads = agent.node.services.heads
  const count = (): { direct: number, training: number } => {
    const direct = directSessionPeers(agent.node.getConnections(), relays)
    // a head arrives by gossip each round, or earlier in the document state sync replicates
    const announced = heads.heads(session)
    const training = [...direct].filter(p => announced.has(p) || getHead(doc, p) != null).length
    return { direct: direct.size, training }
  }
  const end = Date.now() + ms
  let now = count()
  while (now.direct < wanted && now.training === 0 && Date.now() < end) {
    // a head wakes the wait at once: the peer it follows may run only a few short rounds
    await new Promise<void>(resolve => {
      const wake = (): void => { clearTimeout(timer); heads.removeEventListener('head', wake); resolve() }
      const timer = setTimeout(wake, 200)
      heads.addEventListener('head', wake)
    })
    now = count()
  }
  return now
}

async function restoreCheckpoint (checkpoints: ModelCheckpoints | undefined, session: string, emit: (e: TrainingAgentEvent) => void): Promise<Awaited<ReturnType<ModelCheckpoints['restore']>>> {
  if (checkpoints == null) return undefined
  try {
    const restored = await checkpoints.restore()
    if (restored != null && restored.lastGood.session !== session) {
      emit({ type: 'resume-failed', reason: `the data directory's checkpoint belongs to session "${restored.lastGood.session}"; starting afresh` })
      return undefined
    }
    return restored
  } catch (err) {
    emit({ type: 'resume-failed', reason: (err as Error).message })
    return undefined
  }
}

/** Save after each round; while a save runs, only the newest waiting model is kept for the next. */
function checkpointSaver (checkpoints: ModelCheckpoints, session: string, emit: (e: TrainingAgentEvent) => void): (snapshot: ReturnType<Session['snapshot']>, metrics: RoundMetrics) => void {
  let waiting: { snapshot: ReturnType<Session['snapshot']>, metrics: RoundMetrics } | undefined
  let busy = false
  const next = (): void => {
    const job = waiting
    if (job == null) { busy = false; return }
    waiting = undefined
    busy = true
    checkpoints.save(job.snapshot, { session, round: job.metrics.round, accuracy: job.metrics.accuracy })
      .then(lastGood => { emit({ type: 'checkpoint', lastGood }) }, err => { emit({ type: 'warning', message: `checkpoint failed: ${(err as Error).message}` }) })
      .finally(next)
  }
  return (snapshot, metrics) => {
    waiting = { snapshot, metrics }
    if (!busy) next()
  }
}
