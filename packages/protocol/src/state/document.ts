import * as Y from 'yjs'
import { MurmurError } from '../errors.js'
import { parseConfig, parseGrant, parseMember, parseRound } from './parse.js'
import { roots } from './schema.js'
import type { ParsedRound } from './parse.js'
import type { Member, MetricEntry, ModelHead, RoundRecord, SessionConfig, StoredGrant } from './schema.js'

/** A state update or state vector that cannot be decoded. */
export class InvalidStateUpdateError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_STATE_UPDATE', options)
    this.name = 'InvalidStateUpdateError'
  }
}

/**
 * Round records each member keeps of its own in the session document (its latest rounds):
 * what the demo's charts show, and a bound on what a joining replica downloads.
 */
export const ROUNDS_KEPT = 200

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

/**
 * Why the document's config cannot be read, or undefined when it is fine or still absent
 * (no `model` yet). Lets a joiner fail at once, naming the field, instead of waiting out a
 * timeout for a config that will never parse.
 */
export function configProblem (doc: Y.Doc): string | undefined {
  const raw = roots(doc).config.toJSON()
  if (!('model' in raw) || parseConfig(raw) != null) return undefined
  const problems = []
  if (typeof raw.averaging !== 'string') problems.push('averaging is missing')
  else if (!/^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(raw.averaging)) problems.push(`averaging "${String(raw.averaging)}" is not a rule name`)
  if (!(typeof raw.fanOut === 'number' && raw.fanOut >= 1)) problems.push(`fanOut must be a number ≥ 1, got ${JSON.stringify(raw.fanOut)}`)
  if (!(typeof raw.selfWeight === 'number' && raw.selfWeight >= 0 && raw.selfWeight < 1)) problems.push(`selfWeight must be in [0, 1), got ${JSON.stringify(raw.selfWeight)}`)
  if (problems.length === 0) problems.push(`encoding ${JSON.stringify(raw.encoding)} is not one this peer knows`)
  return problems.join('; ')
}

/** Add a member, or refresh the fields of an existing one. */
export function upsertMember (doc: Y.Doc, member: Member): void {
  roots(doc).members.set(member.peerId, { ...member })
}

/** Mark a member as having left on purpose. */
export function markMemberLeft (doc: Y.Doc, peerId: string, now: number): void {
  const m = getMember(doc, peerId)
  if (m != null) upsertMember(doc, { ...m, leftAt: now, lastSeen: Math.max(m.lastSeen, now) })
}

/** One member (its `lastSeen` includes its newest round), or undefined. */
export function getMember (doc: Y.Doc, peerId: string): Member | undefined {
  const m = parseMember(roots(doc).members.get(peerId))
  return m?.peerId === peerId ? withRounds(doc, m) : undefined
}

/** Every well-formed member, sorted by peer id. */
export function listMembers (doc: Y.Doc): Member[] {
  const out: Member[] = []
  for (const [key, v] of roots(doc).members.entries()) {
    const m = parseMember(v)
    if (m != null && m.peerId === key) out.push(withRounds(doc, m))
  }
  return out.sort((a, b) => byPeerId(a.peerId, b.peerId))
}

function withRounds (doc: Y.Doc, m: Member): Member {
  const last = newestRound(logOf(doc, m.peerId), m.peerId)
  const seen = last?.metrics?.timestamp ?? last?.head.timestamp ?? 0
  return seen > m.lastSeen ? { ...m, lastSeen: seen } : m
}

