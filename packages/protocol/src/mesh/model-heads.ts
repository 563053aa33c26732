import { serviceDependencies } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { PeerId, Startable, Logger, ComponentLogger, TypedEventTarget } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { headsTopic, encodeHeadAnnouncement, decodeHeadAnnouncement } from '../wire/index.js'
import type { HeadAnnouncement } from '../wire/index.js'
import { MAX_HEAD_VERSION } from '../wire/limits.js'
import type { MembershipPolicy } from '../state/index.js'
import type { PubSubLike, PubSubMessage } from './pubsub.js'
import { TopicValidatorResult } from './pubsub.js'

/** Options of the `modelHeads` service. */
export interface ModelHeadsInit {
  /**
   * Service name of the gossipsub instance.
   * @default 'pubsub'
   */
  pubsubService?: string
  /**
   * Announcements stamped further than this in the future are refused (ms).
   * @default 60000
   */
  maxClockSkew?: number
}

/** Components the service needs from libp2p. */
export interface ModelHeadsComponents {
  peerId: PeerId
  logger: ComponentLogger
  [service: string]: unknown
}

/** A head announcement that passed validation, with its manifest CID parsed. */
export interface VerifiedHead extends Omit<HeadAnnouncement, 'manifest'> {
  manifest: CID
  from: PeerId
}

/** Events of the `modelHeads` service. */
export interface ModelHeadsEvents {
  /** A newer head of some peer arrived (older or replayed ones are not re-emitted). */
  head: CustomEvent<VerifiedHead>
  /**
   * A head was refused: signed by a non-member of a private session (`non-member`), or one
   * its signer could have known to be wrong (`malformed`: wrong session, another peer's name,
   * values out of range). A head stamped in the future is refused without this event: an
   * honest peer's clock can be wrong.
   */
  refused: CustomEvent<{ session: string, peer: string, reason: HeadRefusal }>
}

/** Why a head was refused. */
export type HeadRefusal = 'non-member' | 'malformed'

/** Options of joining one session's head topic. */
export interface HeadsJoinOptions {
  /** Private sessions: heads signed by non-members are ignored and counted. */
  membership?: MembershipPolicy
}

/** Counters of head traffic. */
export interface ModelHeadsStats {
  published: number
  accepted: number
  rejected: number
  stale: number
  /** Heads ignored because their signer is not a member of the private session. */
  nonMember: number
}

/** Announces this peer's newest model and tracks every peer's newest one, per session. */
export interface ModelHeads extends TypedEventTarget<ModelHeadsEvents> {
  join(session: string, options?: HeadsJoinOptions): void
  leave(session: string): void
  /** Publish our newest head; `peer` and `session` are filled in. */
  announce(session: string, head: Omit<HeadAnnouncement, 'peer' | 'session'>): Promise<void>
  /** Newest known head per peer in a session. */
  heads(session: string): Map<string, VerifiedHead>
  readonly stats: ModelHeadsStats
}

class DefaultModelHeads extends TypedEventEmitter<ModelHeadsEvents> implements ModelHeads, Startable {
  readonly [Symbol.toStringTag] = '@murmur/model-heads'
  readonly [serviceDependencies] = ['@libp2p/pubsub']
  readonly stats: ModelHeadsStats = { published: 0, accepted: 0, rejected: 0, stale: 0, nonMember: 0 }
  private readonly components: ModelHeadsComponents
  private readonly sessions = new Map<string, Map<string, VerifiedHead>>()
  private readonly membership = new Map<string, MembershipPolicy>()
  private readonly pubsubService: string
  private readonly maxClockSkew: number
  private readonly log: Logger
  private started = false

  constructor (components: ModelHeadsComponents, init: ModelHeadsInit) {
    super()
    this.components = components
    this.pubsubService = init.pubsubService ?? 'pubsub'
    this.maxClockSkew = init.maxClockSkew ?? 60_000
    this.log = components.logger.forComponent('murmur:model-heads')
    this.onMessage = this.onMessage.bind(this)
  }

  private get pubsub (): PubSubLike {
    const p = this.components[this.pubsubService] as PubSubLike | undefined
    if (p == null) throw new Error(`modelHeads needs a gossipsub service named "${this.pubsubService}"`)
    return p
  }

  async start (): Promise<void> {
    this.pubsub.addEventListener('message', this.onMessage)
    this.started = true
    for (const session of this.sessions.keys()) this.subscribe(session)
  }

  async stop (): Promise<void> {
    this.started = false
    this.pubsub.removeEventListener('message', this.onMessage)
  }

  join (session: string, options: HeadsJoinOptions = {}): void {
    headsTopic(session)
    if (!this.sessions.has(session)) this.sessions.set(session, new Map())
    if (options.membership != null) this.membership.set(session, options.membership)
    if (this.started) this.subscribe(session)
  }

