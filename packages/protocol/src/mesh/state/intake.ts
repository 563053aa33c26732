import * as Y from 'yjs'
import { InvalidStateUpdateError, REMOTE_ORIGIN } from '../../state/index.js'
import { MAX_GOSSIP_UPDATE } from '../../wire/limits.js'
import { dropPending, inspectUpdate, mayApply } from './dependencies.js'
import { PendingUpdates } from './pending.js'
import type { PendingUpdate, PendingUpdatesInit } from './pending.js'
import type { WriteBudget } from './write-budget.js'

/** Why the intake refused an update. */
export type IntakeRefusal = 'malformed' | 'oversized' | 'over-budget' | 'missing-dependencies'

/** What to do with one gossiped update. */
export type GossipVerdict =
  /** It applies now: accept (forward) it and `apply` it when gossipsub delivers it. */
  | { kind: 'apply' }
  /** What it builds on is missing: do not forward; it is held (`held`) or was too large to hold. */
  | { kind: 'wait', held: boolean, dropped: PendingUpdate[] }
  /** Refused; `reject` tells gossipsub to count it against the sender (else ignore). */
  | { kind: 'refused', reason: IntakeRefusal, reject: boolean }

/** What applying a state-vector exchange's diff did. */
export type DiffOutcome = 'applied' | 'over-budget' | 'missing-dependencies'

/** Options of `UpdateIntake`. */
export interface UpdateIntakeInit {
  /** Charged for every gossiped update and every diff a peer pushes. */
  budget: WriteBudget
  /** Caps of the pending buffer. */
  pending?: PendingUpdatesInit
  /** @default MAX_GOSSIP_UPDATE */
  maxGossipUpdate?: number
  /** Counters to add to (several replicas may share one). */
  counts?: IntakeCounts
}

/** Counters of one replica's intake. */
export interface IntakeCounts {
  held: number
  heldApplied: number
  heldDropped: number
}

/**
 * What one replica does with other peers' Yjs updates: an update that applies cleanly is
 * applied; one that builds on what the replica lacks is not applied (Yjs would keep it in
 * the document as pending structs, forever and for every newcomer) but held in a bounded
 * buffer until its dependencies arrive; one that is too large, or whose author is over its
 * write budget, is refused. The document never keeps pending structs.
 */
export class UpdateIntake {
  readonly counts: IntakeCounts
  private readonly doc: Y.Doc
  private readonly budget: WriteBudget
  private readonly pending: PendingUpdates
  private readonly maxGossipUpdate: number

  constructor (doc: Y.Doc, init: UpdateIntakeInit) {
    this.doc = doc
    this.counts = init.counts ?? { held: 0, heldApplied: 0, heldDropped: 0 }
    this.budget = init.budget
    this.pending = new PendingUpdates(init.pending)
    this.maxGossipUpdate = init.maxGossipUpdate ?? MAX_GOSSIP_UPDATE
    // a document restored from before this check may hold pending structs: they go
    dropPending(doc)
  }

  /** Bytes held now. */
  get pendingBytes (): number { return this.pending.bytes }

  /** Updates held now. */
  get pendingUpdates (): number { return this.pending.size }

  /** Sequence number of the next held update: note it before an exchange, `settle` after. */
  get mark (): number { return this.pending.nextSeq }

  /** Decide on an update gossiped by `author` (its signer), holding it when it cannot apply yet. */
  judgeGossip (author: string, update: Uint8Array, now = Date.now()): GossipVerdict {
    if (update.length > this.maxGossipUpdate) return { kind: 'refused', reason: 'oversized', reject: true }
    let shape
    try {
      shape = inspectUpdate(this.doc, update)
    } catch {
      return { kind: 'refused', reason: 'malformed', reject: true }
    }
    if (!this.budget.take(author, update.length, shape.newStructs + shape.deletes, now)) {
      return { kind: 'refused', reason: 'over-budget', reject: false }
    }
    if (shape.missing == null) return { kind: 'apply' }
    const { held, dropped } = this.pending.hold(author, update, shape.missing, now)
    if (held) this.counts.held++
    else this.counts.heldDropped++
    this.counts.heldDropped += dropped.length
    return { kind: 'wait', held, dropped }
  }

  /**
   * Apply an update gossip validation accepted; then whatever it unblocked. Returns the held
   * updates that were applied with it.
   */
  applyGossip (update: Uint8Array): PendingUpdate[] {
    this.integrate(update)
    return this.drain()
  }

  /**
   * Apply a state-vector exchange's diff from `peer`. A diff the peer `pushed` (it started the
   * exchange) is charged to its write budget and left unapplied when over it. A diff never
   * leaves pending structs behind: what it carries without its dependencies is dropped.
   */
  applyDiff (peer: string, diff: Uint8Array, pushed: boolean, now = Date.now()): { outcome: DiffOutcome, unblocked: PendingUpdate[] } {
    const shape = inspectUpdate(this.doc, diff)
    if (pushed && !this.budget.take(peer, diff.length, shape.newStructs + shape.deletes, now)) return { outcome: 'over-budget', unblocked: [] }
    const left = this.integrate(diff)
    const unblocked = this.drain(now)
    return { outcome: left > 0 ? 'missing-dependencies' : 'applied', unblocked }
  }

  /**
   * A state-vector exchange with `author` completed: it sent us all it had, so what it
   * authored before `mark` and is still held builds on edits it never had. Those are
   * dropped and returned (their author is to be refused).
   */
  settle (author: string, mark: number): PendingUpdate[] {
    const unresolved = this.pending.heldFrom(author, mark)
    for (const e of unresolved) this.pending.release(e)
    this.counts.heldDropped += unresolved.length
    return unresolved
  }

  /** Apply held updates whose dependencies have arrived, until none is left that applies; drop expired ones. */
  drain (now = Date.now()): PendingUpdate[] {
    const expired = this.pending.expire(now)
    this.counts.heldDropped += expired.length
    const applied: PendingUpdate[] = []
    for (let progress = true; progress;) {
      progress = false
      for (const entry of this.pending.select(e => mayApply(this.doc, e.missing))) {
        let shape
        try {
          shape = inspectUpdate(this.doc, entry.update)
        } catch {
          this.pending.release(entry)
          this.counts.heldDropped++
          continue
        }
        if (shape.missing != null) {
          entry.missing = shape.missing
          continue
        }
        this.pending.release(entry)
        try {
          this.integrate(entry.update)
          applied.push(entry)
          progress = true
        } catch {
          this.counts.heldDropped++
        }
      }
    }
    this.counts.heldApplied += applied.length
    return applied
  }

  /** Forget every held update (the replica is leaving). */
  clear (): void {
    this.pending.clear()
  }

  /** Apply into the document; returns the bytes Yjs held back (and that were dropped). */
  private integrate (update: Uint8Array): number {
    let failure: unknown
    try {
      Y.applyUpdate(this.doc, update, REMOTE_ORIGIN)
    } catch (err) {
      failure = err ?? new Error('Yjs threw')
    }
    // after a failure too: an update that was checked leaves no pending structs, but a diff
    // may, and the document must never keep them
    const left = dropPending(this.doc)
    if (failure !== undefined) throw new InvalidStateUpdateError('state update could not be applied', { cause: failure })
    return left
  }
}
