import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { MemoryDatastore } from 'datastore-core/memory'
import * as Y from 'yjs'
import { CID } from 'multiformats/cid'
import { Session, Trainer, createSessionDoc, listMetrics, partitionIid, sameState, subset, verifyShard } from '@murmur/protocol'
import type { Dataset, ModelConfig, ShardExchange } from '@murmur/protocol'
import { initNodeBackend, loadMnist } from '../src/data/index.js'
import { createMemoryPeer } from '../src/sim/memory-peer.js'
import type { MemoryPeer } from '../src/sim/memory-peer.js'
import { waitFor } from './helpers.js'

// Churn soak: agents train one session while one leaves or joins every few seconds. Every
// remaining replica of the session document must converge, no fetch may yield a model other
// than the one its manifest names, and heap per live agent must stay flat. The bounded
// default runs here; bench/churn.bench.ts runs 30 agents for five minutes through the
// MURMUR_CHURN_* variables.

const AGENTS = Number(process.env.MURMUR_CHURN_AGENTS ?? 8)
const SECONDS = Number(process.env.MURMUR_CHURN_SECONDS ?? 30)
const EVERY_MS = Number(process.env.MURMUR_CHURN_EVERY_MS ?? 3000)
const SESSION = 'churn'
const KEEP_VERSIONS = 4
// a short window of rounds in the document, so the soak reaches the steady state in which
// every member trims an entry per round (the default 200 would still be filling at its end)
const ROUNDS_KEPT = Number(process.env.MURMUR_CHURN_ROUNDS_KEPT ?? 3)
// a member whose rounds stopped arriving this long ago is trimmed to its newest round
const PRUNE_AFTER = 5 * EVERY_MS
const rand = ((s: number) => () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648 })(42)
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T

/** A tiny 784-16-10 MLP: the soak is about the mesh, so the model stays cheap on 2 cores. */
const model: ModelConfig = {
  architecture: {
    class_name: 'Sequential',
    config: {
      name: 'tiny',
      layers: [
        { class_name: 'Dense', config: { name: 'dense_1', units: 16, activation: 'relu', batch_input_shape: [null, 784] } },
        { class_name: 'Dense', config: { name: 'dense_2', units: 10, activation: 'softmax' } }
      ]
    }
  },
  optimizer: { name: 'sgd', learningRate: 0.1 },
  batchSize: 16,
  localSteps: 2,
  loss: 'categoricalCrossentropy'
}

interface Agent { node: MemoryPeer, datastore: MemoryDatastore, session: Session, running: boolean, loop?: Promise<void> }

const fetches = { ok: 0, failed: 0, rejected: 0, wrong: 0 }
const live: Agent[] = []
/** Agents stopped during the soak, and when. */
const departed: Array<{ peerId: string, at: number }> = []
let shards: Dataset[] = []
let test: Dataset
let joined = 0

// heapUsed counts garbage too unless a collection runs first: sample what is retained
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** One sample of retained memory and of what the live agents hold, after a forced GC. */
interface Sample {
  t: number
  live: number
  heapPerAgent: number
  /** Off-heap buffers (shard bytes, tfjs WASM memory) per live agent. */
  externalPerAgent: number
  blocksPerAgent: number
  storeBytesPerAgent: number
  /** DHT provider records in the live agents' datastores, per live agent. */
  providersPerAgent: number
  /** One replica of the session document, encoded. */
  docBytes: number
  /** Yjs structs (items and GC runs) in that replica: what its heap grows with. */
  docStructs: number
  tensors: number
}

