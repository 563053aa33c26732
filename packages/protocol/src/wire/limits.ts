import { InvalidSessionIdError } from './errors.js'

/** Stream protocol for fetching blocks (shards and manifests) by CID. */
export const PROTOCOL_SHARD = '/murmur/shard/1.0.0'

/** Stream protocol for Yjs state-vector catch-up between two peers. */
export const PROTOCOL_STATE = '/murmur/state/1.0.0'

/** The `ModelManifest.format` this code writes and reads. */
export const MANIFEST_FORMAT = 1

/** Largest shard a manifest may declare; a manifest block must fit in one shard too. */
export const MAX_SHARD_SIZE = 1024 * 1024

/** Most tensors one manifest may list. */
export const MAX_TENSORS = 65_536

/** Most dimensions one tensor may have. */
export const MAX_RANK = 8

/** Most shards one manifest may list (a 1 MiB manifest holds fewer anyway). */
export const MAX_SHARDS = 65_536

/** Longest peer id, model id, author or tensor name accepted, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256

/**
 * Byte limit of every message type, checked before decoding (and after encoding, so we
 * never send what a peer would refuse). Stream framing should use the same numbers.
 */
export const MAX_SIZES = {
  /** An encoded `ModelManifest` block. */
  manifest: MAX_SHARD_SIZE,
  /** A `ShardRequest`: one CID and its framing. */
  shardRequest: 128,
  /** A `ShardResponse`: the largest block plus room for status and message. */
  shardResponse: MAX_SHARD_SIZE + 4096,
  /** A `HeadAnnouncement` published on `/murmur/<session>/heads`. */
  headAnnouncement: 2048,
  /** A `StateSyncMessage`; larger Yjs updates must be split by the sender. */
  stateMessage: 4 * 1024 * 1024,
  /** A `MembershipGrant`. */
  membershipGrant: 2048
} as const

/**
 * Largest Yjs update one gossip message on `/murmur/<session>/state` may carry. Gossip is
 * for live edits (a round record is ~300 B, a 40-layer model's config ~8 KiB); anything
 * larger travels through the state-vector exchange, which a receiver asks for. Receivers
 * refuse larger gossip, so senders must leave larger updates to that exchange.
 */
export const MAX_GOSSIP_UPDATE = 256 * 1024

/**
 * Highest model version a head may carry (2^52: a round a millisecond for 140 000 years). A
 * restarted peer continues after the version it last saw, so one near `Number.MAX_SAFE_INTEGER`
 * would leave it versions the wire cannot carry.
 */
export const MAX_HEAD_VERSION = 2 ** 52

/** Names of the message types that `MAX_SIZES` limits. */
export type MessageKind = keyof typeof MAX_SIZES

const SESSION_ID = /^[A-Za-z0-9._-]{1,64}$/

/** True when `session` can name a Murmur session (1–64 chars of `[A-Za-z0-9._-]`). */
export function isValidSessionId (session: unknown): session is string {
  return typeof session === 'string' && SESSION_ID.test(session)
}

/** Return `session` unchanged, or throw `InvalidSessionIdError`. */
export function assertSessionId (session: unknown): string {
  if (!isValidSessionId(session)) throw new InvalidSessionIdError(session)
  return session
}

/** The gossipsub topic carrying a session's Yjs updates. */
export function stateTopic (session: string): string {
  return `/murmur/${assertSessionId(session)}/state`
}

/** The gossipsub topic carrying a session's model-head announcements. */
export function headsTopic (session: string): string {
  return `/murmur/${assertSessionId(session)}/heads`
}
