import { serviceDependencies } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { PeerId, Startable, Logger, ComponentLogger, TypedEventTarget } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { headsTopic, encodeHeadAnnouncement, decodeHeadAnnouncement } from '../wire/index.js'
import type { HeadAnnouncement } from '../wire/index.js'
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
  /** A head signed by a peer that is not a member of the private session was ignored. */
  refused: CustomEvent<{ session: string, peer: string }>
}

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
    if (head == null) return TopicValidatorResult.Reject
    const membership = this.membership.get(session)
    if (membership != null && !(await membership.isMember(head.peer))) {
      this.stats.nonMember++
      try {
        this.safeDispatchEvent('refused', { detail: { session, peer: head.peer } })
      } catch (err) {
        this.log.error('refused listener threw: %s', (err as Error).message)
      }
      // Ignore, not Reject: a member whose grant has not reached us yet must not be penalised
      return TopicValidatorResult.Ignore
    }
    return TopicValidatorResult.Accept
  }

  /** A head is valid when signed by the peer it names, for this session, with a parsable CID. */
  private validate (session: string, msg: PubSubMessage): VerifiedHead | undefined {
    if (msg.type !== 'signed') return undefined
    try {
      const h = decodeHeadAnnouncement(msg.data)
      if (h.session !== session || h.peer !== msg.from.toString()) return undefined
      if (h.timestamp > Date.now() + this.maxClockSkew) return undefined
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
      if (head == null) {
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

/** The head-announcement service factory, for `createLibp2p({ services: { heads: modelHeads() } })`. */
export function modelHeads (init: ModelHeadsInit = {}): (components: ModelHeadsComponents) => ModelHeads {
  return (components) => new DefaultModelHeads(components, init)
}
