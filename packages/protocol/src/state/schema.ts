import * as Y from 'yjs'
import type { MergeRule } from '../learn/index.js'

/**
 * The shape of one session's Yjs document. Shared state is data: which `Y.Map`/`Y.Array`
 * lives under which root key. Every root is created eagerly in `createSessionDoc` so a
 * remote update can never decide a root's type.
 */
export const ROOTS = {
  /** peer id → `Member` */
  members: 'members',
  /** key → JSON value (`SessionConfig` fields) */
  config: 'config',
  /**
   * peer id → `Y.Array` of that member's latest rounds (`RoundRecord`s, oldest first),
   * appended to only by the member, one entry per round; trimmed by the member, and by
   * anyone to its newest round once the member has been gone a while (`trimRounds`).
   */
  rounds: 'rounds',
  /** peer id → `StoredGrant` (private sessions) */
  grants: 'grants'
} as const

/** A peer's role in the session. */
export type MemberRole = 'trainer' | 'relay' | 'observer'

/** One member of the session as recorded in the shared document. */
export interface Member {
  peerId: string
  role: MemberRole
  /** tfjs backend the member trains with, e.g. `wasm`, `webgl`. */
  backend: string
  /** Training samples the member holds. */
  samples: number
  joinedAt: number
  /**
   * When the member last wrote to the session: its join, its departure or its newest round
   * record (`getMember` and `listMembers` fold the round records in; rounds do not rewrite
   * the member entry).
   */
  lastSeen: number
  /** Set when the member left on purpose. */
  leftAt?: number
}

/** A member's model head, as `getHead` and `listHeads` read it from its round records. */
export interface ModelHead {
  peerId: string
  /** Manifest CID (base32 string). */
  manifest: string
  version: number
  samples: number
  /** `topk` when the manifest may be a delta (see `TopKEncoding`). */
  encoding: 'fp32' | 'fp16' | 'int8' | 'topk'
  timestamp: number
}

/** One member's metrics of one round, as `listMetrics` reads them from its round records. */
export interface MetricEntry {
  peerId: string
  round: number
  loss: number
  /** The session's metrics of this round on the member's held-out data (names as `ModelConfig.metrics`, at most 8; read back always present). */
  metrics?: Record<string, number>
  /** `metrics.accuracy`, when the session measures accuracy. */
  accuracy?: number
  bytesSent: number
  bytesReceived: number
  timestamp: number
}

/**
 * What a member writes to the document once per round: the head it published and the
 * round's metrics, in one entry. One entry per round is what keeps a long session's
 * document flat: Yjs merges a client's deleted items only when their clocks are contiguous,
 * so a member whose only per-round write is this push leaves one deleted run behind its
 * window, however many rounds it trims.
 */
export interface RoundRecord {
  head: ModelHead
  metrics: MetricEntry
}

/** A membership grant as stored in the document (bytes as base64url). */
export interface StoredGrant {
  peerId: string
  role: MemberRole
  expires: number
  /** Encoded `MembershipGrant` message, base64url. */
  grant: string
}

/**
 * Top-k sparsified deltas with error feedback: each version sends the largest entries of
 * (model − what receivers hold), and a full keyframe every `keyframeEvery` versions.
 */
export interface TopKEncoding {
  kind: 'topk'
  /** Fraction of each tensor's values sent per version, in (0, 1). */
  fraction: number
  /** How sent values (and keyframes) are stored. @default 'fp16' */
  values?: 'fp16' | 'int8'
  /** A full keyframe every this many versions, 1–64. @default 8 */
  keyframeEvery?: number
}

/** How a session's peers put their models on the wire. */
export type SessionEncoding = 'fp32' | 'fp16' | 'int8' | TopKEncoding

/** Averaging rules a session can choose: a built-in one, or a name given to `registerMergeRule` on every peer. */
export type AveragingRule = MergeRule

/**
 * How a session keeps its peers in step without a barrier. A peer that is faster than the
 * others must not run ahead alone: measured, three regression peers of which one ran all
 * 100 rounds (26 ms each) before another head arrived merged with nobody (R² −8.35).
 */
export interface SessionPace {
  /**
   * Peers (besides this one) that must have announced a model before this peer's first
   * round; waited for at most `startTimeout`. @default 1
   */
  minPeers?: number
  /** Longest wait for `minPeers` (ms); after it the peer trains with whoever is there. @default 10000 */
  startTimeout?: number
  /**
   * After training, wait up to this long (ms) for `fanOut` neighbours to announce a model
   * newer than the one last merged from them: a fast peer waits for the slow ones instead of
   * merging stale models or none. 0 does not wait. @default 2000
   */
  waitForNeighbours?: number
  /** Shortest time from the start of one round to the next (ms): caps a fast peer's pace. @default 0 */
  roundPeriod?: number
}

/** Session-wide configuration, written once by the session's creator and changed rarely. */
export interface SessionConfig {
  /**
   * The model and its training hyper-parameters (architecture, optimizer, batch size, local
   * steps E) as the train layer's `ModelConfig` JSON; validated there, not here.
   */
  model: unknown
  averaging: AveragingRule
  /** Neighbours merged per round (k). */
  fanOut: number
  /** Weight of a peer's own model in its merge (the rest is shared by the received ones). */
  selfWeight: number
  encoding: SessionEncoding
  /**
   * Fraction of models `trimmed-mean` cuts from each side per coordinate, in [0, 0.5): the
   * share of Byzantine neighbours a merge tolerates. Read every round, like the rule.
   * @default 0.2
   */
  trim?: number
  /** Owner public key (base64url) when the session is private. */
  owner?: string
  /** Pacing every peer follows (see `SessionPace`). */
  pace?: SessionPace
  /**
   * Manifest CID of the model every peer starts from (a pretrained model the session
   * fine-tunes), published by the creator; a joiner without a checkpoint fetches it from the
   * members. Absent: each peer starts from its own seeded initialisation.
   */
  initialModel?: string
}

/** The session document's root types. */
export interface SessionRoots {
  members: Y.Map<unknown>
  config: Y.Map<unknown>
  rounds: Y.Map<unknown>
  grants: Y.Map<unknown>
}

/** Create an empty session document with every root in place. */
export function createSessionDoc (options: { gc?: boolean } = {}): Y.Doc {
  const doc = new Y.Doc({ gc: options.gc ?? true })
  roots(doc)
  return doc
}

/** The root types of a session document. */
export function roots (doc: Y.Doc): SessionRoots {
  return {
    members: doc.getMap(ROOTS.members),
    config: doc.getMap(ROOTS.config),
    rounds: doc.getMap(ROOTS.rounds),
    grants: doc.getMap(ROOTS.grants)
  }
}
