import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { UnknownDeltaBaseError } from '../src/content/index.js'
import { DeltaPublisher, DeltaReceiver } from '../src/session/delta.js'
import { Session } from '../src/session/session.js'
import { createSessionDoc, getConfig, setConfig } from '../src/state/index.js'
import { Trainer, mnistMlp, partitionIid, subset } from '../src/train/index.js'
import { mulberry32, normal } from '../src/train/random.js'
import { createMemoryNode, stopAll } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'
import type { ModelContent } from '../src/content/index.js'
import type { ModelSnapshot } from '../src/learn/types.js'
import type { SessionEncoding } from '../src/state/index.js'
import type { Dataset, ModelConfig } from '../src/train/index.js'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

let nodes: MeshNode[] = []
afterEach(async () => {
  await stopAll(nodes)
  nodes = []
})

/** Each class a fixed random 784-pixel prototype, each sample its prototype plus heavy noise. */
function syntheticDigits (count: number, seed: number): Dataset {
  const rng = mulberry32(seed)
  const prototypes = Array.from({ length: 10 }, () => Float32Array.from({ length: 784 }, () => rng()))
  const images = new Float32Array(count * 784)
  const labels = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    labels[i] = i % 10
    const proto = prototypes[i % 10]!
    for (let j = 0; j < 784; j++) images[i * 784 + j] = Math.min(1, Math.max(0, proto[j]! + 0.5 * normal(rng)))
  }
  return { images, labels, count, inputShape: [784], numClasses: 10 }
}

function model (n: number, fill: (j: number) => number): ModelSnapshot {
  return { tensors: [{ name: 'w', shape: [n], kind: 'weight', data: Float32Array.from({ length: n }, (_, j) => fill(j)) }] }
}

function sameBits (a: ModelSnapshot, b: ModelSnapshot): boolean {
  return a.tensors.every((t, i) => t.data.every((v, j) => Object.is(v, b.tensors[i]!.data[j])))
}

async function pair (): Promise<[MeshNode, MeshNode]> {
  nodes = [await createMemoryNode(), await createMemoryNode()]
  const [a, b] = nodes as [MeshNode, MeshNode]
  await b.dial(a.getMultiaddrs())
  return [a, b]
}

describe('DeltaReceiver over real libp2p nodes', () => {
  it('follows chains from a keyframe or from what it holds, fetches nothing for a head it holds, and holds the publisher\'s model exactly', async () => {
    const [a, b] = await pair()
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.05, values: 'fp16', keyframeEvery: 4 })
    const receiver = new DeltaReceiver({ shards: b.services.shards })
    const versions: Array<{ content: ModelContent, held: ModelSnapshot }> = []
    for (let v = 1; v <= 8; v++) {
      const content = await publisher.next(model(20_000, j => Math.sin(j * v * 0.01) * v), { version: v })
      await a.services.shards.publish(content)
      versions.push({ content, held: publisher.reconstruction! })
    }
    const options = { providers: [a.peerId] }
    const peer = a.peerId.toString()
    // a new neighbour at v3: keyframe v1, deltas v2 and v3
    const first = await receiver.fetch(peer, versions[2]!.content.manifestCid, options)
    expect(first).toMatchObject({ keyframe: true, deltas: 2 })
    expect(sameBits(first.snapshot, versions[2]!.held)).toBe(true)
    // missed v4..v7: the newest keyframe (v5) is closer than what it holds
    const second = await receiver.fetch(peer, versions[6]!.content.manifestCid, options)
    expect(second).toMatchObject({ keyframe: true, deltas: 2 })
    expect(sameBits(second.snapshot, versions[6]!.held)).toBe(true)
    // the next version is one small delta on top of what it holds
    const third = await receiver.fetch(peer, versions[7]!.content.manifestCid, options)
    expect(third).toMatchObject({ keyframe: false, deltas: 1 })
    expect(sameBits(third.snapshot, versions[7]!.held)).toBe(true)
    expect(third.bytes).toBeLessThan(second.bytes / 4)
    // a head it holds costs nothing
    expect((await receiver.fetch(peer, versions[7]!.content.manifestCid, options)).bytes).toBe(0)
    receiver.forget(peer)
    expect(receiver.size).toBe(0)
  })

  it('refuses a chain that does not reach a keyframe or a held model within its bound, and keeps what it held', async () => {
    const [a, b] = await pair()
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.05, values: 'int8', keyframeEvery: 8 })
    const receiver = new DeltaReceiver({ shards: b.services.shards, maxChain: 3 })
    const heads = []
    for (let v = 1; v <= 5; v++) {
      const content = await publisher.next(model(5000, j => Math.cos(j + v)), { version: v })
      await a.services.shards.publish(content)
      heads.push(content.manifestCid)
    }
    const peer = a.peerId.toString()
    await receiver.fetch(peer, heads[1]!, { providers: [a.peerId] })
    const held = receiver.cached(peer)
    // from v5 back to v1 (the keyframe) is five manifests; maxChain is 3 and a fresh receiver holds nothing
    const fresh = new DeltaReceiver({ shards: b.services.shards, maxChain: 3 })
    await expect(fresh.fetch(peer, heads[4]!, { providers: [a.peerId] })).rejects.toBeInstanceOf(UnknownDeltaBaseError)
    expect(fresh.size).toBe(0)
    // the one holding v2 needs only v3..v5
    const ok = await receiver.fetch(peer, heads[4]!, { providers: [a.peerId] })
    expect(ok).toMatchObject({ keyframe: false, deltas: 3 })
    expect(receiver.cached(peer)?.cid.equals(heads[4]!)).toBe(true)
    expect(held?.cid.equals(heads[1]!)).toBe(true)
  })
})

