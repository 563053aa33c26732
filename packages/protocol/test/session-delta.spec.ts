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
  return { xs: images, ys: labels, count, inputShape: [784], targetShape: [] }
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
  it('newcomers start at the checkpoint the head names, followers walk back to what they hold, a held head costs nothing', async () => {
    const [a, b] = await pair()
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.05, values: 'fp16', keyframeEvery: 4 })
    const receiver = new DeltaReceiver({ shards: b.services.shards })
    const versions: Array<{ content: ModelContent, held: ModelSnapshot }> = []
    for (let v = 1; v <= 10; v++) {
      const content = await publisher.next(model(20_000, j => Math.sin(j * v * 0.01) * v), { version: v })
      await a.services.shards.publish(content)
      // checkpoints come after v1 (the keyframe), v5 and v9
      if (!publisher.checkpoint!.manifestCid.equals(content.manifestCid)) await a.services.shards.publish(publisher.checkpoint!)
      versions.push({ content, held: publisher.reconstruction! })
    }
    const options = { providers: [a.peerId] }
    const peer = a.peerId.toString()
    // a new neighbour at v3: the keyframe v1 is its checkpoint, then deltas v2 and v3, exactly
    const first = await receiver.fetch(peer, versions[2]!.content.manifestCid, options)
    expect(first).toMatchObject({ keyframe: true, deltas: 2 })
    expect(sameBits(first.snapshot, versions[2]!.held)).toBe(true)
    // missed v4..v6, across the checkpoint at v5: walks back to v3, never fetches the checkpoint
    const second = await receiver.fetch(peer, versions[6]!.content.manifestCid, options)
    expect(second).toMatchObject({ keyframe: false, deltas: 4 })
    expect(sameBits(second.snapshot, versions[6]!.held)).toBe(true)
    expect(second.bytes).toBeLessThan(first.bytes / 2)
    // a head it holds costs nothing
    expect((await receiver.fetch(peer, versions[6]!.content.manifestCid, options)).bytes).toBe(0)
    // a newcomer at v10 starts at the v9 checkpoint: one delta after it, the model within one fp16 rounding
    const newcomer = new DeltaReceiver({ shards: b.services.shards })
    const late = await newcomer.fetch(peer, versions[9]!.content.manifestCid, options)
    expect(late).toMatchObject({ keyframe: true, deltas: 1 })
    const gap = Math.max(...late.snapshot.tensors[0]!.data.map((x, j) => Math.abs(x - versions[9]!.held.tensors[0]!.data[j]!)))
    expect(gap).toBeLessThanOrEqual(10 * 2 ** -11)
    receiver.forget(peer)
    expect(receiver.size).toBe(0)
  })

  it('a follower\'s bytes per version stay at delta size across checkpoints, and it holds the publisher\'s model exactly', async () => {
    const [a, b] = await pair()
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 3 })
    const receiver = new DeltaReceiver({ shards: b.services.shards })
    const peer = a.peerId.toString()
    const perVersion: number[] = []
    let deltaBytes = 0
    const checkpoints = new Set<string>()
    for (let v = 1; v <= 10; v++) {
      const content = await publisher.next(model(50_000, j => Math.sin(j * 0.37 + v) * (1 + v * 0.1)), { version: v })
      await a.services.shards.publish(content)
      const checkpoint = publisher.checkpoint!
      if (!checkpoint.manifestCid.equals(content.manifestCid)) {
        await a.services.shards.publish(checkpoint)
        // the keyframe (v1) names no parent; checkpoints name the delta they stand for
        if (checkpoint.manifest.parent != null) checkpoints.add(checkpoint.manifestCid.toString())
      }
      const fetched = await receiver.fetch(peer, content.manifestCid, { providers: [a.peerId] })
      expect(sameBits(fetched.snapshot, publisher.reconstruction!)).toBe(true)
      if (v === 1) continue
      expect(fetched).toMatchObject({ keyframe: false, deltas: 1 })
      perVersion.push(fetched.bytes)
      deltaBytes = Math.max(deltaBytes, content.manifestBytes.byteLength + content.manifest.totalBytes)
    }
    expect(checkpoints.size).toBe(3) // after v4, v7 and v10
    // exactly the delta's blocks each version; a checkpoint (50 kB) is never among them
    for (const bytes of perVersion) expect(bytes).toBeLessThanOrEqual(deltaBytes)
    expect(deltaBytes).toBeLessThan(50_000 / 10)
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
  const test = subset(all, Array.from({ length: 100 }, (_, i) => 1200 + i))
  const config: ModelConfig = mnistMlp({ localSteps: 4 })

  async function run (encoding: SessionEncoding, peers: number, rounds: number): Promise<{ accuracy: number, bytesPerRound: number }> {
    const parts = partitionIid(data.ys, peers, 3).map(idx => subset(data, idx))
    nodes = await Promise.all(Array.from({ length: peers }, async () => createMemoryNode()))
    // a ring: each peer has two neighbours and merges one a round
    await Promise.all(nodes.map(async (n, i) => n.dial(nodes[(i + 1) % peers]!.getMultiaddrs())))
    const sessions = nodes.map((node, i) => new Session({
      node,
      session: 'delta-test',
      doc: createSessionDoc(),
      config: { model: config, averaging: 'variance-corrected', fanOut: 1, selfWeight: 0.5, encoding },
      pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => Trainer.create(m, { seed: 100 + i }),
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

  it('two peers that follow each other receive one delta a round after the first, checkpoints or not', async () => {
    const parts = partitionIid(data.ys, 2, 5).map(idx => subset(data, idx))
    nodes = [await createMemoryNode(), await createMemoryNode()]
    await nodes[0]!.dial(nodes[1]!.getMultiaddrs())
    // a checkpoint every 2 versions: the old keyframe scheme made every follower fetch each one
    const encoding: SessionEncoding = { kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 2 }
    const sessions = nodes.map((node, i) => new Session({
      node,
      session: 'delta-follow',
      doc: createSessionDoc(),
      config: { model: mnistMlp({ localSteps: 2 }), averaging: 'variance-corrected', fanOut: 1, selfWeight: 0.5, encoding },
      pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => Trainer.create(m, { seed: 200 + i }),
      train: parts[i]!,
      test,
      seed: 3 + i,
      staleAfter: 600_000
    }))
    try {
      await Promise.all(sessions.map(async s => s.join()))
      const received: number[][] = [[], []]
      let before = [0, 0]
      for (let r = 0; r < 5; r++) {
        // one at a time, so each fetches the head the other just published
        for (const [i, s] of sessions.entries()) {
          const m = await s.step()
          received[i]!.push(m.bytesReceived - before[i]!)
          expect(m.mergedWith).toHaveLength(r === 0 && i === 0 ? 0 : 1)
        }
        before = sessions.map((_, i) => received[i]!.reduce((a, b) => a + b, 0))
      }
      // 101,770 parameters: a checkpoint is ~103 kB in int8, a 1 % delta ~2.5 kB plus its manifest
      const first = received.map(r => r.find(b => b > 0)!)
      for (const f of first) expect(f).toBeGreaterThan(100_000)
      const later = received.flatMap(r => r.slice(r.findIndex(b => b > 0) + 1))
      expect(later.length).toBeGreaterThanOrEqual(7)
      for (const bytes of later) expect(bytes).toBeLessThan(5_000)
    } finally {
      await Promise.all(sessions.map(async s => s.stop().catch(() => {})))
    }
  }, 58_000)

  it('learns over real memory-transport peers while receiving far fewer bytes per round than fp32', async () => {
    const dense = await run('fp32', 3, 3)
    const topk = await run({ kind: 'topk', fraction: 0.05, values: 'int8', keyframeEvery: 8 }, 3, 3)
    console.log(`fp32: ${(dense.accuracy * 100).toFixed(1)} %, ${(dense.bytesPerRound / 1e3).toFixed(1)} kB/peer/round; top-k 5 % int8: ${(topk.accuracy * 100).toFixed(1)} %, ${(topk.bytesPerRound / 1e3).toFixed(1)} kB/peer/round`)
    expect(dense.bytesPerRound).toBeGreaterThan(0)
    expect(topk.accuracy).toBeGreaterThan(0.5) // chance is 0.1
    expect(topk.bytesPerRound).toBeLessThan(dense.bytesPerRound / 4)
  }, 58_000)
})