async function sample (t0: number): Promise<Sample> {
  gc()
  const mem = process.memoryUsage()
  let blocks = 0
  let bytes = 0
  let providers = 0
  for (const a of live) {
    const stats = await a.node.services.shards.store.stats()
    blocks += stats.blocks
    bytes += stats.bytes
    for await (const _ of a.datastore.queryKeys({ prefix: '/dht/provider/' })) providers++
  }
  const n = Math.max(1, live.length)
  const doc = live[0]?.session.doc
  return {
    t: Math.round((Date.now() - t0) / 1000),
    live: live.length,
    heapPerAgent: mem.heapUsed / n,
    externalPerAgent: mem.external / n,
    blocksPerAgent: blocks / n,
    storeBytesPerAgent: bytes / n,
    providersPerAgent: providers / n,
    docBytes: doc != null ? Y.encodeStateAsUpdate(doc).byteLength : 0,
    docStructs: doc != null ? [...doc.store.clients.values()].reduce((n, list) => n + list.length, 0) : 0,
    tensors: tf.memory().numTensors
  }
}

const MiB = (x: number): string => (x / 2 ** 20).toFixed(1)

function mean (xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length)
}

/**
 * Count every model fetch (full models and delta chains both start with the manifest) and
 * check it independently: the manifest and every shard it lists, as the store now holds
 * them, must hash to the CIDs that were asked for.
 */
function auditFetches (service: ShardExchange): void {
  const original = service.fetchManifest.bind(service)
  service.fetchManifest = async (cid, options) => {
    let result: Awaited<ReturnType<typeof original>>
    try {
      result = await original(cid, options)
    } catch (err) {
      fetches.failed++
      throw err
    }
    try {
      await verifyShard(cid, await service.store.get(cid))
      for (const shard of result.manifest.shards) {
        const shardCid = CID.decode(shard)
        await verifyShard(shardCid, await service.store.get(shardCid))
      }
      fetches.ok++
    } catch {
      fetches.wrong++
    }
    return result
  }
}

