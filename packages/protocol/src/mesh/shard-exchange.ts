import { TypedEventEmitter } from 'main-event'
import type { PeerId, Stream, Connection, Startable, Logger, ComponentLogger, ContentRouting, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { Registrar, ConnectionManager } from '@libp2p/interface-internal'
import { CID } from 'multiformats/cid'
import { peerIdFromString } from '@libp2p/peer-id'
import { PROTOCOL_SHARD, ShardRequest, ShardResponse, decodeShardRequest, encodeShardResponse, decodeManifest, MAX_SIZES } from '../wire/index.js'
import type { ModelManifest } from '../wire/index.js'
import { ShardNotFoundError, rebuildSnapshot } from '../content/index.js'
import type { ShardStore, ModelContent } from '../content/index.js'
import type { ModelSnapshot } from '../learn/index.js'
import { framed } from './framing.js'
import { deadline, raceAbort } from './deadline.js'
import { PeerRateLimiter } from './rate-limit.js'
import { UploadQueue } from './upload-queue.js'
import { ProviderStats } from './provider-stats.js'
import { fetchBlocks } from './shard-fetch.js'
import type { FetchOptions, FetchProgress, FetchResult, ManifestRef } from './shard-fetch.js'

/** A response before encoding: `have` only in answers to HAVE. */
type Reply = Omit<ShardResponse, 'have'> & Partial<Pick<ShardResponse, 'have'>>

/** A HAVE answer is reused this long: fetchers ask every second, and a disk store's has() is not free. */
const HAVE_CACHE_MS = 250
/** Manifests whose HAVE answer is cached. */
const HAVE_CACHE_ENTRIES = 16

/** Options of the `shardExchange` service. */
export interface ShardExchangeInit {
  /** Where shards (and manifests, which are blocks too) are kept and served from. */
  store: ShardStore
  /**
   * Announce a provider record in the DHT for every block this node stores.
   * @default true
   */
  announce?: boolean
  /**
   * Provider announcements in flight at once.
   * @default 4
   */
  announceConcurrency?: number
  /**
   * Shard requests each peer may make per second (burst is twice this); over it they get BUSY.
   * @default 200
   */
  requestRatePerPeer?: number
  /**
   * Cap on bytes per second this node uploads to all peers together; undefined is unlimited.
   * Lets an operator share a constrained link, and lets benchmarks shape every peer alike.
   */
  uploadBytesPerSecond?: number
  /**
   * With `uploadBytesPerSecond`: uploading time the queue may hold before a peer that
   * already has a response waiting is answered BUSY (ms). Peers are served in turn.
   * @default 2000
   */
  uploadQueueMs?: number
  /**
   * An inbound stream is closed when no request arrives for this long (ms).
   * @default 30000
   */
  idleTimeout?: number
  /** @default 64 */
  maxInboundStreams?: number
  /** @default 64 */
  maxOutboundStreams?: number
}

/** Components the service needs from libp2p. */
export interface ShardExchangeComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  contentRouting: ContentRouting
  logger: ComponentLogger
  /** libp2p's events: a fetch drops a provider whose last connection closed. */
  events?: TypedEventTarget<Libp2pEvents>
  [service: string]: unknown
}

/** Counters a node reports about shard traffic. */
export interface ShardExchangeStats {
  served: number
  bytesServed: number
  notFound: number
  busy: number
  badRequests: number
  fetched: number
  bytesFetched: number
  announced: number
  announceFailures: number
  /** Requests refused (FORBIDDEN) because the peer is not a member of our private session. */
  forbidden: number
  /** Providers not asked because they are not members of our private session. */
  nonMemberProviders: number
  /** HAVE questions answered (which shards of a manifest we hold). */
  haveQueries: number
}

/** Decides which peers may fetch our blocks and serve us theirs (private sessions). */
export type ShardAccessCheck = (peer: string) => boolean | Promise<boolean>

/** Events of the `shardExchange` service. */
export interface ShardExchangeEvents {
  'fetch:progress': CustomEvent<FetchProgress & { manifest?: string }>
}

/** Options of `ShardExchange.publish`. */
export interface PublishOptions {
  /**
   * Announce provider records in the DHT. A session's round models are fetched from their
   * author and superseded a round later: their records would only pile up in DHT servers.
   * @default true
   */
  announce?: boolean
}

