/**
 * What an agent keeps in its data directory, and the checks that make a restart after
 * `kill -9` safe: block stores whose every block is re-hashed at start (bad ones deleted,
 * so nothing half-written is ever served), leftovers of interrupted writes removed, and the
 * `last-good.json` record naming the newest model checkpoint whose blocks were all stored.
 */
import { open, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { DatastoreShardStore, InvalidShardError, ShardNotFoundError } from '@murmur/protocol'
import type { ShardStore } from '@murmur/protocol'
import { FsDatastore } from 'datastore-fs'
import { Key } from 'interface-datastore'
import { writeFileAtomic } from './record-log.js'
import { UsageError } from '../errors.js'

/** Name of the last-good record inside the data directory. */
export const LAST_GOOD_FILE = 'last-good.json'

/** The newest checkpoint whose manifest and shards were all stored, verified and synced. */
export interface LastGood {
  /** Session the model belongs to. */
  session: string
  /** Manifest CID of the checkpoint (in the checkpoint store). */
  manifest: string
  /** Rounds this peer had completed when it was taken. */
  round: number
  /** The session's metrics on the agent's held-out data at that round (finite values only). */
  metrics: Record<string, number>
  /** Milliseconds since the epoch. */
  savedAt: number
}

/** What a store check found. */
export interface StoreCheck {
  /** Blocks that hashed to their CID and were kept. */
  kept: number
  /** Blocks that did not (torn, truncated, rotten) and were deleted. */
  removed: number
  /** Temp files of interrupted writes that were deleted. */
  tempFiles: number
}

/** A block store in a folder of the data directory. */
export interface FolderStore {
  readonly dir: string
  readonly datastore: FsDatastore
  readonly store: DatastoreShardStore
  /** Paths of the files holding `cid`, to fsync them. */
  fileOf(cid: { toString(): string }): string
}

/** Open (creating it) a `DatastoreShardStore` over an `FsDatastore` in `dir`. */
export async function openFolderStore (dir: string): Promise<FolderStore> {
  const datastore = new FsDatastore(dir, { createIfMissing: true })
  await datastore.open()
  const store = new DatastoreShardStore(datastore)
  return {
    dir,
    datastore,
    store,
    // DatastoreShardStore keeps blocks under /murmur/shards/<CID in base32>; CIDv1 strings already are base32
    fileOf: (cid) => datastore._encode(new Key(`/murmur/shards/${cid.toString()}`)).file
  }
}

/**
 * Re-hash every block in `store` (its `get` deletes a block that fails) and count what
 * was kept and removed. Bounded by the store's size; run once at start.
 */
export async function verifyShardStore (store: ShardStore): Promise<Omit<StoreCheck, 'tempFiles'>> {
  const cids = []
  for await (const cid of store.cids()) cids.push(cid)
  let kept = 0
  let removed = 0
  for (const cid of cids) {
    try {
      await store.get(cid)
      kept++
    } catch (err) {
      if (!(err instanceof InvalidShardError) && !(err instanceof ShardNotFoundError)) throw err
      await store.delete(cid).catch(() => {})
      removed++
    }
  }
  return { kept, removed }
}

/**
 * Delete temp files that interrupted atomic writes left under `dir` (datastore-fs writes
 * `.<name>.tmp` then renames; `writeFileAtomic` writes `<name>.<pid>.tmp`). Bounded depth.
 */
export async function removeTempFiles (dir: string, depth = 4): Promise<number> {
  let removed = 0
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw err
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && depth > 0) removed += await removeTempFiles(path, depth - 1)
    else if (entry.isFile() && entry.name.endsWith('.tmp')) {
      await unlink(path).catch(() => {})
      removed++
    }
  }
  return removed
}

/** Remove temp leftovers under `dir`, then verify every block of the store in it. */
export async function checkFolderStore (folder: FolderStore): Promise<StoreCheck> {
  const tempFiles = await removeTempFiles(folder.dir)
  return { ...await verifyShardStore(folder.store), tempFiles }
}

/** The last-good record of `dataDir`, or undefined when there is none or it is unreadable. */
export async function readLastGood (dataDir: string): Promise<LastGood | undefined> {
  let text: string
  try {
    text = await readFile(join(dataDir, LAST_GOOD_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const v = JSON.parse(text) as Partial<LastGood> & { accuracy?: unknown }
    if (typeof v.session !== 'string' || typeof v.manifest !== 'string' || !Number.isInteger(v.round) || (v.round ?? -1) < 0 ||
      typeof v.savedAt !== 'number') return undefined
    const metrics: Record<string, number> = {}
    for (const [k, x] of Object.entries(typeof v.metrics === 'object' && v.metrics !== null ? v.metrics : {})) if (typeof x === 'number' && Number.isFinite(x)) metrics[k] = x
    // records of the first layout carried accuracy alone
    if (typeof v.accuracy === 'number' && metrics.accuracy == null) metrics.accuracy = v.accuracy
    return { session: v.session, manifest: v.manifest, round: v.round as number, metrics, savedAt: v.savedAt }
  } catch {
    return undefined
  }
}

/** Replace the last-good record atomically (temp file, fsync, rename). */
export async function writeLastGood (dataDir: string, record: LastGood): Promise<void> {
  await writeFileAtomic(join(dataDir, LAST_GOOD_FILE), JSON.stringify(record))
}

/** Name of the lock file that keeps two agents off one data directory. */
export const LOCK_FILE = 'agent.lock'

/**
 * Take the data directory for this process: two agents writing one store and log would
 * undo every crash guarantee. A lock left by a killed process (its pid is gone) is taken
 * over. Returns the function that releases it.
 */
export async function lockDataDir (dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      return async () => { await unlink(path).catch(() => {}) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const pid = Number(await readFile(path, 'utf8').catch(() => ''))
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new UsageError(`data directory ${dataDir} is in use by process ${pid}; stop it or choose another --data-dir`)
    }
    await unlink(path).catch(() => {})
  }
  throw new UsageError(`cannot lock data directory ${dataDir} (${path} keeps coming back)`)
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
