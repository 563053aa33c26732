import { MAX_HEAD_VERSION } from '../wire/limits.js'
import type { Member, MemberRole, MetricEntry, ModelHead, SessionConfig, SessionEncoding, SessionPace, StoredGrant } from './schema.js'

// Values in the document come from other peers: read them defensively. A malformed entry is
// skipped by the readers (and counted by callers), never trusted and never thrown on.

const ROLES: readonly MemberRole[] = ['trainer', 'relay', 'observer']
const ENCODINGS = ['fp32', 'fp16', 'int8'] as const
const HEAD_ENCODINGS = [...ENCODINGS, 'topk'] as const
/** A rule name as `registerMergeRule` accepts it; whether this peer knows it is the session's check. */
const RULE_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/
/** Metric names and count a round record may carry. */
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,31}$/
const MAX_METRICS = 8

type Obj = Record<string, unknown>


function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function str (o: Obj, k: string, max = 256): string | undefined {
  const v = o[k]
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined
}

function num (o: Obj, k: string, min = 0): number | undefined {
  const v = o[k]
  return typeof v === 'number' && Number.isFinite(v) && v >= min ? v : undefined
}

function oneOf<T extends string> (o: Obj, k: string, allowed: readonly T[]): T | undefined {
  const v = o[k]
  return typeof v === 'string' && (allowed as readonly string[]).includes(v) ? v as T : undefined
}

/** A `Member` from an untrusted document value, or undefined when malformed. */
export function parseMember (v: unknown): Member | undefined {
  if (!isObj(v)) return undefined
  const peerId = str(v, 'peerId')
  const role = oneOf(v, 'role', ROLES)
  const backend = str(v, 'backend', 32) ?? 'unknown'
  const samples = num(v, 'samples')
  const joinedAt = num(v, 'joinedAt')
  const lastSeen = num(v, 'lastSeen')
  if (peerId == null || role == null || samples == null || joinedAt == null || lastSeen == null) return undefined
  const member: Member = { peerId, role, backend, samples, joinedAt, lastSeen }
  const leftAt = num(v, 'leftAt')
  if (leftAt != null) member.leftAt = leftAt
  return member
}

/** A `ModelHead` from an untrusted document value, or undefined when malformed. */
export function parseHead (v: unknown): ModelHead | undefined {
  if (!isObj(v)) return undefined
  const peerId = str(v, 'peerId')
  const manifest = str(v, 'manifest', 128)
  const version = num(v, 'version')
  const samples = num(v, 'samples')
  const encoding = oneOf(v, 'encoding', HEAD_ENCODINGS)
  const timestamp = num(v, 'timestamp')
  if (peerId == null || manifest == null || version == null || samples == null || encoding == null || timestamp == null) return undefined
  if (!Number.isInteger(version) || version > MAX_HEAD_VERSION) return undefined
  return { peerId, manifest, version, samples, encoding, timestamp }
}

/** A `MetricEntry` from an untrusted document value, or undefined when malformed. */
export function parseMetric (v: unknown): MetricEntry | undefined {
  if (!isObj(v)) return undefined
  const peerId = str(v, 'peerId')
  const round = num(v, 'round')
  const loss = num(v, 'loss', -Infinity)
  const bytesSent = num(v, 'bytesSent') ?? 0
  const bytesReceived = num(v, 'bytesReceived') ?? 0
  const timestamp = num(v, 'timestamp')
  const metrics = parseMetrics(v.metrics)
  // records of the first layout carried accuracy alone
  const legacy = num(v, 'accuracy')
  if (metrics != null && legacy != null && legacy <= 1 && metrics.accuracy == null) metrics.accuracy = legacy
  if (peerId == null || round == null || loss == null || metrics == null || timestamp == null) return undefined
  const entry: MetricEntry = { peerId, round, loss, metrics, bytesSent, bytesReceived, timestamp }
  if (metrics.accuracy != null && metrics.accuracy >= 0 && metrics.accuracy <= 1) entry.accuracy = metrics.accuracy
  return entry
}

