import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { MemoryDatastore } from 'datastore-core'
import { FsDatastore } from 'datastore-fs'
import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import * as Digest from 'multiformats/hashes/digest'
import {
  DatastoreShardStore, InvalidShardError, MemoryShardStore, ShardNotFoundError, cidForBytes, verifyShard
} from '../src/content/index.js'
import { MAX_SHARD_SIZE } from '../src/wire/index.js'
import type { ShardStore } from '../src/content/index.js'
import type { Datastore } from 'interface-datastore'

const dirs: string[] = []
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true })
})

async function fsDatastore (): Promise<FsDatastore> {
  const dir = await mkdtemp(join(tmpdir(), 'murmur-shards-'))
  dirs.push(dir)
  const ds = new FsDatastore(dir)
  await ds.open()
  return ds
}

async function all (store: ShardStore): Promise<string[]> {
  const out: string[] = []
  for await (const cid of store.cids()) out.push(cid.toString())
  return out.sort()
}

const STORES: Array<[string, () => Promise<{ store: ShardStore, datastore?: Datastore }>]> = [
  ['MemoryShardStore', async () => ({ store: new MemoryShardStore() })],
  ['DatastoreShardStore on MemoryDatastore', async () => {
    const datastore = new MemoryDatastore()
    return { store: new DatastoreShardStore(datastore), datastore }
  }],
  ['DatastoreShardStore on FsDatastore', async () => {
    const datastore = await fsDatastore()
    return { store: new DatastoreShardStore(datastore), datastore }
  }]
]

describe.each(STORES)('%s', (_, make) => {
  it('stores, lists, counts and deletes blocks', async () => {
    const { store } = await make()
    const a = new Uint8Array([1, 2, 3])
    const b = new Uint8Array(1000).fill(9)
    const [ca, cb] = [await cidForBytes(a), await cidForBytes(b)]
    expect(await store.has(ca)).toBe(false)
    await expect(store.get(ca)).rejects.toThrow(ShardNotFoundError)
    await store.put(ca, a)
    await store.put(cb, b)
    await store.put(ca, a)
    expect(await store.has(ca)).toBe(true)
    expect(await store.get(cb)).toEqual(b)
    expect(await all(store)).toEqual([ca.toString(), cb.toString()].sort())
    expect(await store.stats()).toEqual({ blocks: 2, bytes: 1003 })
    await store.delete(ca)
    await store.delete(ca)
    expect(await store.has(ca)).toBe(false)
    expect(await store.stats()).toEqual({ blocks: 1, bytes: 1000 })
    const err = await store.get(ca).catch(e => e)
    expect(err).toBeInstanceOf(ShardNotFoundError)
    expect((err as ShardNotFoundError).cid.equals(ca)).toBe(true)
  })

  it('refuses a block that does not match its CID, storing nothing', async () => {
    const { store } = await make()
    const good = new Uint8Array(64).fill(3)
    const cid = await cidForBytes(good)
    const bad = good.slice()
    bad[17] = (bad[17] as number) ^ 1
    await expect(store.put(cid, bad)).rejects.toThrow(InvalidShardError)
    await expect(store.put(cid, good.subarray(0, 63))).rejects.toThrow(InvalidShardError)
    const dagPb = CID.createV1(0x70, cid.multihash)
    await expect(store.put(dagPb, good)).rejects.toThrow(/not a CIDv1 raw sha2-256/)
    const huge = new Uint8Array(MAX_SHARD_SIZE + 1)
    await expect(store.put(await cidForBytes(huge), huge)).rejects.toThrow(/block limit/)
    expect(await store.has(cid)).toBe(false)
    expect(await store.stats()).toEqual({ blocks: 0, bytes: 0 })
  })

  it('never holds a bad block, whatever is put into it', async () => {
    const { store } = await make()
    await fc.assert(fc.asyncProperty(fc.array(fc.record({
      bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }),
      corrupt: fc.option(fc.nat(), { nil: undefined })
    }), { maxLength: 8 }), async (puts) => {
      for (const { bytes, corrupt } of puts) {
        const cid = await cidForBytes(bytes)
        const sent = bytes.slice()
        if (corrupt != null) sent[corrupt % sent.length] = (sent[corrupt % sent.length] as number) ^ 0x80
        await store.put(cid, sent).catch(err => { expect(err).toBeInstanceOf(InvalidShardError) })
      }
      for await (const cid of store.cids()) await verifyShard(cid, await store.get(cid))
    }), { numRuns: 15 })
  })
})

