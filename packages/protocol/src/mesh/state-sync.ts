import { serviceDependencies } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { Connection, PeerId, Stream, Startable, Logger, IdentifyResult } from '@libp2p/interface'
import * as Y from 'yjs'
import { PROTOCOL_STATE, stateTopic, StateSyncMessage, encodeStateSyncMessage, decodeStateSyncMessage, MAX_SIZES } from '../wire/index.js'
import { encodeState, encodeStateVector, NotMemberError, REMOTE_ORIGIN } from '../state/index.js'
import type { MembershipPolicy } from '../state/index.js'
import { MAX_GOSSIP_UPDATE } from '../wire/limits.js'
import { RateLimitedError } from './errors.js'
import { framed } from './framing.js'
import type { Framed } from './framing.js'
import { PeerRateLimiter } from './rate-limit.js'
import type { PubSubLike, PubSubMessage } from './pubsub.js'
import { TopicValidatorResult } from './pubsub.js'
import { CatchUp } from './state/catch-up.js'
import { dropPending } from './state/dependencies.js'
import { UpdateIntake } from './state/intake.js'
import type { IntakeCounts } from './state/intake.js'
import type { PendingUpdate, PendingUpdatesInit } from './state/pending.js'
import type { StateSyncInit, StateSyncComponents, StateSyncStats, StateJoinOptions, StateRefusal, StateSyncEvents, StateSync } from './state/types.js'
import { encodePresence, isPresence } from './state/presence.js'
import { WriteBudget } from './state/write-budget.js'
import { answerExchange, initiateExchange } from './state/exchange.js'
import type { ExchangeReplica } from './state/exchange.js'

export type { StateSyncInit, StateSyncComponents, StateSyncStats, StateJoinOptions, StateRefusal, StateSyncEvents, StateSync } from './state/types.js'

interface Replica {
  doc: Y.Doc
  /** What other peers' updates go through: applied, held or refused. */
  intake: UpdateIntake
  presence: Map<string, number>
  /** Local updates waiting for the next publish. */
  outgoing: Uint8Array[]
  timer?: ReturnType<typeof setTimeout>
  membership?: MembershipPolicy
  onUpdate(update: Uint8Array, origin: unknown): void
}

class DefaultStateSync extends TypedEventEmitter<StateSyncEvents> implements StateSync, Startable {
  readonly [Symbol.toStringTag] = '@murmur/state-sync'
  readonly [serviceDependencies] = ['@libp2p/pubsub']
  readonly stats: StateSyncStats
  /** Held-update counters every replica's intake adds to. */
  private readonly held: IntakeCounts = { held: 0, heldApplied: 0, heldDropped: 0 }
  private readonly components: StateSyncComponents
  private readonly replicas = new Map<string, Replica>()
  private readonly syncTimeout: number
  private readonly presenceInterval: number
  private readonly publishDelay: number
  private readonly limiter: PeerRateLimiter
  private readonly pubsubService: string
  private readonly budget: WriteBudget
  private readonly pendingLimits?: PendingUpdatesInit
  private readonly log: Logger
  private presenceTimer?: ReturnType<typeof setInterval>
  private started = false
  private readonly catchUp: CatchUp

  constructor (components: StateSyncComponents, init: StateSyncInit) {
    super()
    this.components = components
    const held = this.held
    const replicas = this.replicas
    const sum = (f: (r: Replica) => number): number => { let n = 0; for (const r of replicas.values()) n += f(r); return n }
    this.stats = {
      updatesApplied: 0,
      updatesPublished: 0,
      updatesRejected: 0,
      syncsCompleted: 0,
      syncsFailed: 0,
      bytesIn: 0,
      bytesOut: 0,
      nonMember: 0,
      get updatesHeld () { return held.held },
      get heldApplied () { return held.heldApplied },
      get heldDropped () { return held.heldDropped },
      get pendingBytes () { return sum(r => r.intake.pendingBytes) },
      get pendingUpdates () { return sum(r => r.intake.pendingUpdates) },
      refusals: { 'non-member': 0, malformed: 0, oversized: 0, 'over-budget': 0, 'missing-dependencies': 0 }
    }
    this.syncTimeout = init.syncTimeout ?? 10_000
    this.presenceInterval = init.presenceInterval ?? 5_000
    this.publishDelay = init.publishDelay ?? 25
    this.limiter = new PeerRateLimiter({ perSecond: init.syncRatePerPeer ?? 1, burst: 5 })
    this.pubsubService = init.pubsubService ?? 'pubsub'
    this.budget = new WriteBudget(init.writeBudget)
    this.pendingLimits = init.pending
    this.log = components.logger.forComponent('murmur:state-sync')
    this.catchUp = new CatchUp({
      statePeers: async () => this.statePeers(),
      direct: peer => this.components.connectionManager.getConnections(peer).some(c => c.status === 'open' && c.limits == null),
      exchange: async (session, peer) => {
        await this.syncSession(peer, session).catch(err => {
          this.log('catch-up of %s with %p failed: %s', session, peer, (err as Error).message)
        })
      }
    })
    this.onMessage = this.onMessage.bind(this)
    this.onIdentify = this.onIdentify.bind(this)
  }

