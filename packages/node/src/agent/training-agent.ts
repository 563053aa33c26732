/**
 * `murmur agent --dataset …` and `murmur agent --model … --data …`: a training peer that
 * loads its part of a data set (a shipped one, or the user's own files), then joins through
 * Node's `joinSession` (the one front door). With a data directory it survives `kill -9`.
 */
import { mnistMlp, partitionDirichlet, partitionIid, subset } from '@murmur/protocol'
import type { Dataset, ModelInput, RoundMetrics, SessionSettings, TrainingHyperparameters } from '@murmur/protocol'
import { loadFashionMnist, loadMnist } from '../data/index.js'
import { UsageError } from '../errors.js'
import { AGENT_DATASETS } from './flags.js'
import type { AgentDataset } from './flags.js'
import { joinSession } from './join-session.js'
import type { NodeAgentEvent, NodeJoinOptions, NodeSessionPeer } from './join-session.js'

/** Training images of each shipped data set (both are 60 000 / 10 000). */
const TRAIN_SIZE = 60_000
const TEST_SIZE = 10_000

export { AGENT_DATASETS, parsePartition, parsePartitionKind } from './flags.js'
export type { AgentDataset } from './flags.js'

/** Which slice of the data set this agent holds: part `index` of `count`. */
export interface PartitionChoice {
  index: number
  count: number
  /** `iid` (shuffled evenly) or label skew by a Dirichlet(alpha) draw per class. @default 'iid' */
  kind?: 'iid' | { dirichlet: number }
  /** Every agent of a session must use the same seed so the parts are disjoint. @default 42 */
  seed?: number
}

/** The data an agent trains on: a shipped data set by name, or the user's own samples. */
export type AgentData =
  | { dataset: AgentDataset, samples?: number, testSamples?: number }
  | { train: Dataset, test?: Dataset, name: string }

/** Options of `runTrainingAgent`: Node's `joinSession` options, with the data and model chosen by name. */
export interface TrainingAgentOptions extends Omit<NodeJoinOptions, 'train' | 'test' | 'create' | 'model' | 'onEvent'> {
  data: AgentData
  partition: PartitionChoice
  /** The model (a shipped data set defaults to the 784-128-10 MNIST network when creating). */
  model?: ModelInput
  training?: Partial<TrainingHyperparameters>
  /** Create the session when it has none, with these settings. */
  create?: SessionSettings & { localSteps?: number, batchSize?: number }
  /** Total rounds for this peer (a resumed peer counts the rounds before its restart). @default until stopped */
  rounds?: number
  onEvent?: (event: TrainingAgentEvent) => void
}

/** What a training agent reports (what `murmur agent` prints). */
export type TrainingAgentEvent =
  | NodeAgentEvent
  | { type: 'data', dataset: string, train: number, test: number, backend: string }
  | { type: 'resume', round: number, metrics: Record<string, number>, saved: Record<string, number> }
  | { type: 'resume-failed', reason: string }
  | { type: 'peers', ready: number, wanted: number, waited: boolean }
  | { type: 'round', metrics: RoundMetrics, backend: string }
  | { type: 'checkpoint', round: number }

/** A running training agent. */
export interface TrainingAgent {
  peer: NodeSessionPeer
  /** Resolves when the rounds are done (or the agent stopped). */
  done: Promise<void>
  /** Stop training, flush what is stored, leave the session and stop the node. */
  stop(): Promise<void>
}

