import { PENDING_LIMITS } from './constants.js'

/** An update held back until what it builds on arrives. */
export interface PendingUpdate {
  /** Who signed (authored) the update. */
  author: string
  update: Uint8Array
  /** Client → clock the replica must reach (see `UpdateShape.missing`). */
  missing: Map<number, number>
  /** When it was held (ms). */
  at: number
  /** Order of arrival, so an exchange can tell which entries came before it started. */
  seq: number
}

/** Options of `PendingUpdates` (defaults: `PENDING_LIMITS`). */
export interface PendingUpdatesInit {
  perPeerBytes?: number
  perPeerUpdates?: number
  totalBytes?: number
  maxAgeMs?: number
}

/** What `hold` did. */
export interface HoldResult {
  /** False when the update alone is larger than one peer may have held. */
  held: boolean
  /** Entries dropped to make room: the author's own first, then the oldest of anyone. */
  dropped: PendingUpdate[]
}

/**
 * A bounded buffer of updates whose dependencies are missing: caps per author and in total,
 * oldest dropped first, entries expire. Yjs would keep such updates inside the document
 * without bound and hand them to every newcomer; here they cost at most `totalBytes`.
 */
export class PendingUpdates {
  private readonly entries: PendingUpdate[] = []
  private readonly perAuthor = new Map<string, { bytes: number, count: number }>()
  private readonly limits: Required<PendingUpdatesInit>
  private total = 0
  private seq = 0

  constructor (init: PendingUpdatesInit = {}) {
    this.limits = { ...PENDING_LIMITS, ...init }
  }

  /** Bytes held now. */
  get bytes (): number { return this.total }

  /** Updates held now. */
  get size (): number { return this.entries.length }

  /** Sequence number the next held update will get. */
  get nextSeq (): number { return this.seq }

  /** Bytes held now for one author. */
  bytesOf (author: string): number { return this.perAuthor.get(author)?.bytes ?? 0 }

  /** Hold `update` from `author` until `missing` may be met, making room as the caps say. */
  hold (author: string, update: Uint8Array, missing: Map<number, number>, now = Date.now()): HoldResult {
    const { perPeerBytes, perPeerUpdates, totalBytes } = this.limits
    if (update.length > perPeerBytes || update.length > totalBytes) return { held: false, dropped: [] }
    const dropped: PendingUpdate[] = []
    const own = (): { bytes: number, count: number } => this.perAuthor.get(author) ?? { bytes: 0, count: 0 }
    while (own().count > 0 && (own().bytes + update.length > perPeerBytes || own().count + 1 > perPeerUpdates)) {
      const i = this.entries.findIndex(e => e.author === author)
      dropped.push(this.removeAt(i))
    }
    while (this.entries.length > 0 && this.total + update.length > totalBytes) dropped.push(this.removeAt(0))
    const entry = { author, update, missing, at: now, seq: this.seq++ }
    this.entries.push(entry)
    const count = own()
    this.perAuthor.set(author, { bytes: count.bytes + update.length, count: count.count + 1 })
    this.total += update.length
    return { held: true, dropped }
  }

  /** Entries, oldest first, for which `ready(entry)` is true; they stay held until `release`d. */
  select (ready: (entry: PendingUpdate) => boolean): PendingUpdate[] {
    return this.entries.filter(ready)
  }

  /** Entries of one author that arrived before sequence number `before`. */
  heldFrom (author: string, before: number): PendingUpdate[] {
    return this.entries.filter(e => e.author === author && e.seq < before)
  }

  /** Stop holding `entry` (applied, or given up on). */
  release (entry: PendingUpdate): void {
    const i = this.entries.indexOf(entry)
    if (i >= 0) this.removeAt(i)
  }

  /** Drop entries older than `maxAgeMs`; returns them. */
  expire (now = Date.now()): PendingUpdate[] {
    const out: PendingUpdate[] = []
    while (this.entries.length > 0 && now - (this.entries[0] as PendingUpdate).at > this.limits.maxAgeMs) out.push(this.removeAt(0))
    return out
  }

  /** Drop everything. */
  clear (): void {
    this.entries.length = 0
    this.perAuthor.clear()
    this.total = 0
  }

  private removeAt (i: number): PendingUpdate {
    const [entry] = this.entries.splice(i, 1) as [PendingUpdate]
    const count = this.perAuthor.get(entry.author)
    if (count != null) {
      if (count.count <= 1) this.perAuthor.delete(entry.author)
      else this.perAuthor.set(entry.author, { bytes: count.bytes - entry.update.length, count: count.count - 1 })
    }
    this.total -= entry.update.length
    return entry
  }
}