describe('MemoryShardStore', () => {
  it('keeps its own copy, so a caller reusing its buffer cannot corrupt the store', async () => {
    const store = new MemoryShardStore()
    const buf = new Uint8Array([5, 6, 7])
    const cid = await cidForBytes(buf)
    await store.put(cid, buf)
    buf[0] = 0
    await verifyShard(cid, await store.get(cid))
  })
})

describe('DatastoreShardStore', () => {
  it('keys blocks by base32 CID under /murmur/shards and ignores foreign keys', async () => {
    const datastore = new MemoryDatastore()
    const store = new DatastoreShardStore(datastore)
    const bytes = new Uint8Array([1])
    const cid = await cidForBytes(bytes)
    await store.put(cid, bytes)
    expect(await datastore.has(new Key(`/murmur/shards/${cid.toString(base32)}`))).toBe(true)
    await datastore.put(new Key('/murmur/shards/not-a-cid'), new Uint8Array([1]))
    await datastore.put(new Key('/other/thing'), new Uint8Array([1]))
    expect(await all(store)).toEqual([cid.toString()])
    expect(await store.stats()).toEqual({ blocks: 1, bytes: 1 })
  })

  it('deletes and refuses a block corrupted in the datastore', async () => {
    const datastore = new MemoryDatastore()
    const store = new DatastoreShardStore(datastore)
    const bytes = new Uint8Array(100).fill(1)
    const cid = await cidForBytes(bytes)
    await store.put(cid, bytes)
    await datastore.put(new Key(`/murmur/shards/${cid.toString(base32)}`), new Uint8Array(100).fill(2))
    const err = await store.get(cid).catch(e => e)
    expect(err).toBeInstanceOf(InvalidShardError)
    expect((err as InvalidShardError).cid.equals(cid)).toBe(true)
    expect(await store.has(cid)).toBe(false)
    await expect(store.get(cid)).rejects.toThrow(ShardNotFoundError)
  })

  it('deletes and refuses a block rotten on disk, and a later put repairs it', async () => {
    const datastore = await fsDatastore()
    const store = new DatastoreShardStore(datastore)
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => i * 7)
    const cid = await cidForBytes(bytes)
    await store.put(cid, bytes)
    const dir = join(datastore.path, 'murmur', 'shards')
    const files = await readdir(dir)
    expect(files).toEqual([`${cid.toString(base32)}.data`])
    const rotten = bytes.slice()
    rotten[4000] = (rotten[4000] as number) ^ 0xff
    await writeFile(join(dir, files[0] as string), rotten)
    await expect(store.get(cid)).rejects.toThrow(InvalidShardError)
    expect(await readdir(dir)).toEqual([])
    await store.put(cid, bytes)
    expect(await store.get(cid)).toEqual(bytes)
    // a fresh store over the same directory finds the block again: storage outlives the process
    expect(await all(new DatastoreShardStore(new FsDatastore(datastore.path)))).toEqual([cid.toString()])
  })

  it('refuses CIDs that are not raw sha2-256 even when the digest is right', async () => {
    const store = new DatastoreShardStore(new MemoryDatastore())
    const bytes = new Uint8Array([1, 2])
    const cid = await cidForBytes(bytes)
    const identity = CID.createV1(0x55, Digest.create(0x00, bytes))
    await expect(store.put(identity, bytes)).rejects.toThrow(InvalidShardError)
    expect(await store.has(cid)).toBe(false)
  })
})