async function startAgent (): Promise<Agent> {
  const i = joined++
  const datastore = new MemoryDatastore()
  const node = await createMemoryPeer({ datastore })
  auditFetches(node.services.shards)
  const session = new Session({
    node,
    session: SESSION,
    doc: createSessionDoc(),
    config: { model, averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' },
    pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => Trainer.create(m, { seed: 1000 + i, yieldEveryMs: 20 }),
    train: shards[i % shards.length] as Dataset,
    test,
    seed: 7919 + i,
    fetchTimeout: 5000,
    keepVersions: KEEP_VERSIONS,
    roundsKept: ROUNDS_KEPT,
    pruneDepartedAfter: PRUNE_AFTER
  })
  const peers = live.slice()
  const agent: Agent = { node, datastore, session, running: true }
  for (let k = 0; k < Math.min(3, peers.length); k++) await node.dial(pick(peers).node.getMultiaddrs()).catch(() => {})
  await session.join({ signal: AbortSignal.timeout(20_000) })
  session.addEventListener('round', evt => { fetches.rejected += evt.detail.rejected })
  agent.loop = (async () => {
    while (agent.running) {
      await session.step().catch(() => {})
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
  })()
  live.push(agent)
  return agent
}

async function stopAgent (agent: Agent): Promise<void> {
  live.splice(live.indexOf(agent), 1)
  departed.push({ peerId: agent.session.peerId, at: Date.now() })
  agent.running = false
  await agent.loop
  await agent.session.stop().catch(() => {})
  await agent.node.stop()
}

beforeAll(async () => {
  await initNodeBackend()
  const train = await loadMnist({ split: 'train', limit: AGENTS * 2 * 100 })
  test = await loadMnist({ split: 'test', limit: 100 })
  shards = partitionIid(train.ys, AGENTS * 2, 3).map(idx => subset(train, idx))
}, 60_000)

afterAll(async () => {
  for (const a of live.slice()) await stopAgent(a).catch(() => {})
})

describe('churn soak', () => {
  it(`${AGENTS} agents, one leaving or joining every ${EVERY_MS / 1000} s for ${SECONDS} s: replicas converge, no wrong model, flat memory`, async () => {
    for (let i = 0; i < AGENTS; i++) await startAgent()
    const t0 = Date.now()
    const samples: Sample[] = [await sample(t0)]
    let events = 0
    let leaving = true
    while (Date.now() - t0 < SECONDS * 1000) {
      await new Promise(resolve => setTimeout(resolve, EVERY_MS))
      if (leaving && live.length > AGENTS / 2) await stopAgent(pick(live))
      else await startAgent()
      leaving = !leaving
      events++
      // a real agent redials through the relay and the DHT when its neighbours vanish
      for (const a of live) {
        if (a.node.getConnections().length < 2) await a.node.dial(pick(live.filter(b => b !== a)).node.getMultiaddrs()).catch(() => {})
      }
      samples.push(await sample(t0))
    }

    // quiescence: stop training everywhere, then every remaining replica must be identical
    const trainedUntil = Date.now()
    for (const a of live) a.running = false
    await Promise.all(live.map(async a => a.loop))
    const docs = live.map(a => a.session.doc)
    const converged = await waitFor(() => docs.every(d => sameState(docs[0] ?? d, d)), 30_000, 250)
    // the first sample is taken before any round: compare the second quarter with the last,
    // each an even number of samples (live agents alternate between n and n - 1)
    const quarter = Math.max(2, 2 * Math.floor(samples.length / 8))
    const early = samples.slice(quarter, 2 * quarter)
    const late = samples.slice(-quarter)
    const rounds = live.map(a => a.session.rounds)
    console.log(`churn: ${events} leave/join events over ${SECONDS} s, ${live.length} agents left (rounds ${Math.min(...rounds)}-${Math.max(...rounds)}); ` +
      `fetches ok ${fetches.ok}, failed ${fetches.failed}, rejected ${fetches.rejected}, wrong ${fetches.wrong}; replicas converged: ${converged === true}; ` +
      `retained heap per live agent ${MiB(mean(early.map(x => x.heapPerAgent)))} MiB (second quarter) → ${MiB(mean(late.map(x => x.heapPerAgent)))} MiB (last quarter)\n` +
      'samples after GC (s: live, heap MiB/agent, external MiB/agent, blocks/agent, store MiB/agent, DHT provider records/agent, doc KiB, doc structs, tensors):\n' +
      samples.map(x => `${x.t}: ${x.live}, ${MiB(x.heapPerAgent)}, ${MiB(x.externalPerAgent)}, ${x.blocksPerAgent.toFixed(0)}, ${MiB(x.storeBytesPerAgent)}, ` +
        `${x.providersPerAgent.toFixed(0)}, ${(x.docBytes / 1024).toFixed(0)}, ${x.docStructs}, ${x.tensors}`).join('\n'))

    expect(converged).toBe(true)
    expect(fetches.wrong).toBe(0)
    expect(fetches.ok).toBeGreaterThan(0)
    // the tiny model is one shard and its manifest: a store holds its own kept versions and
    // at most the models of the round in progress (fan-out 2), never every model it fetched
    expect(mean(late.map(x => x.blocksPerAgent))).toBeLessThanOrEqual(2 * KEEP_VERSIONS + 2 * 2)
    // a stopped agent's model is freed: tensors follow the live agents, not every agent ever started
    const first = samples[0] as Sample
    const last = samples[samples.length - 1] as Sample
    expect(last.tensors / last.live).toBeLessThanOrEqual(1.1 * first.tensors / first.live)
    // members that left long enough before the end are down to their newest round everywhere
    const longGone = departed.filter(d => d.at < trainedUntil - PRUNE_AFTER - 5000)
    expect(longGone.length).toBeGreaterThan(0)
    for (const d of longGone) expect(listMetrics(docs[0] as Y.Doc, d.peerId).length).toBeLessThanOrEqual(1)
    // the document grows with members, not rounds: each member ever started leaves a handful of
    // Yjs structs (member entry, round log, the live and the trimmed run of its rounds, about
    // 8), where writing three fields a round would leave three per round
    expect(last.docStructs / joined).toBeLessThan(12)
    expect(Math.max(...rounds)).toBeGreaterThan(12)
    // retained memory per agent stays flat
    expect(mean(late.map(x => x.heapPerAgent))).toBeLessThan(1.25 * mean(early.map(x => x.heapPerAgent)))
  }, (SECONDS + 120) * 1000)
})
