import { TypedEventEmitter } from 'main-event'
import type { Connection } from '@libp2p/interface'
import type { MurmurNode } from './types.js'

/** Misbehaviour Murmur scores a peer down for. */
export type Offence =
  /** A model that `validateModel` refused: NaN/Inf, wrong shapes, outlier norm. */
  | 'invalid-model'
  /** Blocks or a manifest that failed their hash or could not be decoded. */
  | 'bad-content'
  /** A state update that could not be decoded or applied. */
  | 'refused-state'
  /** A head, state update or exchange from a peer outside a private session. */
  | 'non-member'

/** Options of `PeerScores`. */
export interface PeerScoresInit {
  /**
   * Penalty per offence (subtracted from the score).
   * @default { 'invalid-model': 4, 'bad-content': 5, 'refused-state': 2, 'non-member': 1 }
   */
  penalties?: Partial<Record<Offence, number>>
  /**
   * Reward for a model that passed validation and was merged; the score never rises above
   * `maxScore`, so good behaviour cannot be banked to cover a later attack.
   * @default 0.5
   */
  reward?: number
  /** @default 5 */
  maxScore?: number
  /**
   * At or below this score a peer is banned: not merged from, disconnected, not re-dialled.
   * @default -10
   */
  banThreshold?: number
  /**
   * How long a ban lasts (ms); afterwards the peer starts again from 0.
   * @default 600000
   */
  banMs?: number
  /**
   * Scores decay towards 0 with this half-life (ms), so old offences are forgiven slowly.
   * @default 600000
   */
  halfLifeMs?: number
  /** Clock, for tests. @default Date.now */
  now?(): number
}

/** Events of `PeerScores`. */
export interface PeerScoresEvents {
  /** A peer's score fell to the ban threshold. */
  banned: CustomEvent<{ peer: string, score: number, until: number, offence: Offence }>
}

/** Counters of what was scored. */
export interface PeerScoresStats {
  offences: Record<Offence, number>
  rewards: number
  bans: number
}

interface Entry { score: number, at: number, bannedUntil?: number }

const DEFAULT_PENALTIES: Record<Offence, number> = { 'invalid-model': 4, 'bad-content': 5, 'refused-state': 2, 'non-member': 1 }
const MAX_TRACKED = 10_000

/**
 * Murmur's own score of each peer, from what it did to this peer: invalid or refused
 * models, content that fails its hash, refused state updates, non-member traffic. Below the
 * threshold the peer is banned for a while; `gossipScore` feeds the same opinion to
 * gossipsub's peer scoring (its application-specific score).
 */
export class PeerScores extends TypedEventEmitter<PeerScoresEvents> {
  readonly stats: PeerScoresStats = { offences: { 'invalid-model': 0, 'bad-content': 0, 'refused-state': 0, 'non-member': 0 }, rewards: 0, bans: 0 }
  private readonly entries = new Map<string, Entry>()
  private readonly penalties: Record<Offence, number>
  private readonly rewardAmount: number
  private readonly maxScore: number
  private readonly threshold: number
  private readonly banMs: number
  private readonly halfLifeMs: number
  private readonly now: () => number

  constructor (init: PeerScoresInit = {}) {
    super()
    this.penalties = { ...DEFAULT_PENALTIES, ...init.penalties }
    this.rewardAmount = init.reward ?? 0.5
    this.maxScore = init.maxScore ?? 5
    this.threshold = init.banThreshold ?? -10
    this.banMs = init.banMs ?? 600_000
    this.halfLifeMs = init.halfLifeMs ?? 600_000
    this.now = init.now ?? Date.now
    this.gossipScore = this.gossipScore.bind(this)
  }

  /** The peer's current score (0 for a peer never scored). */
  score (peer: string): number {
    return this.entry(peer)?.score ?? 0
  }

  /** Score a peer down; returns its new score and bans it when it reaches the threshold. */
  penalize (peer: string, offence: Offence): number {
    this.stats.offences[offence]++
    const e = this.entry(peer, true) as Entry
    if (e.bannedUntil != null) return e.score
    e.score -= this.penalties[offence]
    if (e.score <= this.threshold) {
      e.bannedUntil = this.now() + this.banMs
      this.stats.bans++
      this.safeDispatchEvent('banned', { detail: { peer, score: e.score, until: e.bannedUntil, offence } })
    }
    return e.score
  }

  /** Score a peer up a little for a model that was valid and merged. */
  reward (peer: string): number {
    this.stats.rewards++
    const e = this.entry(peer, true) as Entry
    if (e.bannedUntil == null) e.score = Math.min(this.maxScore, e.score + this.rewardAmount)
    return e.score
  }

  /** True while the peer is banned. */
  isBanned (peer: string): boolean {
    return this.entry(peer)?.bannedUntil != null
  }

  /** Peers banned now. */
  banned (): string[] {
    return [...this.entries.keys()].filter(p => this.isBanned(p))
  }

  /** Score for gossipsub's `appSpecificScore`: only Murmur's negative opinion counts there. */
  gossipScore (peer: string): number {
    const e = this.entry(peer)
    if (e == null) return 0
    return e.bannedUntil != null ? Math.min(e.score, this.threshold) : Math.min(0, e.score)
  }

  /** The decayed entry; ends expired bans. */
  private entry (peer: string, create = false): Entry | undefined {
    const now = this.now()
    let e = this.entries.get(peer)
    if (e == null) {
      if (!create) return undefined
      // bounded memory: forget the oldest unbanned peer rather than grow without end
      if (this.entries.size >= MAX_TRACKED) {
        for (const [k, v] of this.entries) if (v.bannedUntil == null) { this.entries.delete(k); break }
      }
      e = { score: 0, at: now }
      this.entries.set(peer, e)
      return e
    }
    if (e.bannedUntil != null && now >= e.bannedUntil) {
      e.bannedUntil = undefined
      e.score = 0
    }
    if (e.bannedUntil == null && now > e.at) e.score *= Math.pow(0.5, (now - e.at) / this.halfLifeMs)
    e.at = now
    return e
  }
}

/**
 * Act on bans: close every connection to a banned peer at once and close any new one while
 * the ban lasts (so re-dials in either direction fail). Returns a function that stops it.
 */
export function enforceBans (node: MurmurNode, scores: PeerScores): () => void {
  const onBanned = (evt: CustomEvent<{ peer: string }>): void => {
    for (const c of node.getConnections()) {
      if (c.remotePeer.toString() === evt.detail.peer) c.close().catch(() => {})
    }
  }
  const onOpen = (evt: CustomEvent<Connection>): void => {
    if (scores.isBanned(evt.detail.remotePeer.toString())) evt.detail.close().catch(() => {})
  }
  scores.addEventListener('banned', onBanned)
  node.addEventListener('connection:open', onOpen)
  return () => {
    scores.removeEventListener('banned', onBanned)
    node.removeEventListener('connection:open', onOpen)
  }
}