/** Load this agent's part of a shipped data set and the shared held-out images. */
export async function loadPartition (dataset: AgentDataset, partition: PartitionChoice, samples?: number, testSamples = 1000): Promise<{ train: Dataset, test: Dataset }> {
  if (!(AGENT_DATASETS as readonly string[]).includes(dataset)) throw new UsageError(`unknown dataset "${dataset}": use ${AGENT_DATASETS.join(' or ')}`)
  const pool = samples != null ? samples * partition.count : TRAIN_SIZE
  if (pool > TRAIN_SIZE) throw new UsageError(`${samples} samples × ${partition.count} parts needs ${pool} training images; ${dataset} has ${TRAIN_SIZE}`)
  if (testSamples > TEST_SIZE) throw new UsageError(`--test-samples ${testSamples}: ${dataset} has ${TEST_SIZE} test images`)
  const load = dataset === 'mnist' ? loadMnist : loadFashionMnist
  const [all, test] = await Promise.all([load({ split: 'train', limit: pool }), load({ split: 'test', limit: testSamples })])
  return { train: partitionOf(all, partition), test }
}

/** Part `index` of `count` of a data set (label skew needs class-index targets). */
export function partitionOf (all: Dataset, partition: PartitionChoice): Dataset {
  const seed = partition.seed ?? 42
  const kind = partition.kind ?? 'iid'
  if (kind !== 'iid' && all.targetShape.length !== 0) throw new UsageError('--partition-kind dirichlet needs one class index per sample as the target')
  const parts = kind === 'iid' ? partitionIid(all.ys, partition.count, seed) : partitionDirichlet(all.ys, partition.count, kind.dirichlet, seed)
  return subset(all, parts[partition.index] ?? [])
}

/** Start a training agent (see the file comment); resolves once it has joined and begun training. */
export async function runTrainingAgent (options: TrainingAgentOptions): Promise<TrainingAgent> {
  const emit = options.onEvent ?? (() => {})
  const { data, partition, create, rounds, onEvent: _onEvent, model, training, ...join } = options
  let train: Dataset
  let test: Dataset | undefined
  let name: string
  if ('dataset' in data) {
    ({ train, test } = await loadPartition(data.dataset, partition, data.samples, data.testSamples))
    name = data.dataset
  } else {
    train = partition.count > 1 ? partitionOf(data.train, partition) : data.train
    // an empty held-out set measures nothing: the agent then reports training loss only
    test = data.test != null && data.test.count > 0 ? data.test : undefined
    name = data.name
  }
  const { localSteps, batchSize, ...settings } = create ?? {}
  // a shipped data set comes with its model; the user's own data needs theirs
  const sessionModel = model ?? ('dataset' in data && create != null ? mnistMlp({ localSteps: localSteps ?? 20, batchSize: batchSize ?? 32 }) : undefined)
  const hyper = { ...training, ...(localSteps != null ? { localSteps } : {}), ...(batchSize != null ? { batchSize } : {}) }
  let backend = 'unknown'
  const peer = await joinSession({
    ...join,
    train,
    ...(test != null ? { test } : {}),
    ...(sessionModel != null ? { model: sessionModel } : {}),
    ...(model != null || Object.keys(hyper).length > 0 ? { training: hyper } : {}),
    ...(create != null ? { create: settings } : {}),
    maxRounds: rounds,
    seed: join.seed ?? partition.index,
    onEvent: event => {
      if (event.type === 'backend') {
        backend = event.backend
        emit({ type: 'data', dataset: name, train: train.count, test: test?.count ?? 0, backend })
      }
      emit(event)
    }
  })
  peer.addEventListener('resume', evt => { emit({ type: 'resume', ...evt.detail }) })
  peer.addEventListener('resume-failed', evt => { emit({ type: 'resume-failed', reason: evt.detail.reason }) })
  peer.addEventListener('ready', evt => { emit({ type: 'peers', ...evt.detail }) })
  peer.addEventListener('round', evt => { emit({ type: 'round', metrics: evt.detail, backend }) })
  peer.addEventListener('checkpoint', evt => { emit({ type: 'checkpoint', round: evt.detail.round }) })
  peer.addEventListener('error', evt => { emit({ type: 'warning', message: `round failed: ${evt.detail.message}` }) })
  let stopping: Promise<void> | undefined
  return { peer, done: peer.done, stop: async () => { stopping ??= peer.leave(); await stopping } }
}