  leave (session: string): void {
    this.membership.delete(session)
    if (!this.sessions.delete(session)) return
    const topic = headsTopic(session)
    this.pubsub.topicValidators.delete(topic)
    if (this.started) this.pubsub.unsubscribe(topic)
  }

  heads (session: string): Map<string, VerifiedHead> {
    return new Map(this.sessions.get(session) ?? [])
  }

  async announce (session: string, head: Omit<HeadAnnouncement, 'peer' | 'session'>): Promise<void> {
    const full: HeadAnnouncement = { ...head, peer: this.components.peerId.toString(), session }
    const bytes = encodeHeadAnnouncement(full)
    this.stats.published++
    await this.pubsub.publish(headsTopic(session), bytes)
  }

  private subscribe (session: string): void {
    const topic = headsTopic(session)
    this.pubsub.topicValidators.set(topic, async (_peer, msg) => this.admit(session, msg))
    this.pubsub.subscribe(topic)
  }

  /** Gossip validation: well-formed heads propagate, in a private session only members' ones. */
  private async admit (session: string, msg: PubSubMessage): Promise<TopicValidatorResult> {
    const head = this.validate(session, msg)
    if (head === 'future') return TopicValidatorResult.Reject
    if (head == null) {
      if (msg.type === 'signed') this.refuse(session, msg.from.toString(), 'malformed')
      return TopicValidatorResult.Reject
    }
    const membership = this.membership.get(session)
    if (membership != null && !(await membership.isMember(head.peer))) {
      this.stats.nonMember++
      this.refuse(session, head.peer, 'non-member')
      // Ignore, not Reject: a member whose grant has not reached us yet must not be penalised
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }

  private refuse (session: string, peer: string, reason: HeadRefusal): void {
    try {
      this.safeDispatchEvent('refused', { detail: { session, peer, reason } })
    } catch (err) {
      this.log.error('refused listener threw: %s', (err as Error).message)
    }
  }

  /**
   * A head is valid when signed by the peer it names, for this session, with a parsable CID
   * and values a model can have (see `plausibleHead`); `future` when stamped too far ahead.
   */
  private validate (session: string, msg: PubSubMessage): VerifiedHead | 'future' | undefined {
    if (msg.type !== 'signed') return undefined
    try {
      const h = decodeHeadAnnouncement(msg.data)
      if (h.session !== session || h.peer !== msg.from.toString()) return undefined
      if (!plausibleHead(h)) return undefined
      if (h.timestamp > Date.now() + this.maxClockSkew) return 'future'
      return { ...h, manifest: CID.decode(h.manifest), from: msg.from }
    } catch {
      return undefined
    }
  }

  private onMessage (evt: CustomEvent<PubSubMessage>): void {
    const msg = evt.detail
    for (const [session, heads] of this.sessions) {
      if (msg.topic !== headsTopic(session)) continue
      const head = this.validate(session, msg)
      if (head == null || head === 'future') {
        this.stats.rejected++
        return
      }
      const current = heads.get(head.peer)
      if (current != null && current.version >= head.version) {
        this.stats.stale++
        return
      }
      heads.set(head.peer, head)
      this.stats.accepted++
      try {
        this.safeDispatchEvent('head', { detail: head })
      } catch (err) {
        this.log.error('head listener threw: %s', (err as Error).message)
      }
    }
  }
}

/**
 * Values a head can carry, beyond what the wire decoder checks (integers in range, accuracy
 * NaN or in [0, 1]): the version at most `MAX_HEAD_VERSION`, the loss a finite number or NaN
 * (the proto's "unknown"), never ±Infinity, which no evaluation yields and which would turn
 * any average a reader takes of the peers' losses into ±Infinity or NaN.
 */
export function plausibleHead (h: HeadAnnouncement): boolean {
  return Number.isSafeInteger(h.version) && h.version >= 0 && h.version <= MAX_HEAD_VERSION &&
    Number.isSafeInteger(h.samples) && h.samples >= 0 &&
    Number.isSafeInteger(h.timestamp) && h.timestamp >= 0 &&
    (Number.isNaN(h.loss) || Number.isFinite(h.loss)) &&
    (Number.isNaN(h.accuracy) || (Number.isFinite(h.accuracy) && h.accuracy >= 0 && h.accuracy <= 1))
}

/** The head-announcement service factory, for `createLibp2p({ services: { heads: modelHeads() } })`. */
export function modelHeads (init: ModelHeadsInit = {}): (components: ModelHeadsComponents) => ModelHeads {
  return (components) => new DefaultModelHeads(components, init)
}