function byPeerId (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Record one of this member's rounds: the head it published and the round's metrics, as one
 * entry of its round log, dropping its oldest entries beyond `keep` (default `ROUNDS_KEPT`).
 * A member writes nothing else per round (see `RoundRecord`). Heads only move forward as the
 * readers see them (the highest version in the log wins), so a record is always written: an
 * entry another member forged into our log must not stop us recording our rounds.
 */
export function recordRound (doc: Y.Doc, record: RoundRecord, options: { keep?: number } = {}): void {
  const { head, metrics } = record
  if (head.peerId !== metrics.peerId) {
    throw new MurmurError(`a round record is one member's, but its head names ${head.peerId} and its metrics ${metrics.peerId}`, 'ERR_INVALID_ROUND')
  }
  const keep = Math.max(1, options.keep ?? ROUNDS_KEPT)
  doc.transact(() => {
    let log = logOf(doc, head.peerId)
    if (log == null) {
      log = new Y.Array<unknown>()
      roots(doc).rounds.set(head.peerId, log)
    }
    const { peerId: _p, ...line } = metrics
    const { peerId: _h, ...published } = head
    log.push([{ ...line, head: published }])
    trimLog(log, keep)
  })
}

/** Drop all but the newest `keep` entries of a round log. */
function trimLog (log: Y.Array<unknown>, keep: number): void {
  if (log.length > keep) log.delete(0, log.length - keep)
}

/** Each round log's member, how many entries it holds, and its newest entry's version. */
export function roundLogs (doc: Y.Doc): Array<{ peerId: string, entries: number, newest?: number }> {
  const out: Array<{ peerId: string, entries: number, newest?: number }> = []
  for (const peerId of roots(doc).rounds.keys()) {
    const log = logOf(doc, peerId)
    if (log == null) continue
    const newest = newestRound(log, peerId)?.head.version
    out.push(newest != null ? { peerId, entries: log.length, newest } : { peerId, entries: log.length })
  }
  return out.sort((a, b) => byPeerId(a.peerId, b.peerId))
}

/**
 * Trim `peerId`'s round log to its newest `keep` entries (default 1, which keeps its last
 * head and metrics): for a member that is gone, whose window would otherwise stay in every
 * replica for as long as the session lives. Any replica may trim: deletes of the same entries
 * merge, and the member's deleted entries join its deleted run.
 */
export function trimRounds (doc: Y.Doc, peerId: string, keep = 1): void {
  const log = logOf(doc, peerId)
  if (log != null) trimLog(log, keep)
}

/** `peerId`'s round log, or undefined when it has none (or another member wrote something else there). */
function logOf (doc: Y.Doc, peerId: string): Y.Array<unknown> | undefined {
  const log = roots(doc).rounds.get(peerId)
  return log instanceof Y.Array ? log as Y.Array<unknown> : undefined
}

/** The newest entry of `peerId`'s round log alone, when well-formed: what `lastSeen` and pruning need. */
function newestRound (log: Y.Array<unknown> | undefined, peerId: string): ParsedRound | undefined {
  return log != null && log.length > 0 ? parseRound(log.get(log.length - 1), peerId) : undefined
}

/** A member's round records whose head is well-formed, oldest first. */
function roundsOf (doc: Y.Doc, peerId: string): ParsedRound[] {
  const log = logOf(doc, peerId)
  if (log == null) return []
  const out: ParsedRound[] = []
  for (const v of log.toArray()) {
    const r = parseRound(v, peerId)
    if (r != null) out.push(r)
  }
  return out
}

/** Peer ids with a round log, sorted (map order differs between replicas). */
function logOwners (doc: Y.Doc): string[] {
  return [...roots(doc).rounds.keys()].sort(byPeerId)
}

/** A member's newest head (the highest version in its round log), or undefined. */
export function getHead (doc: Y.Doc, peerId: string): ModelHead | undefined {
  let best: ModelHead | undefined
  for (const { head } of roundsOf(doc, peerId)) {
    if (best == null || head.version > best.version) best = head
  }
  return best
}

/** Every member's newest head, newest version first. */
export function listHeads (doc: Y.Doc): ModelHead[] {
  const out = logOwners(doc).flatMap(peerId => getHead(doc, peerId) ?? [])
  return out.sort((a, b) => b.version - a.version || byPeerId(a.peerId, b.peerId))
}

/** The metrics of every member's kept rounds (or only `peerId`'s), by peer id, then oldest first. */
export function listMetrics (doc: Y.Doc, peerId?: string): MetricEntry[] {
  const peers = peerId != null ? [peerId] : logOwners(doc)
  return peers.flatMap(p => roundsOf(doc, p).flatMap(r => r.metrics ?? []))
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