describe('the top-k session encoding in the shared document', () => {
  it('round-trips with its defaults filled in, and a malformed one leaves the config incomplete', () => {
    const base = { model: {}, averaging: 'plain' as const, fanOut: 1, selfWeight: 0.5 }
    const doc = createSessionDoc()
    setConfig(doc, { ...base, encoding: { kind: 'topk', fraction: 0.01 } })
    expect(getConfig(doc)?.encoding).toEqual({ kind: 'topk', fraction: 0.01, values: 'fp16', keyframeEvery: 8 })
    for (const encoding of [{ kind: 'topk', fraction: 1 }, { kind: 'topk', fraction: 0.1, values: 'fp32' }, { kind: 'topk', fraction: 0.1, keyframeEvery: 65 }, { kind: 'sparse', fraction: 0.1 }, 'topk']) {
      const bad = createSessionDoc()
      setConfig(bad, { ...base, encoding: encoding as never })
      expect(getConfig(bad)).toBeUndefined()
    }
  })
})

describe('a session with top-k deltas', () => {
  const all = syntheticDigits(1400, 11)
  const data = subset(all, Array.from({ length: 1200 }, (_, i) => i))
  const test = subset(all, Array.from({ length: 200 }, (_, i) => 1200 + i))
  const config: ModelConfig = mnistMlp({ localSteps: 6 })

  async function run (encoding: SessionEncoding, peers: number, rounds: number): Promise<{ accuracy: number, bytesPerRound: number }> {
    const parts = partitionIid(data.labels, peers, 3).map(idx => subset(data, idx))
    nodes = await Promise.all(Array.from({ length: peers }, async () => createMemoryNode()))
    // a ring: each peer has two neighbours and merges one a round
    await Promise.all(nodes.map(async (n, i) => n.dial(nodes[(i + 1) % peers]!.getMultiaddrs())))
    const sessions = nodes.map((node, i) => new Session({
      node,
      session: 'delta-test',
      doc: createSessionDoc(),
      config: { model: config, averaging: 'variance-corrected', fanOut: 1, selfWeight: 0.5, encoding },
      createTrainer: async m => Trainer.create(m as ModelConfig, { seed: 100 + i }),
      train: parts[i]!,
      test,
      seed: 7 + i,
      staleAfter: 600_000
    }))
    try {
      await Promise.all(sessions.map(async s => s.join()))
      let last = { accuracy: 0, bytes: 0 }
      for (let r = 0; r < rounds; r++) {
        const metrics = await Promise.all(sessions.map(async s => s.step()))
        last = { accuracy: metrics.reduce((s, m) => s + m.accuracy, 0) / peers, bytes: metrics.reduce((s, m) => s + m.bytesReceived, 0) / peers }
      }
      return { accuracy: last.accuracy, bytesPerRound: last.bytes / rounds }
    } finally {
      await Promise.all(sessions.map(async s => s.stop().catch(() => {})))
      await stopAll(nodes)
      nodes = []
    }
  }

  it('learns over real memory-transport peers while receiving far fewer bytes per round than fp32', async () => {
    const dense = await run('fp32', 3, 3)
    const topk = await run({ kind: 'topk', fraction: 0.05, values: 'int8', keyframeEvery: 8 }, 3, 3)
    console.log(`fp32: ${(dense.accuracy * 100).toFixed(1)} %, ${(dense.bytesPerRound / 1e3).toFixed(1)} kB/peer/round; top-k 5 % int8: ${(topk.accuracy * 100).toFixed(1)} %, ${(topk.bytesPerRound / 1e3).toFixed(1)} kB/peer/round`)
    expect(dense.bytesPerRound).toBeGreaterThan(0)
    expect(topk.accuracy).toBeGreaterThan(0.5) // chance is 0.1
    expect(topk.bytesPerRound).toBeLessThan(dense.bytesPerRound / 4)
  }, 58_000)
})
