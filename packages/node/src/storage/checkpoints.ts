/**
 * Model checkpoints of a training agent: after a round, its merged model is stored as
 * content (fp32, so a restore is exact) in `<dataDir>/checkpoints`, every block is fsynced
 * and read back through the hash check, and only then does `last-good.json` move to it.
 * A crash at any point leaves the previous last-good checkpoint whole.
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { createModelContent, decodeManifest, rebuildSnapshot, MurmurError } from '@murmur/protocol'
import type { Checkpoint, CheckpointStore, ModelSnapshot, ShardStore } from '@murmur/protocol'
import { checkFolderStore, openFolderStore, readLastGood, writeLastGood } from './folder-store.js'
import type { FolderStore, LastGood, StoreCheck } from './folder-store.js'
import { syncDir } from './record-log.js'

/** The checkpoint named by last-good cannot be rebuilt (blocks missing or corrupt). */
export class CheckpointUnusableError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_CHECKPOINT_UNUSABLE', options)
    this.name = 'CheckpointUnusableError'
  }
}

type Cid = Awaited<ReturnType<typeof createModelContent>>['manifestCid']

/** Checkpoints in a data directory; `open` verifies them, `save` adds one, `restore` reads the last good one. */
export class ModelCheckpoints {
  readonly dataDir: string
  private readonly folder: FolderStore
  private kept: string[][] = []
  private saving: Promise<unknown> = Promise.resolve()

  private constructor (dataDir: string, folder: FolderStore) {
    this.dataDir = dataDir
    this.folder = folder
  }

  /**
   * Open the checkpoint store, delete temp leftovers and blocks that fail their hash, and
   * drop blocks no last-good record names (a save that crashed before its record moved).
   */
  static async open (dataDir: string, options: { readOnly?: boolean } = {}): Promise<{ checkpoints: ModelCheckpoints, check: StoreCheck & { orphans: number } }> {
    const folder = await openFolderStore(join(dataDir, 'checkpoints'))
    const checkpoints = new ModelCheckpoints(dataDir, folder)
    // a reader beside a running agent (murmur export) must not delete what the agent is writing
    if (options.readOnly === true) return { checkpoints, check: { kept: 0, removed: 0, tempFiles: 0, orphans: 0 } }
    const check = await checkFolderStore(folder)
    const last = await readLastGood(dataDir)
    const keep = new Set<string>()
    if (last != null) {
      const blocks = await checkpoints.blocksOf(last.manifest).catch(() => [])
      blocks.forEach(b => keep.add(b))
      checkpoints.kept.push(blocks)
    }
    let orphans = 0
    for await (const cid of folder.store.cids()) {
      if (keep.has(cid.toString())) continue
      await folder.store.delete(cid)
      orphans++
    }
    return { checkpoints, check: { ...check, orphans } }
  }

  /** The store the checkpoints live in (not served to other peers). */
  get store (): ShardStore {
    return this.folder.store
  }

  /**
   * Store `snapshot` as the new last-good checkpoint. Saves run one at a time in call
   * order; older checkpoints' blocks are deleted once the record names the new one.
   */
  async save (snapshot: ModelSnapshot, meta: Omit<LastGood, 'manifest' | 'savedAt'>): Promise<LastGood> {
    const run = this.saving.then(async () => this.saveNow(snapshot, meta))
    this.saving = run.catch(() => {})
    return run
  }

  private async saveNow (snapshot: ModelSnapshot, meta: Omit<LastGood, 'manifest' | 'savedAt'>): Promise<LastGood> {
    const content = await createModelContent(snapshot, { encoding: 'fp32', modelId: meta.session, version: meta.round })
    const blocks: Array<{ cid: Cid, bytes: Uint8Array }> = [...content.shards, { cid: content.manifestCid, bytes: content.manifestBytes }]
    for (const b of blocks) await this.folder.store.put(b.cid, b.bytes)
    // fsync before the record moves: after power loss the record must not name lost blocks
    for (const b of blocks) await fsyncFile(this.folder.fileOf(b.cid))
    await syncDir(join(this.folder.dir, 'murmur', 'shards'))
    for (const b of blocks) await this.folder.store.get(b.cid) // re-hash what is on disk
    const record: LastGood = { ...meta, manifest: content.manifestCid.toString(), savedAt: Date.now() }
    await writeLastGood(this.dataDir, record)
    const names = blocks.map(b => b.cid.toString())
    this.kept.push(names)
    // keep the previous checkpoint too: a reader that started on it may still be busy
    while (this.kept.length > 2) {
      const old = this.kept.shift() ?? []
      const live = new Set(this.kept.flat())
      for await (const cid of this.folder.store.cids()) {
        const name = cid.toString()
        if (old.includes(name) && !live.has(name)) await this.folder.store.delete(cid)
      }
    }
    return record
  }

  /**
   * This data directory's checkpoints as the front door's `CheckpointStore`: `load` gives
   * the last good one of `session` (one of another session, or one that cannot be rebuilt,
   * is reported through `onProblem` and not used), `save` adds one.
   */
  asCheckpointStore (): CheckpointStore {
    return {
      load: async (session, onProblem) => {
        try {
          const restored = await this.restore()
          if (restored == null) return undefined
          if (restored.lastGood.session !== session) {
            onProblem?.(`the data directory's checkpoint belongs to session "${restored.lastGood.session}"; starting afresh`)
            return undefined
          }
          const { lastGood, snapshot } = restored
          return { session, round: lastGood.round, snapshot, metrics: lastGood.metrics, savedAt: lastGood.savedAt } satisfies Checkpoint
        } catch (err) {
          onProblem?.((err as Error).message)
          return undefined
        }
      },
      save: async (checkpoint) => {
        const metrics = Object.fromEntries(Object.entries(checkpoint.metrics).filter(([, v]) => Number.isFinite(v)))
        await this.save(checkpoint.snapshot, { session: checkpoint.session, round: checkpoint.round, metrics })
      },
      close: async () => { await this.flush() }
    }
  }

  /** The last good checkpoint and its model, or undefined when there is none. */
  async restore (): Promise<{ lastGood: LastGood, snapshot: ModelSnapshot } | undefined> {
    const lastGood = await readLastGood(this.dataDir)
    if (lastGood == null) return undefined
    try {
      const manifestCid = await this.find(lastGood.manifest)
      const manifest = decodeManifest(await this.folder.store.get(manifestCid))
      const snapshot = await rebuildSnapshot(manifest, async (cid) => this.folder.store.get(cid))
      return { lastGood, snapshot }
    } catch (err) {
      throw new CheckpointUnusableError(`checkpoint ${lastGood.manifest} (round ${lastGood.round}) cannot be rebuilt: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Wait for saves in flight. */
  async flush (): Promise<void> {
    await this.saving
  }

  private async find (name: string): Promise<Cid> {
    for await (const cid of this.folder.store.cids()) if (cid.toString() === name) return cid
    throw new CheckpointUnusableError(`block ${name} is not in the checkpoint store`)
  }

  private async blocksOf (manifestName: string): Promise<string[]> {
    const cid = await this.find(manifestName)
    const manifest = decodeManifest(await this.folder.store.get(cid))
    const shards = await Promise.all(manifest.shards.map(async bytes => {
      const names: string[] = []
      for await (const c of this.folder.store.cids()) if (equalBytes(c.bytes, bytes)) names.push(c.toString())
      return names
    }))
    return [manifestName, ...shards.flat()]
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}

async function fsyncFile (path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