  private get pubsub (): PubSubLike {
    const p = this.components[this.pubsubService] as PubSubLike | undefined
    if (p == null) throw new Error(`stateSync needs a gossipsub service named "${this.pubsubService}"`)
    return p
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(PROTOCOL_STATE, (stream, connection) => {
      this.handleSync(stream, connection).catch(err => {
        this.log('inbound sync from %p failed: %s', connection.remotePeer, (err as Error).message)
      })
    }, { maxInboundStreams: 32, maxOutboundStreams: 32 })
    this.pubsub.addEventListener('message', this.onMessage)
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.presenceTimer = setInterval(() => { this.beacon() }, this.presenceInterval)
    this.started = true
    for (const [session] of this.replicas) this.subscribe(session)
  }

  async stop (): Promise<void> {
    this.started = false
    clearInterval(this.presenceTimer)
    this.pubsub.removeEventListener('message', this.onMessage)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    // pubsub may already be stopped: detach from the documents without unsubscribing
    for (const replica of this.replicas.values()) {
      clearTimeout(replica.timer)
      replica.doc.off('update', replica.onUpdate)
    }
    this.catchUp.stop()
    this.replicas.clear()
    await this.components.registrar.unhandle(PROTOCOL_STATE)
  }

  join (session: string, doc: Y.Doc, options: StateJoinOptions = {}): void {
    const topic = stateTopic(session) // validates the session id
    if (this.replicas.has(session)) throw new Error(`session ${session} already joined`)
    const replica: Replica = {
      doc,
      // drops whatever pending structs the document brought along
      intake: new UpdateIntake(doc, { budget: this.budget, pending: this.pendingLimits, counts: this.held }),
      presence: new Map(),
      outgoing: [],
      membership: options.membership,
      onUpdate: (update, origin) => {
        if (origin === REMOTE_ORIGIN) return
        replica.outgoing.push(update)
        replica.timer ??= setTimeout(() => { this.flush(session) }, this.publishDelay)
      }
    }
    doc.on('update', replica.onUpdate)
    this.replicas.set(session, replica)
    if (this.started) {
      this.subscribe(session)
      // connections opened before the join (a DHT walk, a bootstrap dial) ran their exchange
      // without this session: run it now, or the document would wait for gossip it cannot place
      void this.catchUp.all(session)
    }
    void topic
  }

  leave (session: string): void {
    const replica = this.replicas.get(session)
    if (replica == null) return
    this.flush(session)
    this.catchUp.forget(session)
    replica.doc.off('update', replica.onUpdate)
    replica.intake.clear()
    this.replicas.delete(session)
    const topic = stateTopic(session)
    this.pubsub.topicValidators.delete(topic)
    if (this.started) this.pubsub.unsubscribe(topic)
  }

  presence (session: string): Map<string, number> {
    return new Map(this.replicas.get(session)?.presence ?? [])
  }

  async syncWith (peer: PeerId): Promise<void> {
    for (const session of this.replicas.keys()) {
      await this.syncSession(peer, session)
    }
  }

  private subscribe (session: string): void {
    const topic = stateTopic(session)
    this.pubsub.topicValidators.set(topic, async (_peer, msg) => this.validate(session, msg))
    this.pubsub.subscribe(topic)
    this.beacon(session)
  }

