import { describe, it, expect, afterEach } from 'vitest'
import { createModelContent, MemoryShardStore, verifyShard } from '../src/content/index.js'
import type { ShardStore } from '../src/content/index.js'
import type { ModelSnapshot } from '../src/learn/index.js'
import { createMemoryNode, connectSparse, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

/** A deterministic model of about `mib` MiB of float32 weights in a few tensors. */
function model (mib: number, seed = 7): ModelSnapshot {
  let s = seed
  const total = Math.floor(mib * 1024 * 1024 / 4)
  const sizes = [Math.floor(total * 0.6), Math.floor(total * 0.3) - 10, 10, total - Math.floor(total * 0.6) - Math.floor(total * 0.3)]
  return {
    tensors: sizes.map((n, i) => {
      const data = new Float32Array(n)
      for (let j = 0; j < n; j++) { s = (s * 1664525 + 1013904223) >>> 0; data[j] = s / 2 ** 32 - 0.5 }
      return { name: `layer${i}/${i === 2 ? 'bias' : 'kernel'}`, shape: [n], kind: i === 2 ? 'bias' as const : 'weight' as const, data }
    })
  }
}

function sameSnapshot (a: ModelSnapshot, b: ModelSnapshot): boolean {
  if (a.tensors.length !== b.tensors.length) return false
  return a.tensors.every((t, i) => {
    const u = b.tensors[i]
    if (u == null || u.name !== t.name || u.data.length !== t.data.length) return false
    const x = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    const y = new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength)
    return Buffer.compare(x, y) === 0
  })
}

/** Every block a store holds passes its hash check. */
async function allVerified (store: ShardStore): Promise<number> {
  let n = 0
  for await (const cid of store.cids()) {
    await verifyShard(cid, await store.get(cid))
    n++
  }
  return n
}

/** A store that serves altered bytes: the store of a hostile peer. */
class TamperingStore extends MemoryShardStore {
  override async get (...args: Parameters<MemoryShardStore['get']>): Promise<Uint8Array> {
    const bytes = (await super.get(...args)).slice()
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff
    return bytes
  }
}

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

describe('shard exchange over a real libp2p mesh', () => {
  it('a 10 MiB model published by one peer reaches 21 others through DHT-located shards', async () => {
    nodes = await Promise.all(Array.from({ length: 22 }, async () => createMemoryNode()))
    await connectSparse(nodes, 3)
    // the DHT learns its neighbours through identify; publish once every routing table has some
    await waitFor(() => nodes.every(n => (n.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= 3), 15_000)
    const snapshot = model(10)
    const content = await createModelContent(snapshot, { architecture: '{}', modelId: 'test' })
    const seeder = nodes[0] as MeshNode
    await seeder.services.shards.publish(content)
    await seeder.services.shards.announced()
    console.log('seeder announce stats', seeder.services.shards.stats)
    expect(content.shards.length).toBeGreaterThanOrEqual(40)

    const results = await Promise.all(nodes.slice(1).map(async n => n.services.shards.fetchModel(content.manifestCid, { stallTimeout: 90_000 })))
    for (const [i, r] of results.entries()) {
      expect(sameSnapshot(r.snapshot, snapshot), `peer ${i + 1} rebuilt the model`).toBe(true)
    }
    // peers served each other, not only the seeder (swarming)
    const servedByOthers = results.reduce((sum, r) => sum + Object.entries(r.result.servedBy).filter(([p]) => p !== seeder.peerId.toString()).reduce((s, [, v]) => s + v, 0), 0)
    console.log(`10 MiB to 21 peers: ${content.shards.length} shards each; ${servedByOthers} of ${21 * (content.shards.length + 1)} blocks served by non-seeders`)
    for (const n of nodes) expect(await allVerified(n.services.shards.store)).toBe(content.shards.length + 1)
  }, 200_000)

  it('completes every fetch when 2 of 4 providers are killed mid-fetch, storing no corrupt shard', async () => {
    nodes = await Promise.all(Array.from({ length: 8 }, async (_, i) => createMemoryNode(i < 4 ? { shards: { uploadBytesPerSecond: 1.5 * 1024 * 1024 } } : {})))
    await connectSparse(nodes, 7)
    const snapshot = model(6, 11)
    const content = await createModelContent(snapshot, { architecture: '{}', modelId: 'kill' })
    for (const n of nodes.slice(0, 4)) await n.services.shards.publish(content)
    await Promise.all(nodes.slice(0, 4).map(async n => n.services.shards.announced()))

    let killed = false
    const fetchers = nodes.slice(4)
    const fetches = fetchers.map(async n => n.services.shards.fetchModel(content.manifestCid, {
      stallTimeout: 45_000,
      requestTimeout: 3000,
      onProgress: (p) => {
        if (!killed && p.shardsDone >= 4) {
          killed = true
          void Promise.all([nodes[0]?.stop(), nodes[1]?.stop()])
        }
      }
    }))
    const results = await Promise.all(fetches)
    expect(killed).toBe(true)
    for (const r of results) expect(sameSnapshot(r.snapshot, snapshot)).toBe(true)
    for (const n of fetchers) expect(await allVerified(n.services.shards.store)).toBe(content.shards.length + 1)
    console.log(`kill 2 of 4 providers: retries ${results.map(r => r.result.retries).join(', ')}`)
  }, 120_000)

  it('drops a provider that serves altered bytes and completes from the others', async () => {
    const liar = new TamperingStore()
    nodes = await Promise.all([createMemoryNode({ store: liar }), createMemoryNode(), createMemoryNode(), createMemoryNode()])
    await connectSparse(nodes, 3)
    const snapshot = model(3, 5)
    const content = await createModelContent(snapshot, { architecture: '{}', modelId: 'liar' })
    await nodes[0]?.services.shards.publish(content)
    await nodes[1]?.services.shards.publish(content)
    const fetcher = nodes[3] as MeshNode
    const r = await fetcher.services.shards.fetchModel(content.manifestCid, {
      providers: [(nodes[0] as MeshNode).peerId, (nodes[1] as MeshNode).peerId],
      stallTimeout: 30_000
    })
    expect(sameSnapshot(r.snapshot, snapshot)).toBe(true)
    expect(r.result.droppedProviders).toContain((nodes[0] as MeshNode).peerId.toString())
    expect(fetcher.services.shards.providers.get((nodes[0] as MeshNode).peerId.toString()).bad).toBeGreaterThanOrEqual(1)
    expect(await allVerified(fetcher.services.shards.store)).toBe(content.shards.length + 1)
  }, 60_000)
})
