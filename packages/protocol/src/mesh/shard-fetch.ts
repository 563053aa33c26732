import type { PeerId, Stream, Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { ShardRequest, ShardResponse, encodeShardRequest, decodeShardResponse, MAX_SIZES } from '../wire/index.js'
import { InvalidShardError, verifyShard } from '../content/index.js'
import type { ShardStore } from '../content/index.js'
import { FetchFailedError } from './errors.js'
import { framed } from './framing.js'
import type { Framed } from './framing.js'
import type { ProviderStats } from './provider-stats.js'
import { deadline, sleep } from './deadline.js'

/** Progress of one fetch, reported after every verified shard. */
export interface FetchProgress {
  shardsDone: number
  shardsTotal: number
  bytes: number
  /** Providers currently in use. */
  providers: number
}

/** How one fetch reaches the network; supplied by the service. */
export interface FetchEnvironment {
  store: ShardStore
  stats: ProviderStats
  log: Logger
  openStream(peer: PeerId, signal: AbortSignal): Promise<Stream>
  /** Provider discovery for one block; yields peers as they are found. */
  findProviders(cid: CID, signal: AbortSignal): AsyncIterable<PeerId>
  /** Called after each verified block is stored (the service announces it). */
  stored(cid: CID): void
  self: PeerId
  /** Tell `listener` of each peer whose last connection closed; returns how to stop telling. */
  onPeerGone?(listener: (peer: PeerId) => void): () => void
}

/** Options of one fetch. */
export interface FetchOptions {
  /** Peers believed to hold the blocks (e.g. the head's author); tried before the DHT answers. */
  providers?: PeerId[]
  signal?: AbortSignal
  onProgress?(progress: FetchProgress): void
  /** @default 10000 */
  requestTimeout?: number
  /** @default 4 */
  perProviderConcurrency?: number
  /** @default 16 */
  maxProviders?: number
  /** Give up when no progress was made for this long. @default 60000 */
  stallTimeout?: number
  /**
   * Announce each fetched block in the DHT, so later fetchers find this peer. A model's
   * manifest is announced as soon as it is stored and its shards once the fetch ends (peers
   * fetching it meanwhile find us through the manifest and ask what we hold). @default true
   */
  announce?: boolean
}

/**
 * The manifest the wanted blocks belong to, in its order: providers are asked which of its
 * shards they hold (HAVE) every second, so the fetch learns at once which peer already has
 * what, instead of asking blindly and collecting NOT_FOUNDs.
 */
export interface ManifestRef {
  cid: CID
  shards: CID[]
}

/** Outcome of a fetch: which peers served how much. */
export interface FetchResult {
  shards: number
  bytes: number
  servedBy: Record<string, number>
  droppedProviders: string[]
  retries: number
}

interface Provider {
  peer: PeerId
  key: string
  slots: Array<Framed | undefined>
  slotBusy: boolean[]
  busy: number
  /** blocks this provider is being asked for now */
  serving: Set<string>
  consecutiveFailures: number
  dropped: boolean
  /**
   * Benched, not banned: a provider whose requests failed or timed out (a busy peer on a
   * loaded machine looks the same as a dead one) may serve again after `reviveAt`; one that
   * disconnected or served bad bytes may not.
   */
  revivable: boolean
  reviveAt: number
  revivals: number
  /** no new request before this time: it answered BUSY */
  quietUntil: number
  /** block key → time it answered NOT_FOUND */
  missing: Map<string, number>
  /**
   * The manifest's shards it held at its latest HAVE answer; undefined while the first
   * question is out (it gets no request before the answer) or when it cannot answer one.
   */
  have?: Set<string>
  asking: boolean
  /** the stream HAVE questions go over, apart from the block requests queued at its uplink */
  control?: Framed
}

const NOT_FOUND_RETRY_MS = 1500
/** A provider that answered BUSY gets no new request for this long. */
const BUSY_PAUSE_MS = 500
const DISCOVERY_CONCURRENCY = 6
/** Peers that fetch the same model become providers as they go: look again this often... */
const REDISCOVER_MS = 1000
/** ...for this many pending blocks, so the lookups stay cheap however large the model. */
const REDISCOVER_SAMPLE = 8
/** Requests queued at a provider are commitments made on stale knowledge: keep each provider's queue about this short. */
const TARGET_QUEUE_MS = 1000
/** With HAVE answers, sample the DHT this rarely unless no provider holds anything we lack. */
const REDISCOVER_WITH_HAVE_MS = 5000
/** Ask each provider which shards it holds this often. */
const HAVE_POLL_MS = 1000

/**
 * Fetch a set of blocks from many providers at once. Pieces go rarest-first to the provider
 * expected to deliver soonest; each provider has a bounded number of requests in flight;
 * timeouts and failures re-queue the block; a provider that serves bytes that fail their
 * hash is dropped at once; when only in-flight blocks remain, idle providers duplicate the
 * oldest request (endgame), so one slow peer cannot hold up the end.
 */
export async function fetchBlocks (env: FetchEnvironment, cids: CID[], options: FetchOptions = {}, manifest?: ManifestRef): Promise<FetchResult> {
  const run = new BlockFetch(env, cids, options, manifest)
  return run.run()
}

class BlockFetch {
  private readonly env: FetchEnvironment
  private readonly options: Required<Omit<FetchOptions, 'providers' | 'signal' | 'onProgress' | 'announce'>>
  private readonly onProgress?: (p: FetchProgress) => void
  private readonly all = new Map<string, CID>()
  private readonly pending = new Map<string, CID>()
  private readonly inFlight = new Map<string, { since: number, copies: number }>()
  private readonly known = new Map<string, Set<string>>()
  private readonly providers = new Map<string, Provider>()
  /** a random tie-break per block, so peers fetching one model start on different blocks */
  private readonly order = new Map<string, number>()
  private readonly controller = new AbortController()
  private readonly result: FetchResult = { shards: 0, bytes: 0, servedBy: {}, droppedProviders: [], retries: 0 }
  private readonly total: number
  private lastProgress = Date.now()
  private wake?: () => void
  private discovering = 0
  private lastDiscovery = 0
  /** providers dropped so far, and how many had been when the newest finished lookup began */
  private drops = 0
  private lookedUpAfter = -1
  /** detaches this fetch from the caller's signal, which may outlive it by far */
  private readonly detach: () => void = () => {}
  private readonly manifest?: ManifestRef
  /** past the check for blocks already held: providers are asked what they have from here on */
  private running = false
  /** the providers the latest schedule() ranked high enough to use */
  private ranked = new Set<string>()

  constructor (env: FetchEnvironment, cids: CID[], options: FetchOptions, manifest?: ManifestRef) {
    this.env = env
    this.manifest = manifest
    this.options = {
      requestTimeout: options.requestTimeout ?? 10_000,
      perProviderConcurrency: options.perProviderConcurrency ?? 4,
      maxProviders: options.maxProviders ?? 16,
      stallTimeout: options.stallTimeout ?? 60_000
    }
    this.onProgress = options.onProgress
    for (const cid of cids) {
      this.all.set(cid.toString(), cid)
      this.pending.set(cid.toString(), cid)
      this.order.set(cid.toString(), Math.random())
    }
    this.total = this.pending.size
    for (const p of options.providers ?? []) this.addProvider(p)
    const outer = options.signal
    if (outer != null) {
      const onAbort = (): void => { this.controller.abort(outer.reason) }
      if (outer.aborted) onAbort()
      else outer.addEventListener('abort', onAbort, { once: true })
      this.detach = () => { outer.removeEventListener('abort', onAbort) }
    }
  }

  async run (): Promise<FetchResult> {
    let unsubscribe: (() => void) | undefined
    try {
      // blocks already held need no fetching
      for (const [key, cid] of [...this.pending]) {
        if (await this.env.store.has(cid)) this.pending.delete(key)
      }
      if (this.pending.size === 0) return this.result
      // a provider that has gone cannot answer: stop waiting on it at once
      unsubscribe = this.env.onPeerGone?.(peer => {
        const p = this.providers.get(peer.toString())
        if (p != null) this.drop(p, 'disconnected')
      })
      this.running = true
      if (this.manifest != null) for (const p of this.providers.values()) void this.pollHave(p, this.manifest)
      // a fetch that names its providers (a head's author) asks them first and walks the DHT
      // only when they cannot serve or now and then: every walk costs each peer it passes a
      // stream and a peer-store write lock, and with 30 agents those queued up until heap
      // per agent doubled in 150 s
      if (this.providers.size === 0) void this.discover()
      else this.lastDiscovery = Date.now()
      while (this.pending.size > 0 || this.inFlight.size > 0) {
        const signal = this.controller.signal
        if (signal.aborted) throw new FetchFailedError('fetch aborted', { cause: signal.reason })
        if (this.pending.size === 0 && this.inFlight.size === 0) break
        this.revive()
        this.schedule()
        if (Date.now() - this.lastProgress > this.options.stallTimeout) {
          throw new FetchFailedError(`no progress for ${this.options.stallTimeout} ms: ${this.pending.size + this.inFlight.size} of ${this.total} blocks missing, ${this.liveProviders().length} live providers, ${this.inFlight.size} blocks in flight, ${this.discovering} provider lookups running`)
        }
        const idle = this.inFlight.size === 0 && this.liveProviders().length === 0
        // every provider we had is gone and a lookup since found no other: waiting cannot help
        if (idle && this.discovering === 0 && this.providers.size > 0 && this.lookedUpAfter === this.drops && !this.anyRevivable()) {
          throw new FetchFailedError(`no provider left: ${this.providers.size} dropped (${this.result.droppedProviders.join(', ')}) and the DHT names no other; ${this.pending.size} of ${this.total} blocks missing`)
        }
        // rediscover when nobody can serve what is left; otherwise sample a few pending
        // blocks now and then to find the peers that fetched them since (rarely when the
        // providers' HAVE answers already say who holds what)
        if (this.discovering === 0) {
          const since = Date.now() - this.lastDiscovery
          // a lookup that fails at once (no DHT peers) must not spin this loop without a pause
          if (idle && since >= 250) void this.discover()
          else if (this.pending.size > 0 && since > REDISCOVER_MS && this.manifest == null) void this.discover(this.sample(REDISCOVER_SAMPLE))
          // with a manifest, one lookup of it finds every peer that holds or fetches the model
          else if (this.pending.size > 0 && this.manifest != null && (since > REDISCOVER_WITH_HAVE_MS || (since > REDISCOVER_MS && this.starved()))) void this.discover([this.manifest.cid, ...this.sample(2)])
        }
        await new Promise<void>(resolve => {
          const t = setTimeout(resolve, 250)
          this.wake = () => { clearTimeout(t); resolve() }
        })
      }
      return this.result
    } finally {
      unsubscribe?.()
      this.detach()
      this.controller.abort()
      for (const p of this.providers.values()) this.closeProvider(p)
    }
  }

  /** Nothing in flight and no live provider said it holds a pending block. */
  private starved (): boolean {
    if (this.inFlight.size > 0) return false
    for (const p of this.providers.values()) {
      if (p.dropped) continue
      if (p.have == null) return false
      for (const key of p.have) if (this.pending.has(key)) return false
    }
    return true
  }

  private liveProviders (): Provider[] {
    return [...this.providers.values()].filter(p => !p.dropped)
  }

  private addProvider (peer: PeerId): Provider | undefined {
    const key = peer.toString()
    if (peer.equals(this.env.self)) return undefined
    let p = this.providers.get(key)
    if (p == null) {
      p = { peer, key, slots: [], slotBusy: [], busy: 0, serving: new Set(), consecutiveFailures: 0, dropped: false, revivable: false, reviveAt: 0, revivals: 0, quietUntil: 0, missing: new Map(), asking: this.manifest != null }
      this.providers.set(key, p)
      if (this.manifest != null && this.running) void this.pollHave(p, this.manifest)
      this.wake?.()
    }
    return p
  }

  /** `n` pending blocks, rarest known first, random among equals. */
  private sample (n: number): CID[] {
    return [...this.pending.entries()]
      .map(([key, cid]) => ({ cid, score: (this.known.get(key)?.size ?? 0) + (this.order.get(key) ?? 0) }))
      .sort((a, b) => a.score - b.score)
      .slice(0, n)
      .map(e => e.cid)
  }

  /** Look up providers of the wanted blocks (all pending ones by default), a few lookups at a time. */
  private async discover (cids?: CID[]): Promise<void> {
    this.lastDiscovery = Date.now()
    const drops = this.drops
    const queue = cids ?? [...this.pending.values()]
    const signal = this.controller.signal
    const worker = async (): Promise<void> => {
      for (let cid = queue.shift(); cid != null && !signal.aborted; cid = queue.shift()) {
        const key = cid.toString()
        if (!this.pending.has(key) && !cid.equals(this.manifest?.cid)) continue
        try {
          for await (const peer of this.env.findProviders(cid, signal)) {
            if (this.addProvider(peer) == null) continue
            let set = this.known.get(key)
            if (set == null) { set = new Set(); this.known.set(key, set) }
            set.add(peer.toString())
          }
        } catch (err) {
          if (!signal.aborted) this.env.log('provider lookup for %s failed: %s', key, (err as Error).message)
        }
      }
    }
    this.discovering++
    try {
      await Promise.all(Array.from({ length: DISCOVERY_CONCURRENCY }, worker))
    } finally {
      this.discovering--
      this.lookedUpAfter = Math.max(this.lookedUpAfter, drops)
      this.lastDiscovery = Date.now()
      this.wake?.()
    }
  }

  /** Hand out work to every provider with a free slot, best providers first. */
  private schedule (): void {
    const shardBytes = MAX_SIZES.shardResponse
    const ranked = this.liveProviders()
      .sort((a, b) => this.env.stats.expectedMs(a.key, shardBytes) - this.env.stats.expectedMs(b.key, shardBytes))
      .slice(0, this.options.maxProviders)
    this.ranked = new Set(ranked.map(p => p.key))
    const now = Date.now()
    for (const p of ranked) {
      if (p.quietUntil > now || p.asking) continue
      const limit = this.concurrency(p, shardBytes)
      while (p.busy < limit) {
        const key = this.pick(p)
        if (key == null) break
        const cid = this.all.get(key)
        if (cid == null) break
        this.pending.delete(key)
        const f = this.inFlight.get(key)
        if (f == null) this.inFlight.set(key, { since: Date.now(), copies: 1 })
        else f.copies++
        p.busy++
        void this.request(p, cid).finally(() => { p.busy--; this.wake?.() })
      }
    }
  }

  /**
   * Requests to keep in flight at `p`: enough to cover its round trip, few enough that a
   * provider everyone queues at (the first seeder, a shaped uplink) is not handed blocks
   * that other peers will hold by the time it gets to them.
   */
  private concurrency (p: Provider, shardBytes: number): number {
    const expected = this.env.stats.expectedMs(p.key, shardBytes)
    return Math.max(1, Math.min(this.options.perProviderConcurrency, Math.round(TARGET_QUEUE_MS / expected)))
  }

  /** Rarest pending block this provider may have, random among equals; in the endgame, the oldest in-flight one. */
  private pick (p: Provider): string | undefined {
    const now = Date.now()
    let best: string | undefined
    let bestScore = Infinity
    for (const key of this.pending.keys()) {
      if (p.have != null && !p.have.has(key)) continue
      const missingSince = p.missing.get(key)
      if (missingSince != null && now - missingSince < NOT_FOUND_RETRY_MS) continue
      const holders = this.known.get(key)
      // blocks this peer is known to hold come first, then rarest first
      const score = (holders?.has(p.key) === true ? 0 : 1_000_000) + (holders?.size ?? 0) + (this.order.get(key) ?? 0)
      if (score < bestScore) { bestScore = score; best = key }
    }
    // endgame, once every missing block is in flight: duplicate the oldest request that this
    // provider is not already serving. Earlier, a provider with nothing we need stays idle:
    // a duplicate would spend its uplink (shared with every peer it serves) on a block that
    // is already on its way.
    if (best != null || this.pending.size > 0) return best
    let oldest: string | undefined
    let since = Infinity
    for (const [key, f] of this.inFlight) {
      if (f.copies >= 2 || p.serving.has(key) || (p.have != null && !p.have.has(key))) continue
      const missingSince = p.missing.get(key)
      if (missingSince != null && now - missingSince < NOT_FOUND_RETRY_MS) continue
      if (f.since < since && now - f.since > 200) { since = f.since; oldest = key }
    }
    return oldest
  }

  /** Ask `p` which of the manifest's shards it holds, every `HAVE_POLL_MS`, for as long as the fetch runs and `p` may serve. */
  private async pollHave (p: Provider, manifest: ManifestRef): Promise<void> {
    const signal = this.controller.signal
    while (!signal.aborted && (!p.dropped || p.revivable)) {
      // a popular model has more holders than a fetch uses: ask only those it may ask for blocks
      if (!p.dropped && (this.providers.size <= this.options.maxProviders || this.ranked.has(p.key))) {
        const answer = await this.askHave(p, manifest)
        p.asking = false
        if (answer === 'unsupported') { p.have = undefined; this.wake?.(); return }
        if (answer != null) this.learnHave(p, answer, manifest)
        else this.wake?.()
      }
      await sleep(HAVE_POLL_MS, signal)
    }
  }

  /** One HAVE question: the bitfield, undefined when there is none yet, 'unsupported' when `p` will never answer one. */
  private async askHave (p: Provider, manifest: ManifestRef): Promise<Uint8Array | 'unsupported' | undefined> {
    const { signal, clear } = deadline(this.controller.signal, this.options.requestTimeout)
    try {
      if (p.control == null || p.control.stream.status !== 'open' || p.control.stream.writeStatus !== 'writable') {
        p.control = framed(await this.env.openStream(p.peer, signal), MAX_SIZES.shardResponse)
      }
      await p.control.write(encodeShardRequest({ cid: manifest.cid.bytes, kind: ShardRequest.Kind.HAVE }), { signal })
      const res = decodeShardResponse(await p.control.read({ signal }))
      if (res.status === ShardResponse.Status.OK) {
        // a peer that predates HAVE answers with the manifest block itself
        if (res.have.byteLength !== Math.ceil(manifest.shards.length / 8)) return 'unsupported'
        return res.have
      }
      if (res.status === ShardResponse.Status.FORBIDDEN) return 'unsupported'
      // without the manifest it is not fetching this model (yet): nothing to ask it for
      if (res.status === ShardResponse.Status.NOT_FOUND) return new Uint8Array()
      return undefined // BUSY: ask later, and meanwhile ask it blindly
    } catch (err) {
      p.control?.stream.abort(err as Error)
      p.control = undefined
      if (!this.controller.signal.aborted) this.env.log('HAVE question to %s failed: %s', p.key, (err as Error).message)
      return undefined
    } finally {
      clear()
    }
  }

  /** Record what `p` holds: it is asked only for those blocks, and rarity counts it. */
  private learnHave (p: Provider, bits: Uint8Array, manifest: ManifestRef): void {
    const have = new Set<string>()
    for (const [i, cid] of manifest.shards.entries()) {
      if (((bits[i >> 3] ?? 0) & (1 << (i & 7))) === 0) continue
      const key = cid.toString()
      have.add(key)
      let holders = this.known.get(key)
      if (holders == null) { holders = new Set(); this.known.set(key, holders) }
      holders.add(p.key)
    }
    const grew = have.size > (p.have?.size ?? -1)
    p.have = have
    if (grew) this.wake?.()
  }

  /** A stream slot of `p`: reused across requests so a fetch opens few streams. */
  private async slot (p: Provider, signal: AbortSignal): Promise<{ index: number, io: Framed }> {
    let index = p.slotBusy.findIndex(b => !b)
    if (index === -1) index = p.slotBusy.length
    p.slotBusy[index] = true
    const current = p.slots[index]
    if (current != null && current.stream.status === 'open' && current.stream.writeStatus === 'writable') return { index, io: current }
    try {
      const io = framed(await this.env.openStream(p.peer, signal), MAX_SIZES.shardResponse)
      p.slots[index] = io
      return { index, io }
    } catch (err) {
      p.slotBusy[index] = false
      throw err
    }
  }

  private async request (p: Provider, cid: CID): Promise<void> {
    const key = cid.toString()
    p.serving.add(key)
    const { signal, clear } = deadline(this.controller.signal, this.options.requestTimeout)
    const started = Date.now()
    let held: { index: number, io: Framed } | undefined
    try {
      held = await this.slot(p, signal)
      const { io } = held
      await io.write(encodeShardRequest({ cid: cid.bytes }), { signal })
      const res = decodeShardResponse(await io.read({ signal }))
      // NOT_FOUND: it lacks this block (yet); ask it for others
      if (res.status === ShardResponse.Status.NOT_FOUND) {
        p.missing.set(key, Date.now())
        this.requeue(key, cid)
        return
      }
      // BUSY means "your turn is taken, ask me less often", not "I am broken": give the
      // block to another provider and ask this one again only after a pause
      if (res.status === ShardResponse.Status.BUSY) {
        p.quietUntil = Date.now() + BUSY_PAUSE_MS
        this.requeue(key, cid)
        return
      }
      if (res.status !== ShardResponse.Status.OK) throw new Error(`provider answered ${res.status}: ${res.message}`)
      try {
        await verifyShard(cid, res.data)
      } catch (err) {
        if (err instanceof InvalidShardError) {
          this.env.stats.recordBad(p.key)
          this.drop(p, `served bytes that fail the hash of ${key}`)
          this.requeue(key, cid)
          return
        }
        throw err
      }
      this.env.stats.recordTransfer(p.key, res.data.length, Date.now() - started)
      if (!this.inFlight.has(key) && !this.pending.has(key)) return // another copy won the race
      await this.env.store.put(cid, res.data)
      this.inFlight.delete(key)
      this.pending.delete(key)
      p.consecutiveFailures = 0
      this.result.shards++
      this.result.bytes += res.data.length
      this.result.servedBy[p.key] = (this.result.servedBy[p.key] ?? 0) + 1
      this.lastProgress = Date.now()
      this.env.stored(cid)
      this.onProgress?.({ shardsDone: this.result.shards, shardsTotal: this.total, bytes: this.result.bytes, providers: this.liveProviders().length })
    } catch (err) {
      // a stream in an unknown state cannot carry the next request
      if (held != null) {
        held.io.stream.abort(err as Error)
        p.slots[held.index] = undefined
      }
      if (this.controller.signal.aborted) return
      this.env.stats.recordFailure(p.key)
      p.consecutiveFailures++
      this.env.log('request %s from %s failed: %s', key, p.key, (err as Error).message)
      if (p.consecutiveFailures >= 3) this.bench(p, `${p.consecutiveFailures} failures in a row`)
      this.requeue(key, cid)
    } finally {
      clear()
      if (held != null) p.slotBusy[held.index] = false
      p.serving.delete(key)
    }
  }

  private requeue (key: string, cid: CID): void {
    const f = this.inFlight.get(key)
    if (f == null) return
    f.copies--
    if (f.copies <= 0) {
      this.inFlight.delete(key)
      this.pending.set(key, cid)
      this.result.retries++
    }
  }

  private drop (p: Provider, why: string): void {
    const benched = p.dropped && p.revivable
    p.revivable = false
    if (p.dropped && !benched) return
    if (!p.dropped) {
      p.dropped = true
      this.drops++
      this.closeProvider(p)
    }
    this.result.droppedProviders.push(p.key)
    this.env.log('dropping provider %s: %s', p.key, why)
  }

  /** Stop asking a failing provider for a while (1 s, 2 s, 4 s … up to 8 s), then try it again. */
  private bench (p: Provider, why: string): void {
    if (p.dropped) return
    p.dropped = true
    p.revivable = true
    p.reviveAt = Date.now() + Math.min(8000, 1000 * 2 ** p.revivals)
    p.revivals++
    this.drops++
    this.env.log('benching provider %s: %s', p.key, why)
    this.closeProvider(p)
  }

  private anyRevivable (): boolean {
    for (const p of this.providers.values()) if (p.dropped && p.revivable) return true
    return false
  }

  private revive (): void {
    const now = Date.now()
    for (const p of this.providers.values()) {
      if (!p.dropped || !p.revivable || p.reviveAt > now) continue
      p.dropped = false
      p.revivable = false
      p.consecutiveFailures = 0
      this.env.log('trying provider %s again', p.key)
    }
  }

  /** Close a provider's streams: gracefully when idle, so its serving loop ends at once. */
  private closeProvider (p: Provider): void {
    const control = p.control
    control?.stream.close().catch(() => { control.stream.abort(new Error('fetch finished')) })
    p.control = undefined
    p.slots.forEach((s, i) => {
      if (s == null) return
      if (p.slotBusy[i] === true) s.stream.abort(new Error('fetch finished'))
      else s.stream.close().catch(() => { s.stream.abort(new Error('fetch finished')) })
    })
    p.slots = []
  }
}