  /**
   * Gossip validation: only signed, well-formed messages for this session propagate, in a
   * private session only those a member signed, and only updates this replica can apply:
   * one that builds on edits we lack is held (not forwarded, not applied) while we ask for
   * what it needs, so a peer cannot make the mesh carry and keep what no replica can use.
   */
  private async validate (session: string, msg: PubSubMessage): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    const author = msg.from.toString()
    let m: StateSyncMessage
    try {
      m = decodeStateSyncMessage(msg.data)
    } catch {
      this.refuse(session, author, 'malformed')
      return TopicValidatorResult.Reject
    }
    const replica = this.replicas.get(session)
    if (m.session !== session || replica == null) return TopicValidatorResult.Reject
    if (replica.membership != null && !(await replica.membership.isMember(author))) {
      this.refuseNonMember(session, msg.from)
      return TopicValidatorResult.Ignore
    }
    if (m.type === StateSyncMessage.Type.AWARENESS) {
      if (isPresence(m.payload)) return TopicValidatorResult.Accept
      this.refuse(session, author, 'malformed')
      return TopicValidatorResult.Reject
    }
    if (m.type !== StateSyncMessage.Type.UPDATE) {
      this.refuse(session, author, 'malformed')
      return TopicValidatorResult.Reject
    }
    const verdict = replica.intake.judgeGossip(author, m.payload)
    if (verdict.kind === 'apply') return TopicValidatorResult.Accept
    if (verdict.kind === 'refused') {
      this.refuse(session, author, verdict.reason)
      return verdict.reject ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    }
    // no refusal yet, nor for what the caps pushed out: an honest author's gossip waits here
    // too while we catch up; `settle` refuses what its author, asked, could not resolve
    this.catchUp.fillGap(session, msg.from)
    return TopicValidatorResult.Ignore
  }

  private onMessage (evt: CustomEvent<PubSubMessage>): void {
    const msg = evt.detail
    if (msg.type !== 'signed' || msg.from == null) return
    for (const [session, replica] of this.replicas) {
      if (msg.topic !== stateTopic(session)) continue
      let m: StateSyncMessage
      try {
        m = decodeStateSyncMessage(msg.data)
      } catch {
        this.stats.updatesRejected++
        return
      }
      this.stats.bytesIn += msg.data.length
      this.seen(session, replica, msg.from.toString())
      if (m.type !== StateSyncMessage.Type.UPDATE) return
      try {
        // validation found it applies; with it may go updates held for it
        const unblocked = replica.intake.applyGossip(m.payload)
        this.stats.updatesApplied++
        this.safeDispatch('state:update', { session, from: msg.from })
        this.appliedHeld(session, replica, unblocked)
      } catch (err) {
        this.refuse(session, msg.from.toString(), 'malformed')
        this.log('rejected update from %p: %s', msg.from, (err as Error).message)
      }
    }
  }

  /** Count and announce a refusal (peer scoring listens to `refused`). */
  private refuse (session: string, peer: string, reason: StateRefusal): void {
    this.stats.refusals[reason]++
    if (reason !== 'non-member') this.stats.updatesRejected++
    this.safeDispatch('refused', { session, peer, reason })
  }

  /**
   * Held updates were applied: they were not forwarded when they arrived, so peers whose only
   * path to them ran through us may lack them. Exchange state with our direct peers soon.
   */
  private appliedHeld (session: string, replica: Replica, applied: PendingUpdate[]): void {
    if (applied.length === 0) return
    this.stats.updatesApplied += applied.length
    for (let i = 0; i < applied.length; i++) this.safeDispatch('state:update', { session })
    this.catchUp.spread(session)
  }

  /** Count a non-member's message, and let it present a grant we may lack (`CatchUp.retryMembership`). */
  private refuseNonMember (session: string, peer: PeerId): void {
    this.stats.nonMember++
    this.refuse(session, peer.toString(), 'non-member')
    this.catchUp.retryMembership(session, peer)
  }

  /**
   * Peers we hold an open, unlimited connection to that speak the state protocol, as
   * identify told the peer store (one not identified yet runs the exchange on identify).
   */
  private async statePeers (): Promise<PeerId[]> {
    const connected = new Map<string, PeerId>()
    for (const c of this.components.connectionManager.getConnections()) {
      if (c.status === 'open' && c.limits == null) connected.set(c.remotePeer.toString(), c.remotePeer)
    }
    const speaks = await Promise.all([...connected.values()].map(async peer => {
      try {
        return (await this.components.peerStore.get(peer)).protocols.includes(PROTOCOL_STATE)
      } catch {
        return false
      }
    }))
    return [...connected.values()].filter((_, i) => speaks[i])
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    const { connection, protocols, peerId } = evt.detail
    // the dialer starts the exchange so each pair runs it once per connection
    if (connection.direction !== 'outbound' || connection.limits != null || !protocols.includes(PROTOCOL_STATE)) return
    this.syncWith(peerId).catch(err => {
      this.log('sync with %p failed: %s', peerId, (err as Error).message)
    })
  }

  private flush (session: string): void {
    const replica = this.replicas.get(session)
    if (replica == null) return
    clearTimeout(replica.timer)
    replica.timer = undefined
    if (replica.outgoing.length === 0) return
    const updates = replica.outgoing.splice(0)
    for (const bytes of this.chunkUpdates(session, updates)) {
      this.stats.updatesPublished++
      this.stats.bytesOut += bytes.length
      this.pubsub.publish(stateTopic(session), bytes).catch(err => {
        this.log('publish failed: %s', (err as Error).message)
      })
    }
  }

  /** Encode outgoing updates as few messages as the gossip size limit allows. */
  private chunkUpdates (session: string, updates: Uint8Array[]): Uint8Array[] {
    const limit = Math.min(MAX_GOSSIP_UPDATE, MAX_SIZES.stateMessage - 1024)
    const out: Uint8Array[] = []
    let batch: Uint8Array[] = []
    let size = 0
    const emit = (): void => {
      if (batch.length === 0) return
      const payload = bytes(batch.length === 1 ? batch[0] as Uint8Array : Y.mergeUpdates(batch))
      out.push(encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session, payload }))
      batch = []
      size = 0
    }
    for (const u of updates) {
      if (u.length > limit) {
        // too large to gossip (peers would refuse it): push it to our peers by exchange
        this.log('update of %d bytes left to catch-up sync', u.length)
        this.catchUp.spread(session)
        continue
      }
      if (size + u.length > limit) emit()
      batch.push(u)
      size += u.length
    }
    emit()
    return out
  }

  private beacon (only?: string): void {
    if (!this.started) return
    const now = Date.now()
    for (const [session, replica] of this.replicas) {
      if (only != null && session !== only) continue
      const payload = encodePresence(now) as Uint8Array<ArrayBuffer>
      this.pubsub.publish(stateTopic(session), encodeStateSyncMessage({ type: StateSyncMessage.Type.AWARENESS, session, payload })).catch(() => {})
      // held updates expire even when nothing else arrives
      this.appliedHeld(session, replica, replica.intake.drain(now))
      for (const [peer, last] of replica.presence) {
        if (now - last > 3 * this.presenceInterval) {
          replica.presence.delete(peer)
          this.safeDispatch('presence:gone', { session, peer })
        }
      }
    }
  }

  private seen (session: string, replica: Replica, peer: string): void {
    const now = Date.now()
    replica.presence.set(peer, now)
    this.safeDispatch('presence', { session, peer, lastSeen: now })
  }

  /** Outbound exchange: send our vector, apply their diff, read their vector, send our diff. */
  private async syncSession (peer: PeerId, session: string): Promise<void> {
    const replica = this.replicas.get(session)
    if (replica == null) return
    const signal = AbortSignal.timeout(this.syncTimeout)
    const stream = await this.components.connectionManager.openStream(peer, PROTOCOL_STATE, { signal })
    try {
      const side = this.exchangeSide(session, replica, peer, false)
      await initiateExchange(this.framed(stream), session, side, signal)
      await stream.close({ signal })
      this.stats.syncsCompleted++
      this.settle(session, replica, peer, side.mark)
      this.safeDispatch('sync', { session, peer })
    } catch (err) {
      this.stats.syncsFailed++
      stream.abort(err as Error)
      throw err
    }
  }

  private async handleSync (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    if (!this.limiter.take(peer.toString())) {
      stream.abort(new RateLimitedError(`peer ${peer.toString()} opened too many sync streams`))
      return
    }
    const signal = AbortSignal.timeout(this.syncTimeout)
    try {
      let side: (ExchangeReplica & { mark: number }) | undefined
      const session = await answerExchange(this.framed(stream), session => {
        const replica = this.replicas.get(session)
        // the peer started this exchange: the diff it pushes is charged to its write budget
        side = replica != null ? this.exchangeSide(session, replica, peer, true) : undefined
        return side
      }, signal)
      await stream.close({ signal })
      this.stats.syncsCompleted++
      const replica = this.replicas.get(session)
      if (replica != null && side != null) this.settle(session, replica, peer, side.mark)
      this.safeDispatch('sync', { session, peer })
    } catch (err) {
      this.stats.syncsFailed++
      this.stats.updatesRejected++
      stream.abort(err as Error)
      throw err
    }
  }

  /** A replica as an exchange with `peer` sees it; `mark` is noted when our vector goes out (see `settle`). */
  private exchangeSide (session: string, replica: Replica, peer: PeerId, pushed: boolean): ExchangeReplica & { mark: number } {
    const side = {
      mark: replica.intake.mark,
      credential: () => replica.membership?.credential(),
      admit: async (credential: Uint8Array | undefined) => { await this.checkMember(replica, session, peer, credential) },
      vector: () => {
        side.mark = replica.intake.mark
        return encodeStateVector(replica.doc)
      },
      diffFor: (vector: Uint8Array) => this.stateFor(replica, vector),
      take: (diff: Uint8Array) => { this.takeDiff(session, replica, peer, diff, pushed) }
    }
    return side
  }

  /** Length-prefixed framing of a state stream, counting what arrives. */
  private framed (stream: Stream): Framed {
    const io = framed(stream, MAX_SIZES.stateMessage)
    return {
      stream,
      write: async (bytes, options) => { await io.write(bytes, options) },
      read: async options => {
        const bytes = await io.read(options)
        this.stats.bytesIn += bytes.length
        return bytes
      }
    }
  }

  /**
   * Apply an exchange's diff. One the peer pushed beyond its write budget is not applied: we
   * pull from it instead, at our own pace. One that leaves structs without their dependencies
   * is applied as far as it goes and the rest dropped (no replica of ours sends that).
   */
  private takeDiff (session: string, replica: Replica, peer: PeerId, diff: Uint8Array, pushed: boolean): void {
    const { outcome, unblocked } = replica.intake.applyDiff(peer.toString(), diff, pushed)
    if (outcome === 'missing-dependencies') this.refuse(session, peer.toString(), 'missing-dependencies')
    if (outcome === 'over-budget') {
      this.stats.refusals['over-budget']++
      this.catchUp.fillGap(session, peer)
    }
    this.appliedHeld(session, replica, unblocked)
  }

  /**
   * An exchange with `peer` completed: it sent all it had when it saw our vector, so what it
   * authored that we held before then and still cannot apply builds on edits it never had.
   */
  private settle (session: string, replica: Replica, peer: PeerId, mark: number): void {
    const key = peer.toString()
    for (const _ of replica.intake.settle(key, mark)) this.refuse(session, key, 'missing-dependencies')
  }

  /** The diff a peer with `vector` lacks: never with pending structs (Yjs would include them). */
  private stateFor (replica: Replica, vector: Uint8Array): Uint8Array {
    dropPending(replica.doc)
    return encodeState(replica.doc, vector)
  }

  /** Throw `NotMemberError` (counted) unless `peer` may exchange state in a private session. */
  private async checkMember (replica: Replica, session: string, peer: PeerId, credential?: Uint8Array): Promise<void> {
    const membership = replica.membership
    if (membership == null) return
    const key = peer.toString()
    if (credential != null && await membership.admit(key, credential)) return
    if (await membership.isMember(key)) return
    this.stats.nonMember++
    this.refuse(session, key, 'non-member')
    throw new NotMemberError(key, session)
  }

  private safeDispatch<K extends keyof StateSyncEvents> (type: K, detail: StateSyncEvents[K]['detail']): void {
    try {
      this.safeDispatchEvent(type, { detail })
    } catch (err) {
      this.log.error('listener for %s threw: %s', type, (err as Error).message)
    }
  }
}

/** Yjs returns views typed over `ArrayBufferLike`; the wire codecs want `ArrayBuffer`-backed bytes. */
function bytes (u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? u as Uint8Array<ArrayBuffer> : new Uint8Array(u)
}

/** The state-sync service factory, for `createLibp2p({ services: { stateSync: stateSync() } })`. */
export function stateSync (init: StateSyncInit = {}): (components: StateSyncComponents) => StateSync {
  return (components) => new DefaultStateSync(components, init)
}
