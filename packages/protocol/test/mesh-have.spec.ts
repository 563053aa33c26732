import { describe, it, expect, afterEach } from 'vitest'
import { createModelContent } from '../src/content/index.js'
import type { ModelContent } from '../src/content/index.js'
import type { ModelSnapshot } from '../src/learn/index.js'
import { PROTOCOL_SHARD, MAX_SIZES, ShardRequest, ShardResponse, encodeShardRequest, decodeShardResponse } from '../src/wire/index.js'
import { framed } from '../src/mesh/framing.js'
import { deadline, raceAbort } from '../src/mesh/deadline.js'
import { createMemoryNode, stopAll } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

/** A model of `shards` shards of `shardSize` bytes. */
async function content (shards: number, shardSize = 16 * 1024): Promise<ModelContent> {
  const data = new Float32Array(shards * shardSize / 4)
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i)
  const snapshot: ModelSnapshot = { tensors: [{ name: 'w/kernel', shape: [data.length], kind: 'weight', data }] }
  return createModelContent(snapshot, { architecture: '{}', modelId: 'have', shardSize })
}

/** Hold the manifest and the shards `keep` picks, as a peer part-way through a fetch does. */
async function holdPart (node: MeshNode, c: ModelContent, keep: (i: number) => boolean): Promise<void> {
  await node.services.shards.store.put(c.manifestCid, c.manifestBytes)
  for (const [i, s] of c.shards.entries()) if (keep(i)) await node.services.shards.store.put(s.cid, s.bytes)
}

/** Ask `target` one HAVE question over a fresh stream. */
async function askHave (from: MeshNode, target: MeshNode, cid: Uint8Array<ArrayBuffer>): Promise<ShardResponse> {
  const io = framed(await from.dialProtocol(target.peerId, PROTOCOL_SHARD), MAX_SIZES.shardResponse)
  await io.write(encodeShardRequest({ cid, kind: ShardRequest.Kind.HAVE }))
  const res = decodeShardResponse(await io.read())
  await io.stream.close()
  return res
}

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

describe('HAVE: which shards of a manifest a peer holds', () => {
  it('answers a bitfield of the shards held, NOT_FOUND without the manifest or for a block that is not one', async () => {
    nodes = await Promise.all([createMemoryNode(), createMemoryNode()])
    const [asker, partial] = nodes as [MeshNode, MeshNode]
    await asker.dial(partial.getMultiaddrs())
    const c = await content(11)
    await holdPart(partial, c, i => i % 3 === 0)
    const res = await askHave(asker, partial, c.manifestCid.bytes)
    expect(res.status).toBe(ShardResponse.Status.OK)
    expect(res.data).toHaveLength(0)
    // shards 0, 3, 6, 9: bits 0 and 3 of byte 0, bits 6 and 1 (9 = 8 + 1) of bytes 0 and 1
    expect([...res.have]).toEqual([0b0100_1001, 0b0000_0010])
    expect((await askHave(asker, partial, (c.shards[0] as ModelContent["shards"][number]).cid.bytes)).status).toBe(ShardResponse.Status.NOT_FOUND)
    const other = await content(3, 8 * 1024)
    expect((await askHave(asker, partial, other.manifestCid.bytes)).status).toBe(ShardResponse.Status.NOT_FOUND)
    expect(partial.services.shards.stats.haveQueries).toBe(3)
  })

  it('a fetch asks each provider only for shards it said it holds, and none of a peer without the manifest', async () => {
    nodes = await Promise.all([
      // a slow seeder, so the partial holders get a share of the requests
      createMemoryNode({ shards: { uploadBytesPerSecond: 256 * 1024 } }),
      createMemoryNode(), createMemoryNode(), createMemoryNode(), createMemoryNode()
    ])
    const [seeder, even, odd, empty, fetcher] = nodes as [MeshNode, MeshNode, MeshNode, MeshNode, MeshNode]
    const c = await content(24)
    await seeder.services.shards.publish(c, { announce: false })
    await holdPart(even, c, i => i % 2 === 0)
    await holdPart(odd, c, i => i % 2 === 1)
    for (const n of [seeder, even, odd, empty]) await fetcher.dial(n.getMultiaddrs())
    const { result } = await fetcher.services.shards.fetchManifest(c.manifestCid, {
      providers: [seeder.peerId, even.peerId, odd.peerId, empty.peerId],
      announce: false
    })
    expect(result.shards).toBe(1 + 24)
    for (const s of c.shards) expect(await fetcher.services.shards.store.has(s.cid)).toBe(true)
    // nobody was asked for a block it lacks: no NOT_FOUND anywhere, and the empty peer served nothing
    for (const n of [seeder, even, odd, empty]) expect(n.services.shards.stats.notFound).toBe(0)
    expect(empty.services.shards.stats.served).toBe(0)
    expect(even.services.shards.stats.served + odd.services.shards.stats.served).toBeGreaterThan(0)
    expect(empty.services.shards.stats.haveQueries).toBeGreaterThan(0)
  })
})

describe('deadline and raceAbort', () => {
  it('a deadline aborts with TimeoutError after its time, follows its parent, and leaves the parent bare once cleared', async () => {
    const parent = new AbortController()
    const timed = deadline(parent.signal, 20)
    await new Promise(resolve => setTimeout(resolve, 60))
    expect(timed.signal.aborted).toBe(true)
    expect((timed.signal.reason as Error).name).toBe('TimeoutError')

    const followed = deadline(parent.signal, 10_000)
    const cleared = deadline(parent.signal, 10_000)
    cleared.clear()
    parent.abort(new Error('parent gone'))
    expect(followed.signal.aborted).toBe(true)
    expect((followed.signal.reason as Error).message).toBe('parent gone')
    // cleared: neither the parent nor the timer can abort it any more
    expect(cleared.signal.aborted).toBe(false)
    followed.clear()
    expect(deadline(parent.signal, 10).signal.aborted).toBe(true)
  })

  it('raceAbort gives up on a promise that never settles when the signal aborts', async () => {
    const never = new Promise<number>(() => {})
    const c = new AbortController()
    setTimeout(() => { c.abort(new Error('stop waiting')) }, 20)
    await expect(raceAbort(never, c.signal)).rejects.toThrow('stop waiting')
    await expect(raceAbort(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7)
    // a promise that rejects after losing the race is handled, not left unhandled
    const late = new AbortController()
    const loser = new Promise<number>((resolve, reject) => { setTimeout(() => { reject(new Error('too late')) }, 20) })
    late.abort(new Error('gave up'))
    await expect(raceAbort(loser, late.signal)).rejects.toThrow('gave up')
    await new Promise(resolve => setTimeout(resolve, 50))
  })
})
