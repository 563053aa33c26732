/**
 * A peer's progress as it is saved after a round and restored after a restart or a reload:
 * one shape for every binding. Where it lives is the binding's choice (files in an agent's
 * data directory, IndexedDB in a page); what it holds is this.
 */
import type { ModelSnapshot } from '../learn/index.js'

/** One saved round of one session. */
export interface Checkpoint {
  session: string
  /** Rounds this peer had completed. */
  round: number
  /** The model after that round's merge. */
  snapshot: ModelSnapshot
  /** That round's metrics on the peer's held-out data. */
  metrics: Record<string, number>
  savedAt: number
  /** The session document as one update, for stores that keep it with the checkpoint (pages). */
  doc?: Uint8Array
}

/** Where a binding keeps checkpoints. `save` may be slow: the front door never runs two at once. */
export interface CheckpointStore {
  /** The newest checkpoint of `session`, or undefined when there is none (or it is unusable: say why through `onProblem`). */
  load(session: string, onProblem?: (reason: string) => void): Promise<Checkpoint | undefined>
  save(checkpoint: Checkpoint): Promise<void>
  /** Keep the session document inside each checkpoint (stores with no document log of their own). */
  readonly includeDoc?: boolean
  /** Flush and release what the store holds open. */
  close?(): Promise<void>
}
