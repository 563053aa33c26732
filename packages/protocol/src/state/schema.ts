import * as Y from 'yjs'

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
  /** peer id → `ModelHead` */
  heads: 'heads',
  /** append-only list of `MetricEntry` */
  metrics: 'metrics',
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
  lastSeen: number
  /** Set when the member left on purpose. */
  leftAt?: number
}

/** The newest model a member published. */
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

/** One line of the session's metrics log. */
export interface MetricEntry {
  peerId: string
  round: number
  loss: number
  accuracy: number
  bytesSent: number
  bytesReceived: number
  timestamp: number
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

/** Averaging rules a session can choose. */
export type AveragingRule = 'variance-corrected' | 'plain' | 'median' | 'trimmed-mean'

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
}

/** The session document's root types. */
export interface SessionRoots {
  members: Y.Map<unknown>
  config: Y.Map<unknown>
  heads: Y.Map<unknown>
  metrics: Y.Array<unknown>
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
    heads: doc.getMap(ROOTS.heads),
    metrics: doc.getArray(ROOTS.metrics),
    grants: doc.getMap(ROOTS.grants)
  }
}
