/**
 * An append-only log of checksummed records, the crash-safe way a Node peer keeps what it
 * must not lose (the session document's updates). A process killed mid-append leaves a
 * torn last record; reading stops at the first record whose length or checksum is wrong,
 * and that tail is cut off before anything new is appended.
 */
import { open, rename, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { crc32 } from 'node:zlib'
import { MurmurError } from '@murmur/protocol'

/** First bytes of every log file: names the format so a stray file is not read as one. */
export const RECORD_LOG_MAGIC = new TextEncoder().encode('MURMLOG1')

/** Largest record a log accepts; a length field above it marks a torn or foreign record. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024

const HEADER = 8 // u32 length + u32 crc32, big-endian

/** A record that cannot go into the log (too large). */
export class RecordTooLargeError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_RECORD_TOO_LARGE', options)
    this.name = 'RecordTooLargeError'
  }
}

/** What `decodeRecords` found in a log file's bytes. */
export interface DecodedRecords {
  /** Every intact record, in order, up to the first damaged one. */
  records: Uint8Array[]
  /** Bytes from the start of the file that hold the magic and intact records. */
  validBytes: number
  /** Bytes after them that were torn, corrupt or foreign and are to be dropped. */
  droppedBytes: number
}

/** One record as it is written: length, CRC-32 of the payload, payload. */
export function encodeRecord (payload: Uint8Array): Uint8Array {
  if (payload.byteLength > MAX_RECORD_BYTES) throw new RecordTooLargeError(`a log record holds at most ${MAX_RECORD_BYTES} bytes, got ${payload.byteLength}`)
  const out = new Uint8Array(HEADER + payload.byteLength)
  const view = new DataView(out.buffer)
  view.setUint32(0, payload.byteLength)
  view.setUint32(4, crc32(payload))
  out.set(payload, HEADER)
  return out
}

/** Split a log file's bytes into intact records, stopping at the first torn or corrupt one. */
export function decodeRecords (bytes: Uint8Array): DecodedRecords {
  const magic = RECORD_LOG_MAGIC
  if (bytes.byteLength < magic.byteLength || magic.some((b, i) => bytes[i] !== b)) {
    return { records: [], validBytes: 0, droppedBytes: bytes.byteLength }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const records: Uint8Array[] = []
  let offset = magic.byteLength
  while (offset + HEADER <= bytes.byteLength) {
    const length = view.getUint32(offset)
    const sum = view.getUint32(offset + 4)
    const end = offset + HEADER + length
    if (length > MAX_RECORD_BYTES || end > bytes.byteLength) break
    const payload = bytes.subarray(offset + HEADER, end)
    if (crc32(payload) !== sum) break
    records.push(payload)
    offset = end
  }
  return { records, validBytes: offset, droppedBytes: bytes.byteLength - offset }
}

/**
 * Write a whole file so that a crash leaves either the old content or the new, never a
 * mix: write a temp file beside it, fsync it, rename it over the target, fsync the folder.
 */
export async function writeFileAtomic (path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`
  const handle = await open(temp, 'w', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
  await syncDir(dirname(path))
}

/** fsync a directory so a rename in it survives power loss (a no-op where the OS refuses). */
export async function syncDir (dir: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // some file systems do not fsync directories; the rename is still atomic for a process crash
  } finally {
    await handle?.close()
  }
}

/** An open record log; appends are queued so they land in call order. */
export class RecordLog {
  readonly path: string
  private handle: FileHandle
  private bytes: number
  private count: number
  private queue: Promise<void> = Promise.resolve()
  private closed = false

  private constructor (path: string, handle: FileHandle, bytes: number, count: number) {
    this.path = path
    this.handle = handle
    this.bytes = bytes
    this.count = count
  }

  /**
   * Open (or create) the log at `path` and return its intact records. A damaged tail is
   * cut off on disk here, so the next append follows the last intact record.
   */
  static async open (path: string): Promise<{ log: RecordLog, records: Uint8Array[], droppedBytes: number }> {
    const handle = await open(path, 'a+', 0o600)
    try {
      const decoded = decodeRecords(await handle.readFile())
      if (decoded.validBytes === 0) {
        await handle.truncate(0)
        await handle.write(RECORD_LOG_MAGIC)
        await handle.sync()
        decoded.validBytes = RECORD_LOG_MAGIC.byteLength
      } else if (decoded.droppedBytes > 0) {
        await handle.truncate(decoded.validBytes)
        await handle.sync()
      }
      return { log: new RecordLog(path, handle, decoded.validBytes, decoded.records.length), records: decoded.records, droppedBytes: decoded.droppedBytes }
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  /** Bytes in the log file, magic included. */
  get size (): number {
    return this.bytes
  }

  /** Records in the log. */
  get records (): number {
    return this.count
  }

  /** Append one record (one write call, so a crash tears at most this record). */
  async append (payload: Uint8Array): Promise<void> {
    const record = encodeRecord(payload)
    return this.enqueue(async () => {
      await this.handle.write(record)
      this.bytes += record.byteLength
      this.count++
    })
  }

  /**
   * Replace the whole log with `records` atomically (compaction): a crash midway leaves
   * the old log intact. Appends queued before this call land before it.
   */
  async rewrite (records: () => Uint8Array[]): Promise<void> {
    return this.enqueue(async () => {
      const parts = records().map(encodeRecord)
      const data = new Uint8Array(RECORD_LOG_MAGIC.byteLength + parts.reduce((n, p) => n + p.byteLength, 0))
      data.set(RECORD_LOG_MAGIC, 0)
      let offset = RECORD_LOG_MAGIC.byteLength
      for (const p of parts) { data.set(p, offset); offset += p.byteLength }
      await writeFileAtomic(this.path, data)
      await this.handle.close()
      this.handle = await open(this.path, 'a', 0o600)
      this.bytes = data.byteLength
      this.count = parts.length
    })
  }

  /** fsync what was appended so far. */
  async sync (): Promise<void> {
    return this.enqueue(async () => { await this.handle.sync() })
  }

  /** Finish queued writes, fsync and close. */
  async close (): Promise<void> {
    if (this.closed) return
    await this.sync().catch(() => {})
    this.closed = true
    await this.handle.close()
  }

  private async enqueue (work: () => Promise<void>): Promise<void> {
    if (this.closed) throw new Error(`record log ${this.path} is closed`)
    const next = this.queue.then(work)
    // one failed write must not wedge every later one
    this.queue = next.catch(() => {})
    return next
  }
}
