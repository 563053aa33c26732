import { serviceDependencies } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import type { Connection, PeerId, PeerStore, Stream, Startable, Logger, ComponentLogger, TypedEventTarget, Libp2pEvents, IdentifyResult } from '@libp2p/interface'
import type { Registrar, ConnectionManager } from '@libp2p/interface-internal'
import * as Y from 'yjs'
import { PROTOCOL_STATE, stateTopic, StateSyncMessage, encodeStateSyncMessage, decodeStateSyncMessage, MAX_SIZES } from '../wire/index.js'
import { applyRemoteUpdate, checkStateVector, encodeState, encodeStateVector, NotMemberError, REMOTE_ORIGIN } from '../state/index.js'
import type { MembershipPolicy } from '../state/index.js'
import { ProtocolViolationError, RateLimitedError } from './errors.js'
import { framed } from './framing.js'
import type { Framed } from './framing.js'
import { PeerRateLimiter } from './rate-limit.js'
import type { PubSubLike, PubSubMessage } from './pubsub.js'
import { TopicValidatorResult } from './pubsub.js'

/** Options of the `stateSync` service. */
export interface StateSyncInit {
  /**
   * How long one state-vector exchange may take.
   * @default 10000
   */
  syncTimeout?: number
  /**
   * Presence beacons are published this often (ms); a peer unseen for 3× this is gone.
   * @default 5000
   */
  presenceInterval?: number
  /**
   * Local document changes are batched for this long before one gossip message goes out.
   * @default 25
   */
  publishDelay?: number
  /**
   * Inbound sync streams each peer may open per second (burst 5).
   * @default 1
   */
  syncRatePerPeer?: number
  /**
   * Service name of the gossipsub instance in `createLibp2p({ services })`.
   * @default 'pubsub'
   */
  pubsubService?: string
}

/** Components the service needs from libp2p. */
export interface StateSyncComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  [service: string]: unknown
}

/** Counters a node reports about state sync (everything that was refused is counted). */
export interface StateSyncStats {
  updatesApplied: number
  updatesPublished: number
  updatesRejected: number
  syncsCompleted: number
  syncsFailed: number
  bytesIn: number
  bytesOut: number
  /** Gossip messages and sync exchanges refused because the peer is not a session member. */
  nonMember: number
}

/** Options of joining one session. */
export interface StateJoinOptions {
  /** Private sessions: only members' updates are applied, only members get the document. */
  membership?: MembershipPolicy
}

/** Why something a peer sent was refused. */
export type StateRefusal = 'non-member' | 'malformed'

/** Events of the `stateSync` service. */
export interface StateSyncEvents {
  /** A remote update was applied to a session's document. */
  'state:update': CustomEvent<{ session: string, from?: PeerId }>
  /** A peer's presence beacon was seen (or first seen). */
  'presence': CustomEvent<{ session: string, peer: string, lastSeen: number }>
  /** A peer has not been seen for three presence intervals. */
  'presence:gone': CustomEvent<{ session: string, peer: string }>
  /** A state-vector exchange with a peer completed. */
  'sync': CustomEvent<{ session: string, peer: PeerId }>
  /** Something a peer sent was refused (peer scoring listens). */
  'refused': CustomEvent<{ session: string, peer: string, reason: StateRefusal }>
}

/** Keeps each joined session's Yjs document identical on every peer. */
export interface StateSync extends TypedEventTarget<StateSyncEvents> {
  /** Start replicating `doc` as session `session` (gossip plus catch-up on connect). */
  join(session: string, doc: Y.Doc, options?: StateJoinOptions): void
  /** Stop replicating a session. */
  leave(session: string): void
  /** Run a state-vector exchange with `peer` for every joined session now. */
  syncWith(peer: PeerId): Promise<void>
  /** Peers seen recently in a session, with their last-seen time (ms). */
  presence(session: string): Map<string, number>
  /** Counters since start. */
  readonly stats: StateSyncStats
}

interface Replica {
  doc: Y.Doc
  presence: Map<string, number>
  pending: Uint8Array[]
  timer?: ReturnType<typeof setTimeout>
  membership?: MembershipPolicy
  onUpdate(update: Uint8Array, origin: unknown): void
}