/** Serves, announces and fetches content-addressed model shards. */
export interface ShardExchange extends TypedEventTarget<ShardExchangeEvents> {
  /** Store a model's manifest and shards and (unless told not to) announce them. */
  publish(content: ModelContent, options?: PublishOptions): Promise<void>
  /** Fetch a manifest and every shard it lists that is not held yet; returns the manifest. */
  fetchManifest(manifestCid: CID, options?: FetchOptions): Promise<{ manifest: ModelManifest, result: FetchResult }>
  /** Fetch a model and rebuild it, verified end to end. */
  fetchModel(manifestCid: CID, options?: FetchOptions): Promise<{ manifest: ModelManifest, snapshot: ModelSnapshot, result: FetchResult }>
  /** Fetch arbitrary blocks by CID. */
  fetchBlocks(cids: CID[], options?: FetchOptions): Promise<FetchResult>
  /** Announce that this node provides `cid` (queued; failures are logged). */
  announce(cid: CID): void
  /** Wait until every queued announcement has been made. */
  announced(): Promise<void>
  /** Restrict serving and fetching to peers `check` accepts; undefined lifts the restriction. */
  restrictTo(check: ShardAccessCheck | undefined): void
  /** RTT and throughput history per provider. */
  readonly providers: ProviderStats
  readonly stats: ShardExchangeStats
  readonly store: ShardStore
}

class DefaultShardExchange extends TypedEventEmitter<ShardExchangeEvents> implements ShardExchange, Startable {
  readonly [Symbol.toStringTag] = '@murmur/shard-exchange'
  readonly providers = new ProviderStats()
  readonly stats: ShardExchangeStats = { served: 0, bytesServed: 0, notFound: 0, busy: 0, badRequests: 0, fetched: 0, bytesFetched: 0, announced: 0, announceFailures: 0, forbidden: 0, nonMemberProviders: 0, haveQueries: 0 }
  readonly store: ShardStore
  private readonly components: ShardExchangeComponents
  private readonly init: ShardExchangeInit
  private readonly limiter: PeerRateLimiter
  private readonly log: Logger
  private readonly announceQueue: CID[] = []
  private readonly announcedKeys = new Set<string>()
  private announcing = 0
  private idleWaiters: Array<() => void> = []
  private readonly uploads?: UploadQueue
  private access?: ShardAccessCheck
  private started = false
  /** manifest → our latest HAVE bitfield for it */
  private readonly haves = new Map<string, { at: number, bits: Uint8Array<ArrayBuffer> }>()