/** A metrics record from an untrusted value: at most 8 well-named finite numbers (absent → empty). */
function parseMetrics (v: unknown): Record<string, number> | undefined {
  if (v === undefined) return {}
  if (!isObj(v)) return undefined
  const out: Record<string, number> = {}
  let n = 0
  for (const [k, x] of Object.entries(v)) {
    if (!METRIC_NAME.test(k) || typeof x !== 'number' || !Number.isFinite(x)) continue
    if (++n > MAX_METRICS) break
    out[k] = x
  }
  return out
}

/** A round log entry as read back: its metrics may be malformed (a peer without data reports no loss). */
export interface ParsedRound {
  head: ModelHead
  metrics?: MetricEntry
}

/**
 * One entry of `peerId`'s round log from an untrusted value: its head, and its metrics when
 * they are well-formed too (a peer that holds no data reports no loss), or undefined when
 * the head is malformed. Entries carry no peer id: the log they sit in names their member.
 */
export function parseRound (v: unknown, peerId: string): ParsedRound | undefined {
  if (!isObj(v)) return undefined
  const head = parseHead(isObj(v.head) ? { ...v.head, peerId } : undefined)
  if (head == null) return undefined
  const metrics = parseMetric({ ...v, peerId })
  return metrics != null ? { head, metrics } : { head }
}

/** A `StoredGrant` from an untrusted document value, or undefined when malformed. */
export function parseGrant (v: unknown): StoredGrant | undefined {
  if (!isObj(v)) return undefined
  const peerId = str(v, 'peerId')
  const role = oneOf(v, 'role', ROLES)
  const expires = num(v, 'expires')
  const grant = str(v, 'grant', 4096)
  if (peerId == null || role == null || expires == null || grant == null) return undefined
  return { peerId, role, expires, grant }
}

/** A session's encoding from an untrusted value: a dense name, or a well-formed top-k spec. */
function parseEncoding (v: unknown): SessionEncoding | undefined {
  if (typeof v === 'string') return (ENCODINGS as readonly string[]).includes(v) ? v as SessionEncoding : undefined
  if (!isObj(v) || v.kind !== 'topk') return undefined
  const fraction = num(v, 'fraction')
  if (fraction == null || fraction <= 0 || fraction >= 1) return undefined
  const values = v.values === undefined ? 'fp16' : oneOf(v, 'values', ['fp16', 'int8'] as const)
  const keyframeEvery = v.keyframeEvery === undefined ? 8 : num(v, 'keyframeEvery', 1)
  if (values == null || keyframeEvery == null || !Number.isInteger(keyframeEvery) || keyframeEvery > 64) return undefined
  return { kind: 'topk', fraction, values, keyframeEvery }
}

/** A `SessionConfig` from untrusted document values, or undefined while incomplete/malformed. */
export function parseConfig (v: Obj): SessionConfig | undefined {
  const averaging = typeof v.averaging === 'string' && RULE_NAME.test(v.averaging) ? v.averaging : undefined
  const fanOut = num(v, 'fanOut', 1)
  const selfWeight = num(v, 'selfWeight')
  const encoding = parseEncoding(v.encoding)
  if (!('model' in v) || averaging == null || fanOut == null || selfWeight == null || selfWeight >= 1 || encoding == null) return undefined
  const config: SessionConfig = { model: v.model, averaging, fanOut, selfWeight, encoding }
  // a trim out of range is dropped on every peer alike: each then uses the default
  const trim = num(v, 'trim')
  if (trim != null && trim < 0.5) config.trim = trim
  const owner = str(v, 'owner', 512)
  if (owner != null) config.owner = owner
  const pace = parsePace(v.pace)
  if (pace != null) config.pace = pace
  const initialModel = str(v, 'initialModel', 128)
  if (initialModel != null) config.initialModel = initialModel
  return config
}

/** A `SessionPace` from an untrusted value; fields out of range are dropped (every peer alike). */
function parsePace (v: unknown): SessionPace | undefined {
  if (!isObj(v)) return undefined
  const pace: SessionPace = {}
  const minPeers = num(v, 'minPeers')
  if (minPeers != null && Number.isInteger(minPeers) && minPeers <= 1024) pace.minPeers = minPeers
  for (const k of ['startTimeout', 'waitForNeighbours', 'roundPeriod'] as const) {
    const ms = num(v, k)
    if (ms != null && ms <= 3_600_000) pace[k] = ms
  }
  return pace
}