class DefaultStateSync extends TypedEventEmitter<StateSyncEvents> implements StateSync, Startable {
  readonly [Symbol.toStringTag] = '@murmur/state-sync'
  readonly [serviceDependencies] = ['@libp2p/pubsub']
  readonly stats: StateSyncStats = { updatesApplied: 0, updatesPublished: 0, updatesRejected: 0, syncsCompleted: 0, syncsFailed: 0, bytesIn: 0, bytesOut: 0, nonMember: 0 }
  private readonly components: StateSyncComponents
  private readonly replicas = new Map<string, Replica>()
  private readonly syncTimeout: number
  private readonly presenceInterval: number
  private readonly publishDelay: number
  private readonly limiter: PeerRateLimiter
  private readonly pubsubService: string
  private readonly log: Logger
  private presenceTimer?: ReturnType<typeof setInterval>
  private started = false
  /** peer → when we last ran a catch-up exchange because its gossip came from a non-member */
  private readonly membershipRetries = new Map<string, number>()
  /** session → when we last ran a catch-up exchange because gossip left a gap in its document */
  private readonly gapRetries = new Map<string, number>()
  /** sessions with a gap catch-up running */
  private readonly gapsFilling = new Set<string>()

  constructor (components: StateSyncComponents, init: StateSyncInit) {
    super()
    this.components = components
    this.syncTimeout = init.syncTimeout ?? 10_000
    this.presenceInterval = init.presenceInterval ?? 5_000
    this.publishDelay = init.publishDelay ?? 25
    this.limiter = new PeerRateLimiter({ perSecond: init.syncRatePerPeer ?? 1, burst: 5 })
    this.pubsubService = init.pubsubService ?? 'pubsub'
    this.log = components.logger.forComponent('murmur:state-sync')
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
    this.replicas.clear()
    await this.components.registrar.unhandle(PROTOCOL_STATE)
  }

  join (session: string, doc: Y.Doc, options: StateJoinOptions = {}): void {
    const topic = stateTopic(session) // validates the session id
    if (this.replicas.has(session)) throw new Error(`session ${session} already joined`)
    const replica: Replica = {
      doc,
      presence: new Map(),
      pending: [],
      membership: options.membership,
      onUpdate: (update, origin) => {
        if (origin === REMOTE_ORIGIN) return
        replica.pending.push(update)
        replica.timer ??= setTimeout(() => { this.flush(session) }, this.publishDelay)
      }
    }
    doc.on('update', replica.onUpdate)
    this.replicas.set(session, replica)
    if (this.started) {
      this.subscribe(session)
      // connections opened before the join (a DHT walk, a bootstrap dial) ran their exchange
      // without this session: run it now, or the document would wait for gossip it cannot place
      void this.statePeers().then(async peers => { await this.catchUp(session, peers) })
    }
    void topic
  }

