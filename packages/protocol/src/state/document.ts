import * as Y from 'yjs'
import { MurmurError } from '../errors.js'
import { parseConfig, parseGrant, parseHead, parseMember, parseMetric } from './parse.js'
import { roots } from './schema.js'
import type { Member, MetricEntry, ModelHead, SessionConfig, StoredGrant } from './schema.js'

/** A state update or state vector that cannot be decoded. */
export class InvalidStateUpdateError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_STATE_UPDATE', options)
    this.name = 'InvalidStateUpdateError'
  }
}

/** Metrics entries each peer keeps of its own in the session document (its latest rounds). */
export const METRICS_PER_PEER = 200

/** Origin tag for updates that arrived from the network, so observers can tell them apart. */
export const REMOTE_ORIGIN = Symbol('murmur:remote')

/** Write (or replace) the session config. */
export function setConfig (doc: Y.Doc, config: SessionConfig): void {
  if (config.trim != null && !(config.trim >= 0 && config.trim < 0.5)) {
    throw new MurmurError(`trim is the fraction trimmed-mean cuts from each side and must be in [0, 0.5), got ${String(config.trim)}`, 'ERR_INVALID_CONFIG')
  }
  const map = roots(doc).config
  doc.transact(() => {
    for (const [k, v] of Object.entries(config)) {
      if (v !== undefined) map.set(k, v)
    }
  })
}

/** The session config, or undefined while none (or a malformed one) is present. */
export function getConfig (doc: Y.Doc): SessionConfig | undefined {
  return parseConfig(roots(doc).config.toJSON())
}

/** Add a member, or refresh the fields of an existing one. */
export function upsertMember (doc: Y.Doc, member: Member): void {
  roots(doc).members.set(member.peerId, { ...member })
}

/** Record that a member was seen at `now`, if it is a member. */
export function touchMember (doc: Y.Doc, peerId: string, now: number): void {
  const m = getMember(doc, peerId)
  if (m != null && now > m.lastSeen) upsertMember(doc, { ...m, lastSeen: now })
}

/** Mark a member as having left on purpose. */
export function markMemberLeft (doc: Y.Doc, peerId: string, now: number): void {
  const m = getMember(doc, peerId)
  if (m != null) upsertMember(doc, { ...m, leftAt: now, lastSeen: Math.max(m.lastSeen, now) })
}

/** One member, or undefined. */
export function getMember (doc: Y.Doc, peerId: string): Member | undefined {
  return parseMember(roots(doc).members.get(peerId))
}

/** Every well-formed member, sorted by peer id. */
export function listMembers (doc: Y.Doc): Member[] {
  const out: Member[] = []
  for (const [key, v] of roots(doc).members.entries()) {
    const m = parseMember(v)
    if (m != null && m.peerId === key) out.push(m)
  }
  return out.sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
}

/**
 * Publish a member's newest head. Heads only move forward: an older or equal version is
 * ignored (returns false), so a replayed announcement cannot roll a peer back.
 */
export function setHead (doc: Y.Doc, head: ModelHead): boolean {
  const current = getHead(doc, head.peerId)
  if (current != null && current.version >= head.version) return false
  roots(doc).heads.set(head.peerId, { ...head })
  return true
}

/** A member's head, or undefined. */
export function getHead (doc: Y.Doc, peerId: string): ModelHead | undefined {
  const h = parseHead(roots(doc).heads.get(peerId))
  return h?.peerId === peerId ? h : undefined
}

/** Every well-formed head, newest version first. */
export function listHeads (doc: Y.Doc): ModelHead[] {
  const out: ModelHead[] = []
  for (const [key, v] of roots(doc).heads.entries()) {
    const h = parseHead(v)
    if (h != null && h.peerId === key) out.push(h)
  }
  return out.sort((a, b) => b.version - a.version || (a.peerId < b.peerId ? -1 : 1))
}

/** Append to the metrics log, dropping this peer's oldest entries beyond `keep` (default `METRICS_PER_PEER`). */
export function appendMetric (doc: Y.Doc, entry: MetricEntry, options: { keep?: number } = {}): void {
  const keep = options.keep ?? METRICS_PER_PEER
  const metrics = roots(doc).metrics
  doc.transact(() => {
    metrics.push([{ ...entry }])
    // every replica holds every peer's log: without a bound a long session's document grows
    // by peers × rounds. A peer trims only its own entries, so trims never conflict.
    const mine: number[] = []
    metrics.forEach((v, index) => { if ((v as { peerId?: unknown } | null)?.peerId === entry.peerId) mine.push(index) })
    for (let k = mine.length - keep - 1; k >= 0; k--) metrics.delete(mine[k] as number, 1)
  })
}

/** The metrics log (well-formed entries), optionally only one peer's, in insertion order. */
export function listMetrics (doc: Y.Doc, peerId?: string): MetricEntry[] {
  const out: MetricEntry[] = []
  for (const v of roots(doc).metrics.toArray()) {
    const e = parseMetric(v)
    if (e != null && (peerId == null || e.peerId === peerId)) out.push(e)
  }
  return out
}

/** Store a member's grant (private sessions). */
export function putGrant (doc: Y.Doc, grant: StoredGrant): void {
  roots(doc).grants.set(grant.peerId, { ...grant })
}

/** A member's stored grant, or undefined. */
export function getGrant (doc: Y.Doc, peerId: string): StoredGrant | undefined {
  const g = parseGrant(roots(doc).grants.get(peerId))
  return g?.peerId === peerId ? g : undefined
}

/** The whole document as one update: what a new replica needs. */
export function encodeState (doc: Y.Doc, stateVector?: Uint8Array): Uint8Array {
  return Y.encodeStateAsUpdate(doc, stateVector)
}

/** The document's state vector: what a replica already has. */
export function encodeStateVector (doc: Y.Doc): Uint8Array {
  return Y.encodeStateVector(doc)
}

/** Check that bytes are a decodable state vector; throws `InvalidStateUpdateError`. */
export function checkStateVector (bytes: Uint8Array): void {
  try {
    Y.decodeStateVector(bytes)
  } catch (err) {
    throw new InvalidStateUpdateError('malformed state vector', { cause: err })
  }
}

/**
 * Apply an update from another peer. The update is fully decoded first, so malformed bytes
 * throw `InvalidStateUpdateError` and leave the document untouched.
 */
export function applyRemoteUpdate (doc: Y.Doc, update: Uint8Array, origin: unknown = REMOTE_ORIGIN): void {
  try {
    Y.decodeUpdate(update)
  } catch (err) {
    throw new InvalidStateUpdateError('malformed state update', { cause: err })
  }
  try {
    Y.applyUpdate(doc, update, origin)
  } catch (err) {
    throw new InvalidStateUpdateError('state update could not be applied', { cause: err })
  }
}

/** True when two replicas hold the same content (same state vector and same encoded state). */
export function sameState (a: Y.Doc, b: Y.Doc): boolean {
  const eq = (x: Uint8Array, y: Uint8Array): boolean => x.length === y.length && x.every((v, i) => v === y[i])
  return eq(Y.encodeStateVector(a), Y.encodeStateVector(b)) && eq(Y.encodeStateAsUpdate(a), Y.encodeStateAsUpdate(b))
}
