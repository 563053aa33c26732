/**
 * Keeps a session's Yjs document on disk: every update (local or from the network) is
 * appended to a checksummed record log, and from time to time the log is replaced by one
 * record holding the whole state. A restarted agent loads the log up to its first torn
 * record and catches up on the rest from its peers through the state-vector exchange.
 */
import { applyRemoteUpdate, encodeState } from '@murmur/protocol'
import type * as Y from 'yjs'
import { RecordLog } from './record-log.js'

/** Origin of updates replayed from disk, so they are not written back. */
const DISK_ORIGIN = Symbol('murmur:disk')

/** Options of `persistDoc`. */
export interface PersistDocOptions {
  /**
   * Compact once this many updates were appended since the last compaction.
   * @default 500
   */
  compactEvery?: number
}

/** A document bound to its log file. */
export interface PersistedDoc {
  /** Intact records replayed into the document at open. */
  readonly loaded: number
  /** Bytes of a torn or corrupt tail that were dropped at open. */
  readonly droppedBytes: number
  /** Records that held bytes Yjs refused (checksum fine, content not an update): skipped. */
  readonly skipped: number
  /** Compactions done since open. */
  compactions(): number
  /** Replace the log by one record holding the whole document. */
  compact(): Promise<void>
  /** Wait for queued appends and fsync them. */
  flush(): Promise<void>
  /** Stop following the document, flush and close the file. */
  close(): Promise<void>
}

/**
 * Load `path` into `doc` (which should be fresh) and append every later update to it.
 * Errors while appending are reported through `onError`, not thrown: training goes on and
 * the next compaction rewrites the whole state anyway.
 */
export async function persistDoc (doc: Y.Doc, path: string, options: PersistDocOptions & { onError?: (err: Error) => void } = {}): Promise<PersistedDoc> {
  const { log, records, droppedBytes } = await RecordLog.open(path)
  let skipped = 0
  for (const record of records) {
    try {
      applyRemoteUpdate(doc, record, DISK_ORIGIN)
    } catch {
      skipped++
    }
  }
  const compactEvery = options.compactEvery ?? 500
  const onError = options.onError ?? (() => {})
  let sinceCompaction = records.length
  let compactions = 0
  let compacting: Promise<void> | undefined

  const compact = async (): Promise<void> => {
    sinceCompaction = 0
    compactions++
    await log.rewrite(() => [encodeState(doc)])
  }
  const onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === DISK_ORIGIN) return
    log.append(update).catch(onError)
    if (++sinceCompaction >= compactEvery && compacting == null) {
      compacting = compact().catch(onError).finally(() => { compacting = undefined })
    }
  }
  // one record for what was loaded keeps the next start quick and drops skipped records
  if (records.length > 1 || skipped > 0) await compact()
  doc.on('update', onUpdate)

  return {
    loaded: records.length,
    droppedBytes,
    skipped,
    compactions: () => compactions,
    compact,
    flush: async () => { await log.sync() },
    close: async () => {
      doc.off('update', onUpdate)
      await compacting
      await log.close()
    }
  }
}
