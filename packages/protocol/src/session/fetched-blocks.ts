import { CID } from 'multiformats/cid'
import type { ShardStore } from '../content/index.js'
import type { FetchOptions, ShardExchange } from '../mesh/index.js'
import { decodeManifest } from '../wire/index.js'
import type { ModelManifest } from '../wire/index.js'
import type { DeltaShards } from './delta.js'

/** The parts of the shard exchange a session's fetches use. */
export type FetchingShards = DeltaShards & Pick<ShardExchange, 'fetchModel'>

/**
 * The shard exchange as a session's fetches see it, noting every block a fetch may have
 * stored (a fetch that fails half way stores some too) so the session can delete them once
 * the round has merged them: a neighbour's round model is superseded by its next one, and a
 * top-k receiver keeps its reconstructions in memory, not as blocks. Without this every
 * model a peer ever fetched would stay in its store.
 */
export class FetchedBlocks implements DeltaShards {
  readonly store: ShardStore
  private readonly shards: FetchingShards
  private noted = new Map<string, CID>()
  /** Released last time: deleted again, in case an aborted fetch stored one after its release. */
  private released = new Map<string, CID>()

  constructor (shards: FetchingShards) {
    this.shards = shards
    this.store = shards.store
  }

  async fetchManifest (cid: CID, options?: FetchOptions): ReturnType<DeltaShards['fetchManifest']> {
    return await this.noting(cid, async () => await this.shards.fetchManifest(cid, options))
  }

  /** The shard exchange's `fetchModel`, its blocks noted like `fetchManifest`'s. */
  async fetchModel (cid: CID, options?: FetchOptions): ReturnType<ShardExchange['fetchModel']> {
    return await this.noting(cid, async () => await this.shards.fetchModel(cid, options))
  }

  async fetchBlocks (cids: CID[], options?: FetchOptions): ReturnType<DeltaShards['fetchBlocks']> {
    this.note(cids)
    return this.shards.fetchBlocks(cids, options)
  }

  /** Delete every noted block except those in `keep` (CID strings: the session's own versions). */
  async release (keep: ReadonlySet<string>): Promise<void> {
    const noted = this.noted
    const again = this.released
    this.noted = new Map()
    this.released = noted
    for (const [key, cid] of [...again, ...noted]) {
      if (!keep.has(key)) await this.store.delete(cid).catch(() => {})
    }
  }

  /** Run a fetch of the model `cid`, then note its manifest and shards, which a failed fetch may have stored some of. */
  private async noting<T extends { manifest: ModelManifest }> (cid: CID, fetch: () => Promise<T>): Promise<T> {
    let manifest: ModelManifest | undefined
    try {
      const fetched = await fetch()
      manifest = fetched.manifest
      return fetched
    } finally {
      await this.noteModel(cid, manifest)
    }
  }

  private async noteModel (cid: CID, manifest?: ModelManifest): Promise<void> {
    this.note([cid])
    manifest ??= await this.store.get(cid).then(decodeManifest).catch(() => undefined)
    for (const bytes of manifest?.shards ?? []) {
      try {
        this.note([CID.decode(bytes)])
      } catch { /* not a CID: nothing was fetched for it */ }
    }
  }

  private note (cids: CID[]): void {
    for (const cid of cids) this.noted.set(cid.toString(), cid)
  }
}