  constructor (components: ShardExchangeComponents, init: ShardExchangeInit) {
    super()
    this.components = components
    this.init = init
    this.store = init.store
    const rate = init.requestRatePerPeer ?? 200
    this.limiter = new PeerRateLimiter({ perSecond: rate, burst: rate * 2 })
    if (init.uploadBytesPerSecond != null) this.uploads = new UploadQueue({ bytesPerSecond: init.uploadBytesPerSecond, maxQueueMs: init.uploadQueueMs })
    this.log = components.logger.forComponent('murmur:shard-exchange')
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(PROTOCOL_SHARD, (stream, connection) => {
      this.serve(stream, connection).catch(err => {
        this.log('serving %p failed: %s', connection.remotePeer, (err as Error).message)
      })
    }, {
      maxInboundStreams: this.init.maxInboundStreams ?? 64,
      maxOutboundStreams: this.init.maxOutboundStreams ?? 64
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.started = false
    this.announceQueue.length = 0
    this.uploads?.clear(new Error('shard exchange stopped'))
    await this.components.registrar.unhandle(PROTOCOL_SHARD)
  }

  async publish (content: ModelContent, options: PublishOptions = {}): Promise<void> {
    await this.store.put(content.manifestCid, content.manifestBytes)
    for (const shard of content.shards) await this.store.put(shard.cid, shard.bytes)
    if (options.announce === false) return
    this.announce(content.manifestCid)
    for (const shard of content.shards) this.announce(shard.cid)
  }

  async fetchManifest (manifestCid: CID, options: FetchOptions = {}): Promise<{ manifest: ModelManifest, result: FetchResult }> {
    const first = await this.fetchBlocks([manifestCid], options)
    const manifest = decodeManifest(await this.store.get(manifestCid))
    const shards = manifest.shards.map(bytes => CID.decode(bytes))
    const key = manifestCid.toString()
    // whoever served the manifest most likely holds the whole model: ask them first
    const hints = [...(options.providers ?? [])]
    for (const peer of Object.keys(first.servedBy)) {
      if (!hints.some(h => h.toString() === peer)) hints.push(peerIdFromString(peer))
    }
    const rest = await this.fetchWith(shards, {
      ...options,
      providers: hints,
      onProgress: (p) => {
        options.onProgress?.(p)
        this.safeDispatchEvent('fetch:progress', { detail: { ...p, manifest: key } })
      }
    }, { cid: manifestCid, shards })
    const result: FetchResult = {
      shards: first.shards + rest.shards,
      bytes: first.bytes + rest.bytes,
      servedBy: { ...first.servedBy },
      droppedProviders: [...new Set([...first.droppedProviders, ...rest.droppedProviders])],
      retries: first.retries + rest.retries
    }
    for (const [peer, n] of Object.entries(rest.servedBy)) result.servedBy[peer] = (result.servedBy[peer] ?? 0) + n
    return { manifest, result }
  }

  async fetchModel (manifestCid: CID, options: FetchOptions = {}): Promise<{ manifest: ModelManifest, snapshot: ModelSnapshot, result: FetchResult }> {
    const { manifest, result } = await this.fetchManifest(manifestCid, options)
    const snapshot = await rebuildSnapshot(manifest, async (cid) => this.store.get(cid))
    return { manifest, snapshot, result }
  }

  restrictTo (check: ShardAccessCheck | undefined): void {
    this.access = check
  }

  /** False (and counted) when a restriction is set and `peer` fails it. */
  private async allowed (peer: PeerId): Promise<boolean> {
    if (this.access == null || await this.access(peer.toString())) return true
    this.stats.nonMemberProviders++
    return false
  }

  async fetchBlocks (cids: CID[], options: FetchOptions = {}): Promise<FetchResult> {
    return this.fetchWith(cids, options)
  }

  /** Fetch `cids`; with `manifest`, the manifest they belong to, whose holders are asked what they have. */
  private async fetchWith (cids: CID[], options: FetchOptions, manifest?: ManifestRef): Promise<FetchResult> {
    if (this.access != null && options.providers != null) {
      const hinted: PeerId[] = []
      for (const p of options.providers) if (await this.allowed(p)) hinted.push(p)
      options = { ...options, providers: hinted }
    }
    // blocks of a manifest are announced once the fetch ends: meanwhile the manifest's own
    // record (announced as soon as it was stored) and HAVE answers tell other fetchers what
    // we hold, and a DHT walk per block would compete with the download for every peer's CPU
    const later: CID[] = []
    const result = await fetchBlocks({
      store: this.store,
      stats: this.providers,
      log: this.log,
      self: this.components.peerId,
      openStream: async (peer, signal) => this.components.connectionManager.openStream(peer, PROTOCOL_SHARD, { signal }),
      findProviders: (cid, signal) => this.findProviders(cid, signal),
      stored: (cid) => {
        if (options.announce === false) return
        if (manifest != null) later.push(cid)
        else this.announce(cid)
      },
      onPeerGone: (listener) => {
        const events = this.components.events
        const onDisconnect = (evt: CustomEvent<PeerId>): void => { listener(evt.detail) }
        events?.addEventListener('peer:disconnect', onDisconnect)
        return () => { events?.removeEventListener('peer:disconnect', onDisconnect) }
      }
    }, cids, options, manifest).finally(() => { for (const cid of later) this.announce(cid) })
    this.stats.fetched += result.shards
    this.stats.bytesFetched += result.bytes
    return result
  }

  private async * findProviders (cid: CID, signal: AbortSignal): AsyncIterable<PeerId> {
    const { signal: lookup, clear } = deadline(signal, 15_000)
    const found = this.components.contentRouting.findProviders(cid, { signal: lookup })[Symbol.asyncIterator]()
    try {
      // a lookup that ignores its signal must not hold the fetch's discovery forever
      for (let next = await raceAbort(found.next(), lookup); next.done !== true; next = await raceAbort(found.next(), lookup)) {
        if (await this.allowed(next.value.id)) yield next.value.id
      }
    } catch (err) {
      if (!signal.aborted && !lookup.aborted) throw err
    } finally {
      clear()
      void found.return?.().catch(() => {})
    }
  }

  announce (cid: CID): void {
    if (this.init.announce === false || !this.started) return
    const key = cid.toString()
    if (this.announcedKeys.has(key)) return
    this.announcedKeys.add(key)
    this.announceQueue.push(cid)
    this.pumpAnnouncements()
  }

  async announced (): Promise<void> {
    if (this.announcing === 0 && this.announceQueue.length === 0) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  private pumpAnnouncements (): void {
    const limit = this.init.announceConcurrency ?? 4
    while (this.announcing < limit && this.announceQueue.length > 0) {
      const cid = this.announceQueue.shift() as CID
      this.announcing++
      this.components.contentRouting.provide(cid, { signal: AbortSignal.timeout(30_000) })
        .then(() => { this.stats.announced++ })
        .catch(err => {
          // a later store of the same block may try again
          this.announcedKeys.delete(cid.toString())
          this.stats.announceFailures++
          this.log('announcing %s failed: %s', cid, (err as Error).message)
        })
        .finally(() => {
          this.announcing--
          this.pumpAnnouncements()
          if (this.announcing === 0 && this.announceQueue.length === 0) {
            for (const w of this.idleWaiters.splice(0)) w()
          }
        })
    }
  }

  /** Answer requests on one inbound stream until the peer closes it or goes idle. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const io = framed(stream, MAX_SIZES.shardRequest)
    const idle = this.init.idleTimeout ?? 30_000
    try {
      while (stream.readStatus === 'readable') {
        let raw: Uint8Array
        try {
          raw = await io.read({ signal: AbortSignal.timeout(idle) })
        } catch (err) {
          if ((err as Error).name === 'UnexpectedEOFError') break
          throw err
        }
        let cid: CID
        let kind: ShardRequest.Kind
        try {
          const request = decodeShardRequest(raw)
          cid = CID.decode(request.cid)
          kind = request.kind
        } catch (err) {
          this.stats.badRequests++
          throw err
        }
        const response = kind === ShardRequest.Kind.HAVE
          ? await this.answerHave(peer, cid)
          : await this.shaped(peer, await this.answer(peer, cid), idle)
        if (response.status === ShardResponse.Status.OK && kind === ShardRequest.Kind.BLOCK) {
          this.stats.served++
          this.stats.bytesServed += response.data.length
        }
        await io.write(encodeShardResponse(response), { signal: AbortSignal.timeout(idle) })
      }
      await stream.close().catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /**
   * With a capped uplink, wait for this peer's turn on it, or answer BUSY at once when the
   * queue is full and the peer already has a response waiting (it asks another provider).
   */
  private async shaped (peer: string, response: Reply, idle: number): Promise<Reply> {
    if (this.uploads == null || response.status !== ShardResponse.Status.OK) return response
    if (!this.uploads.admit(peer, response.data.length)) {
      this.stats.busy++
      return { status: ShardResponse.Status.BUSY, data: new Uint8Array(), message: 'upload queue full' }
    }
    await this.uploads.take(peer, response.data.length, AbortSignal.timeout(idle))
    return response
  }

  /** Which of a manifest's shards we hold, as a bitfield; NOT_FOUND when we lack the manifest. */
  private async answerHave (peer: string, manifestCid: CID): Promise<Reply> {
    const refused = await this.refuse(peer)
    if (refused != null) return refused
    this.stats.haveQueries++
    const key = manifestCid.toString()
    const cached = this.haves.get(key)
    if (cached != null && Date.now() - cached.at < HAVE_CACHE_MS) return { status: ShardResponse.Status.OK, data: new Uint8Array(), message: '', have: cached.bits }
    let shards: Uint8Array[]
    try {
      shards = decodeManifest(await this.store.get(manifestCid)).shards
    } catch (err) {
      // not held, a block that is not a manifest, or a stored copy that rotted
      const message = err instanceof ShardNotFoundError ? '' : (err as Error).message.slice(0, 200)
      return { status: ShardResponse.Status.NOT_FOUND, data: new Uint8Array(), message }
    }
    const bits = new Uint8Array(Math.ceil(shards.length / 8))
    for (const [i, bytes] of shards.entries()) {
      if (await this.store.has(CID.decode(bytes))) bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7))
    }
    // a peer asks about the manifest it is fetching, and several peers ask at once
    this.haves.delete(key)
    this.haves.set(key, { at: Date.now(), bits })
    if (this.haves.size > HAVE_CACHE_ENTRIES) this.haves.delete(this.haves.keys().next().value as string)
    return { status: ShardResponse.Status.OK, data: new Uint8Array(), message: '', have: bits }
  }

  /** FORBIDDEN for a non-member of our private session, BUSY over the request rate; else undefined. */
  private async refuse (peer: string): Promise<Reply | undefined> {
    if (this.access != null && !(await this.access(peer))) {
      this.stats.forbidden++
      return { status: ShardResponse.Status.FORBIDDEN, data: new Uint8Array(), message: 'not a member of this private session' }
    }
    if (!this.limiter.take(peer)) {
      this.stats.busy++
      return { status: ShardResponse.Status.BUSY, data: new Uint8Array(), message: 'rate limit exceeded' }
    }
    return undefined
  }

  private async answer (peer: string, cid: CID): Promise<Reply> {
    const refused = await this.refuse(peer)
    if (refused != null) return refused
    try {
      // one read: with HAVE, fetchers ask only for what we hold, so misses are rare
      const data = await this.store.get(cid)
      return { status: ShardResponse.Status.OK, data: data as Uint8Array<ArrayBuffer>, message: '' }
    } catch (err) {
      if (err instanceof ShardNotFoundError) {
        this.stats.notFound++
        return { status: ShardResponse.Status.NOT_FOUND, data: new Uint8Array(), message: '' }
      }
      this.log('store error for %s: %s', cid, (err as Error).message)
      return { status: ShardResponse.Status.ERROR, data: new Uint8Array(), message: 'store error' }
    }
  }
}

/** The shard-exchange service factory, for `createLibp2p({ services: { shards: shardExchange({ store }) } })`. */
export function shardExchange (init: ShardExchangeInit): (components: ShardExchangeComponents) => ShardExchange {
  return (components) => new DefaultShardExchange(components, init)
}
