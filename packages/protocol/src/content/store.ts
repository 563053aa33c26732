import { Key } from 'interface-datastore'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { InvalidShardError, ShardNotFoundError } from './errors.js'
import { verifyShard } from './cid.js'
import type { Datastore } from 'interface-datastore'

/** How much a store holds. */
export interface ShardStoreStats {
  /** Number of blocks. */
  blocks: number
  /** Sum of their byte lengths. */
  bytes: number
}

/**
 * Content-addressed block storage (shards and manifests). Every implementation checks a
 * block's hash before storing it, so a store never holds bytes that do not match their CID.
 */
export interface ShardStore {
  /** Whether the block is held. */
  has(cid: CID): Promise<boolean>
  /** The block's bytes (treat as read-only); throws `ShardNotFoundError` if absent. */
  get(cid: CID): Promise<Uint8Array>
  /** Verify and store a block; throws `InvalidShardError` (storing nothing) on a mismatch. */
  put(cid: CID, bytes: Uint8Array): Promise<void>
  /** Drop a block; absent blocks are ignored. */
  delete(cid: CID): Promise<void>
  /** Every held block's CID. */
  cids(): AsyncIterable<CID>
  /** Block count and total bytes. */
  stats(): Promise<ShardStoreStats>
}

/** Blocks in memory, keyed by CID string: for tests, browsers without storage, and caches. */
export class MemoryShardStore implements ShardStore {
  private readonly blocks = new Map<string, { cid: CID, bytes: Uint8Array }>()
  private total = 0

  async has (cid: CID): Promise<boolean> {
    return this.blocks.has(cid.toString())
  }

  async get (cid: CID): Promise<Uint8Array> {
    const entry = this.blocks.get(cid.toString())
    if (entry == null) throw new ShardNotFoundError(cid)
    return entry.bytes
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    await verifyShard(cid, bytes)
    const key = cid.toString()
    if (this.blocks.has(key)) return
    // A private copy: the caller's buffer (often a network frame) may be reused or mutated.
    this.blocks.set(key, { cid, bytes: bytes.slice() })
    this.total += bytes.byteLength
  }

  async delete (cid: CID): Promise<void> {
    const key = cid.toString()
    const entry = this.blocks.get(key)
    if (entry == null) return
    this.blocks.delete(key)
    this.total -= entry.bytes.byteLength
  }

  async * cids (): AsyncGenerator<CID> {
    for (const { cid } of [...this.blocks.values()]) yield cid
  }

  async stats (): Promise<ShardStoreStats> {
    return { blocks: this.blocks.size, bytes: this.total }
  }
}

const PREFIX = '/murmur/shards'

/**
 * Blocks in a `Datastore` (a directory in Node via `datastore-fs`, IndexedDB in browsers),
 * under `/murmur/shards/<CID in base32>`. Disks rot and other code can write the same
 * datastore, so `get` re-checks the hash and deletes a block that no longer matches.
 */
export class DatastoreShardStore implements ShardStore {
  private readonly datastore: Datastore

  constructor (datastore: Datastore) {
    this.datastore = datastore
  }

  private key (cid: CID): Key {
    return new Key(`${PREFIX}/${cid.toV1().toString(base32)}`)
  }

  async has (cid: CID): Promise<boolean> {
    return this.datastore.has(this.key(cid))
  }

  async get (cid: CID): Promise<Uint8Array> {
    const key = this.key(cid)
    let stored: Uint8Array
    try {
      stored = await this.datastore.get(key)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') throw new ShardNotFoundError(cid)
      throw err
    }
    // Node datastores hand back Buffers; callers compare and slice plain Uint8Arrays.
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength)
    try {
      await verifyShard(cid, bytes)
    } catch (err) {
      if (!(err instanceof InvalidShardError)) throw err
      await this.datastore.delete(key)
      throw new InvalidShardError(cid, `stored copy was corrupt and has been deleted (${err.message})`)
    }
    return bytes
  }

  async put (cid: CID, bytes: Uint8Array): Promise<void> {
    await verifyShard(cid, bytes)
    // Always write: rewriting a block that is already there also repairs a rotten copy.
    await this.datastore.put(this.key(cid), bytes)
  }

  async delete (cid: CID): Promise<void> {
    await this.datastore.delete(this.key(cid))
  }

  async * cids (): AsyncGenerator<CID> {
    for await (const key of this.datastore.queryKeys({ prefix: `${PREFIX}/` })) {
      const cid = parseKey(key)
      if (cid != null) yield cid
    }
  }

  async stats (): Promise<ShardStoreStats> {
    const stats = { blocks: 0, bytes: 0 }
    for await (const { key, value } of this.datastore.query({ prefix: `${PREFIX}/` })) {
      if (parseKey(key) == null) continue
      stats.blocks++
      stats.bytes += value.byteLength
    }
    return stats
  }
}

/** The CID a datastore key names, or undefined for a key that is not ours. */
function parseKey (key: Key): CID | undefined {
  try {
    return CID.parse(key.baseNamespace(), base32)
  } catch {
    return undefined
  }
}