  leave (session: string): void {
    const replica = this.replicas.get(session)
    if (replica == null) return
    this.flush(session)
    replica.doc.off('update', replica.onUpdate)
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
   * Gossip validation: only signed, well-formed messages for this session propagate, and in a
   * private session only those a member signed.
   */
  private async validate (session: string, msg: PubSubMessage): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    try {
      const m = decodeStateSyncMessage(msg.data)
      if (m.session !== session) return TopicValidatorResult.Reject
      const membership = this.replicas.get(session)?.membership
      if (membership != null && !(await membership.isMember(msg.from.toString()))) {
        this.refuseNonMember(session, msg.from)
        return TopicValidatorResult.Ignore
      }
      if (m.type === StateSyncMessage.Type.UPDATE) {
        // bytes Yjs cannot decode would be refused by every peer: stop them here, so they
        // are not forwarded across the mesh and their sender's gossip score drops
        Y.decodeUpdate(m.payload)
        return TopicValidatorResult.Accept
      }
      if (m.type === StateSyncMessage.Type.AWARENESS && m.payload.length <= 256) return TopicValidatorResult.Accept
      return TopicValidatorResult.Reject
    } catch {
      this.stats.updatesRejected++
      this.safeDispatch('refused', { session, peer: msg.from.toString(), reason: 'malformed' })
      return TopicValidatorResult.Reject
    }
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
        applyRemoteUpdate(replica.doc, m.payload)
        this.stats.updatesApplied++
        this.safeDispatch('state:update', { session, from: msg.from })
        if (hasGap(replica.doc)) this.fillGap(session, msg.from)
      } catch (err) {
        this.stats.updatesRejected++
        this.safeDispatch('refused', { session, peer: msg.from.toString(), reason: 'malformed' })
        this.log('rejected update from %p: %s', msg.from, (err as Error).message)
      }
    }
  }

  /**
   * Count a non-member's message. A member whose grant we have not seen yet looks the same,
   * so we run one catch-up exchange with it (at most every 30 s), where it can present its
   * grant and its updates arrive in full.
   */
  private refuseNonMember (session: string, peer: PeerId): void {
    this.stats.nonMember++
    const key = peer.toString()
    this.safeDispatch('refused', { session, peer: key, reason: 'non-member' })
    const now = Date.now()
    if (now - (this.membershipRetries.get(key) ?? 0) < 30_000) return
    if (this.membershipRetries.size > 10_000) this.membershipRetries.clear()
    this.membershipRetries.set(key, now)
    this.syncSession(peer, session).catch(err => {
      this.log('membership catch-up with %p failed: %s', peer, (err as Error).message)
    })
  }

  /**
   * Gossip carried an update that builds on edits we never received (missed while joining,
   * dropped under load): Yjs holds it back until they come, which gossip alone never
   * repairs. Run one exchange with its author, or any peer of ours, at most every 2 s.
   */
  private fillGap (session: string, author: PeerId): void {
    const now = Date.now()
    // one catch-up at a time: under load an exchange outlasts 2 s, and stacked ones each
    // read the peer store for every connection (30 in-process agents queued thousands)
    if (this.gapsFilling.has(session) || now - (this.gapRetries.get(session) ?? 0) < 2000) return
    this.gapRetries.set(session, now)
    this.gapsFilling.add(session)
    // the author, when we hold a direct connection to it, without asking the peer store
    const direct = this.components.connectionManager.getConnections(author).some(c => c.status === 'open' && c.limits == null)
    const peers = direct ? Promise.resolve([author]) : this.statePeers()
    void peers
      .then(async found => {
        const any = found[Math.floor(Math.random() * found.length)]
        await this.catchUp(session, any != null ? [any] : [])
      })
      .finally(() => { this.gapsFilling.delete(session) })
  }

  /** Run the exchange for one session with each of `peers`, failures logged. */
  private async catchUp (session: string, peers: PeerId[]): Promise<void> {
    await Promise.all(peers.map(async peer => {
      await this.syncSession(peer, session).catch(err => {
        this.log('catch-up of %s with %p failed: %s', session, peer, (err as Error).message)
      })
    }))
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
    if (replica.pending.length === 0) return
    const updates = replica.pending.splice(0)
    for (const bytes of this.chunkUpdates(session, updates)) {
      this.stats.updatesPublished++
      this.stats.bytesOut += bytes.length
      this.pubsub.publish(stateTopic(session), bytes).catch(err => {
        this.log('publish failed: %s', (err as Error).message)
      })
    }
  }

  /** Encode pending updates as few messages as the size limit allows. */
  private chunkUpdates (session: string, updates: Uint8Array[]): Uint8Array[] {
    const limit = MAX_SIZES.stateMessage - 1024
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
        // too large to gossip: peers pick it up through the next state-vector exchange
        this.log('update of %d bytes left to catch-up sync', u.length)
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
      const payload = new TextEncoder().encode(String(now))
      this.pubsub.publish(stateTopic(session), encodeStateSyncMessage({ type: StateSyncMessage.Type.AWARENESS, session, payload })).catch(() => {})
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
      const io = framed(stream, MAX_SIZES.stateMessage)
      await this.presentCredential(io, session, replica, signal)
      await io.write(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session, payload: bytes(encodeStateVector(replica.doc)) }), { signal })
      const { diff, credential } = await this.readDiff(io, session, signal)
      await this.checkMember(replica, session, peer, credential)
      const theirVector = this.expect(await io.read({ signal }), session, StateSyncMessage.Type.STATE_VECTOR)
      checkStateVector(theirVector)
      applyRemoteUpdate(replica.doc, diff)
      await io.write(encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session, payload: bytes(encodeState(replica.doc, theirVector)) }), { signal })
      await stream.close({ signal })
      this.stats.syncsCompleted++
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
      const io = framed(stream, MAX_SIZES.stateMessage)
      let first = decodeStateSyncMessage(await io.read({ signal }))
      let credential: Uint8Array | undefined
      if (first.type === StateSyncMessage.Type.AWARENESS) {
        // a private session's newcomer presents its grant before anything else
        credential = first.payload
        first = decodeStateSyncMessage(await io.read({ signal }))
      }
      const replica = this.replicas.get(first.session)
      if (replica == null || first.type !== StateSyncMessage.Type.STATE_VECTOR) {
        throw new ProtocolViolationError(`unexpected ${first.type} for session ${first.session}`)
      }
      checkStateVector(first.payload)
      const session = first.session
      await this.checkMember(replica, session, peer, credential)
      await this.presentCredential(io, session, replica, signal)
      await io.write(encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session, payload: bytes(encodeState(replica.doc, first.payload)) }), { signal })
      await io.write(encodeStateSyncMessage({ type: StateSyncMessage.Type.STATE_VECTOR, session, payload: bytes(encodeStateVector(replica.doc)) }), { signal })
      const diff = this.expect(await io.read({ signal }), session, StateSyncMessage.Type.UPDATE)
      applyRemoteUpdate(replica.doc, diff)
      await stream.close({ signal })
      this.stats.syncsCompleted++
      this.safeDispatch('sync', { session, peer })
    } catch (err) {
      this.stats.syncsFailed++
      this.stats.updatesRejected++
      stream.abort(err as Error)
      throw err
    }
  }

  /** In a private session, send our grant first so a peer that lacks it still accepts us. */
  private async presentCredential (io: Framed, session: string, replica: Replica, signal: AbortSignal): Promise<void> {
    const credential = replica.membership?.credential()
    if (credential == null) return
    await io.write(encodeStateSyncMessage({ type: StateSyncMessage.Type.AWARENESS, session, payload: bytes(credential) }), { signal })
  }

  /** Throw `NotMemberError` (counted) unless `peer` may exchange state in a private session. */
  private async checkMember (replica: Replica, session: string, peer: PeerId, credential?: Uint8Array): Promise<void> {
    const membership = replica.membership
    if (membership == null) return
    const key = peer.toString()
    if (credential != null && await membership.admit(key, credential)) return
    if (await membership.isMember(key)) return
    this.stats.nonMember++
    this.safeDispatch('refused', { session, peer: key, reason: 'non-member' })
    throw new NotMemberError(key, session)
  }

  /** Read the responder's diff, and the grant it may present before it (private sessions). */
  private async readDiff (io: Framed, session: string, signal: AbortSignal): Promise<{ diff: Uint8Array, credential?: Uint8Array }> {
    const raw = await io.read({ signal })
    const m = decodeStateSyncMessage(raw)
    if (m.type !== StateSyncMessage.Type.AWARENESS || m.session !== session) return { diff: this.expect(raw, session, StateSyncMessage.Type.UPDATE) }
    this.stats.bytesIn += raw.length
    return { credential: m.payload, diff: this.expect(await io.read({ signal }), session, StateSyncMessage.Type.UPDATE) }
  }

  private expect (raw: Uint8Array, session: string, type: StateSyncMessage.Type): Uint8Array {
    const m = decodeStateSyncMessage(raw)
    if (m.session !== session || m.type !== type) {
      throw new ProtocolViolationError(`expected ${type} for session ${session}, got ${m.type} for ${m.session}`)
    }
    this.stats.bytesIn += raw.length
    return m.payload
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
/** True when the document holds updates back because edits they build on are missing. */
function hasGap (doc: Y.Doc): boolean {
  return doc.store.pendingStructs != null || doc.store.pendingDs != null
}

function bytes (u: Uint8Array): Uint8Array<ArrayBuffer> {
  return u.buffer instanceof ArrayBuffer ? u as Uint8Array<ArrayBuffer> : new Uint8Array(u)
}

/** The state-sync service factory, for `createLibp2p({ services: { stateSync: stateSync() } })`. */
export function stateSync (init: StateSyncInit = {}): (components: StateSyncComponents) => StateSync {
  return (components) => new DefaultStateSync(components, init)
}
