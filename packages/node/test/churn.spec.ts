import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import { Session, Trainer, createSessionDoc, partitionIid, sameState, subset, verifyShard } from '@murmur/protocol'
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

interface Agent { node: MemoryPeer, session: Session, running: boolean, loop?: Promise<void> }

const fetches = { ok: 0, failed: 0, rejected: 0, wrong: 0 }
const live: Agent[] = []
let shards: Dataset[] = []
let test: Dataset
let joined = 0

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
  const node = await createMemoryPeer()
  auditFetches(node.services.shards)
  const session = new Session({
    node,
    session: SESSION,
    doc: createSessionDoc(),
    config: { model, averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' },
    createTrainer: async (m) => Trainer.create(m as ModelConfig, { seed: 1000 + i, yieldEveryMs: 20 }),
    train: shards[i % shards.length] as Dataset,
    test,
    seed: 7919 + i,
    fetchTimeout: 5000,
    keepVersions: 4
  })
  const peers = live.slice()
  const agent: Agent = { node, session, running: true }
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
  agent.running = false
  await agent.loop
  await agent.session.stop().catch(() => {})
  await agent.node.stop()
}

beforeAll(async () => {
  await initNodeBackend()
  const train = await loadMnist({ split: 'train', limit: AGENTS * 2 * 100 })
  test = await loadMnist({ split: 'test', limit: 100 })
  shards = partitionIid(train.labels, AGENTS * 2, 3).map(idx => subset(train, idx))
}, 60_000)

afterAll(async () => {
  for (const a of live.slice()) await stopAgent(a).catch(() => {})
})

describe('churn soak', () => {
  it(`${AGENTS} agents, one leaving or joining every ${EVERY_MS / 1000} s for ${SECONDS} s: replicas converge, no wrong model, flat memory`, async () => {
    for (let i = 0; i < AGENTS; i++) await startAgent()
    const samples: Array<{ t: number, live: number, heapPerAgent: number }> = []
    const sample = (): void => { samples.push({ t: Date.now(), live: live.length, heapPerAgent: process.memoryUsage().heapUsed / Math.max(1, live.length) }) }
    const t0 = Date.now()
    let events = 0
    let leaving = true
    while (Date.now() - t0 < SECONDS * 1000) {
      await new Promise(resolve => setTimeout(resolve, EVERY_MS))
      sample()
      if (leaving && live.length > AGENTS / 2) await stopAgent(pick(live))
      else await startAgent()
      leaving = !leaving
      events++
      // a real agent redials through the relay and the DHT when its neighbours vanish
      for (const a of live) {
        if (a.node.getConnections().length < 2) await a.node.dial(pick(live.filter(b => b !== a)).node.getMultiaddrs()).catch(() => {})
      }
    }

    // quiescence: stop training everywhere, then every remaining replica must be identical
    for (const a of live) a.running = false
    await Promise.all(live.map(async a => a.loop))
    const docs = live.map(a => a.session.doc)
    const converged = await waitFor(() => docs.every(d => sameState(docs[0] ?? d, d)), 30_000, 250)
    const quarter = Math.max(1, Math.floor(samples.length / 4))
    const early = samples.slice(0, quarter).reduce((s, x) => s + x.heapPerAgent, 0) / quarter
    const late = samples.slice(-quarter).reduce((s, x) => s + x.heapPerAgent, 0) / quarter
    const rounds = live.map(a => a.session.rounds)
    console.log(`churn: ${events} leave/join events over ${SECONDS} s, ${live.length} agents left (rounds ${Math.min(...rounds)}-${Math.max(...rounds)}); ` +
      `fetches ok ${fetches.ok}, failed ${fetches.failed}, rejected ${fetches.rejected}, wrong ${fetches.wrong}; ` +
      `replicas converged: ${converged === true}; heap per live agent ${(early / 2 ** 20).toFixed(1)} MiB (first quarter) → ${(late / 2 ** 20).toFixed(1)} MiB (last quarter)\n` +
      `heap samples (s: live, MiB/agent): ${samples.map(s => `${Math.round((s.t - t0) / 1000)}: ${s.live}, ${(s.heapPerAgent / 2 ** 20).toFixed(1)}`).join(' | ')}`)

    expect(converged).toBe(true)
    expect(fetches.wrong).toBe(0)
    expect(fetches.ok).toBeGreaterThan(0)
    // loose on purpose: a short run sees GC timing; the five-minute bench prints the series that shows flatness
    expect(late).toBeLessThan(early * 3)
  }, (SECONDS + 120) * 1000)
})
