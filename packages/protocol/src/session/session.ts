import { TypedEventEmitter } from 'main-event'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type * as Y from 'yjs'
import { companionContent, createSessionContent, headEncoding, topKWireFor } from './delta.js'
import { FetchedBlocks } from './fetched-blocks.js'
import type { TopKWire } from './delta.js'
import { DEFAULT_TRIM, mergeModels, validateModel } from '../learn/index.js'
import { MurmurError } from '../errors.js'
import type { ModelSnapshot } from '../learn/index.js'
import { assertKnownRule } from '../learn/index.js'
import { isInMemory } from '../train/index.js'
import type { ModelConfig, TrainingData } from '../train/index.js'
import {
  createSessionDoc, getConfig, listMembers, upsertMember, markMemberLeft, recordRound, roundLogs, trimRounds, getHead, listHeads
} from '../state/index.js'
import type { AveragingRule, SessionConfig, SessionPace, ModelHead } from '../state/index.js'
import { sleep } from '../mesh/deadline.js'
import type { VerifiedHead } from '../mesh/index.js'
import { mulberry32 } from '../train/random.js'
import type { MurmurNode, SessionTrainer, SessionEvents, RoundMetrics } from './types.js'
import { SessionAccess } from './access.js'
import { SessionConfigConflictError, canonicalJson, describeModelDifference, settleConfig } from './join-config.js'
import { freshEnough, presentPeers, resolvePace, waitUntil } from './pace.js'
import type { SessionAccessInit, NonMemberStats } from './access.js'
import { enforceBans } from './scoring.js'
import type { PeerScores } from './scoring.js'

/** Builds this peer's trainer for the session's model (parsed and checked already). */
export type TrainerFactory = (model: ModelConfig, config: SessionConfig) => Promise<SessionTrainer>

/** Options of a `Session`. */
export interface SessionInit {
  node: MurmurNode
  /** Session id: 1–64 characters of `[A-Za-z0-9._-]`. */
  session: string
  /** Builds this peer's trainer once the session's config is known. */
  trainer: TrainerFactory
  /** Local training data; never leaves this peer. Omit for a peer that only merges and forwards. */
  train?: TrainingData
  /** Local held-out data for the metrics this peer reports. */
  test?: TrainingData
  /**
   * Training samples this peer holds (its weight in others' merges and what it reports).
   * @default the in-memory data set's count; for a stream of batches, the samples trained so far
   */
  samples?: number
  /**
   * The config to create the session with when it has none. The document is first given
   * `createAfter` ms to arrive from the members, so a joiner never writes its own config
   * into someone else's session; a session that has a different model already is refused
   * with `SessionConfigConflictError`.
   */
  config?: SessionConfig
  /**
   * Write `config` when none arrives (`false`: only check the session's model against
   * `config.model` and refuse a different one). @default true
   */
  create?: boolean
  /**
   * How long a peer with `config` waits for an existing config before it creates the
   * session (ms). @default 2000
   */
  createAfter?: number
  /** Override the document's averaging rule for this peer (comparisons, robust peers). */
  rule?: AveragingRule
  /** tfjs backend in use, reported to the session. @default 'unknown' */
  backend?: string
  /** The session document; a fresh one by default. */
  doc?: Y.Doc
  /** Heads older than this are not merged (ms). @default 120000 */
  staleAfter?: number
  /** Per-round limit for fetching neighbours' models (ms). @default 30000 */
  fetchTimeout?: number
  /**
   * Rounds of this peer's history (head and metrics) kept in the shared document, which
   * every replica holds and every joining peer downloads. @default ROUNDS_KEPT (200)
   */
  roundsKept?: number
  /**
   * Trim another member's rounds in the document to its newest once no new round of it has
   * arrived for this long (ms, by this peer's clock): it left or vanished. @default 600000
   */
  pruneDepartedAfter?: number
  /** Seed of this peer's neighbour choices. @default random */
  seed?: number
  /** Keep the blocks of this many of our own past versions (older ones are deleted). @default 2 */
  keepVersions?: number
  /**
   * Announce provider records in the DHT for the versions this peer publishes and the
   * blocks it fetches. Off by default: a version is fetched from its author, whom its head
   * names, and is superseded a round later, so the records would only pile up in every DHT
   * server. @default false
   */
  announce?: boolean
  /** Only merge with peers we hold a direct connection to (the topology). @default true */
  connectedOnly?: boolean
  /**
   * Where this peer resumes: rounds completed before a restart and the model it had then.
   * The count, `maxRounds` and metrics go on from there. A model that no longer fits the
   * session's is dropped with a `resume-failed` event.
   */
  resume?: { round: number, snapshot?: ModelSnapshot, /** the metrics saved with it */ metrics?: Record<string, number> }
  /** Pacing of this peer, over the session's (`SessionConfig.pace`). */
  pace?: SessionPace
  /**
   * Make the session private: only the owner and holders of its grants are members; heads,
   * shards and state updates from anyone else are ignored and counted (`nonMembers`).
   */
  access?: SessionAccessInit
  /**
   * Murmur's score of each peer. Peers whose models fail validation, whose content fails its
   * hash, or whose state updates are refused are scored down; at the threshold they are no
   * longer merged from and are disconnected for the ban's length.
   */
  scores?: PeerScores
}

/**
 * One peer's part in gossip learning: train E local steps, publish the new head, pull the
 * newest heads of k live neighbours, validate, merge, repeat, with no global barrier. A peer
 * that vanishes is simply not picked again.
 */
export class Session extends TypedEventEmitter<SessionEvents> {
  readonly doc: Y.Doc
  readonly id: string
  private readonly init: SessionInit
  private readonly node: MurmurNode
  private trainer?: SessionTrainer
  private config?: SessionConfig
  private running = false
  private loop?: Promise<void>
  private round = 0
  private version = 0
  private parent?: CID
  private readonly rng: () => number
  private readonly mergedVersion = new Map<string, number>()
  private readonly ownVersions: Array<{ manifest: CID, blocks: CID[] }> = []
  private readonly known = new Set<string>()
  private bytesSent = 0
  private bytesReceived = 0
  private model?: ModelConfig
  /** The joined model config as canonical JSON: a different one in the document is a conflict. */
  private modelKey = ''
  private resumeTried = false
  /** When each peer's newest signed head reached us (our clock). */
  private readonly heardAt = new Map<string, number>()
  private trainedSamples = 0
  /** Each other member's newest round version in the document, and when we saw it change. */
  private readonly logsSeen = new Map<string, { newest?: number, at: number }>()
  private readonly access?: SessionAccess
  private stopEnforcing?: () => void
  private topk?: TopKWire
  /** In-flight fetches of this round, by neighbour. */
  private readonly fetching = new Map<string, AbortController & { version?: number }>()
  /** What this round's fetches stored: deleted once merged, so the store holds our own versions only. */
  private readonly fetched: FetchedBlocks
  /** The model at `stop()`, whose trainer is then disposed: `snapshot()` and a later `run()` go on from it. */
  private stoppedAt?: ModelSnapshot

  constructor (init: SessionInit) {
    super()
    this.init = init
    this.node = init.node
    this.id = init.session
    this.doc = init.doc ?? createSessionDoc()
    this.rng = mulberry32(init.seed ?? Math.floor(Math.random() * 2 ** 31))
    this.fetched = new FetchedBlocks(init.node.services.shards)
    this.round = init.resume?.round ?? 0
    this.onHead = this.onHead.bind(this)
    this.onGone = this.onGone.bind(this)
    this.onRefused = this.onRefused.bind(this)
    if (init.access != null) this.access = new SessionAccess({ ...init.access, node: init.node, session: init.session, doc: this.doc })
  }

  /** What non-members tried (private sessions only). */
  get nonMembers (): NonMemberStats | undefined {
    return this.access?.stats
  }

  /** This peer's id. */
  get peerId (): string {
    return this.node.peerId.toString()
  }

  /** The session's model config, once joined. */
  get modelConfig (): ModelConfig | undefined {
    return this.model
  }

  /** Rounds completed so far. */
  get rounds (): number {
    return this.round
  }

  /** Join the session: replicate its document, wait for its config (or create it), build the trainer. */
  async join (options: { signal?: AbortSignal } = {}): Promise<void> {
    const membership = this.access?.membership
    this.access?.attach()
    if (this.init.scores != null) this.stopEnforcing ??= enforceBans(this.node, this.init.scores)
    this.node.services.state.join(this.id, this.doc, { membership })
    this.node.services.heads.join(this.id, { membership })
    this.node.services.heads.addEventListener('head', this.onHead)
    this.node.services.state.addEventListener('presence:gone', this.onGone)
    this.node.services.state.addEventListener('refused', this.onRefused)
    this.node.services.heads.addEventListener('refused', this.onRefused)
    const { config, model } = await settleConfig(this.doc, {
      session: this.id,
      mine: this.init.config != null && this.access != null ? { ...this.init.config, owner: this.access.owner } : this.init.config,
      create: this.init.create !== false,
      createAfter: this.init.createAfter,
      signal: options.signal
    })
    this.config = config
    this.model = model
    this.modelKey = canonicalJson(config.model)
    assertKnownRule(this.init.rule ?? config.averaging)
    this.topk ??= topKWireFor(this.config.encoding, { shards: this.fetched, onBytes: n => { this.bytesReceived += n } })
    // heads only move forward: a restarted peer continues after the version it last recorded,
    // skipping one, which it may have announced and crashed before recording
    const recorded = getHead(this.doc, this.peerId)?.version
    if (recorded != null) this.version = Math.max(this.version, recorded + 1)
    this.trainer = await this.init.trainer(model, config)
    if (this.stoppedAt != null) {
      this.trainer.setSnapshot(this.stoppedAt)
    } else if (this.init.resume?.snapshot != null && !this.resumeTried) {
      this.resumeTried = true
      try {
        this.trainer.setSnapshot(this.init.resume.snapshot)
        // one pass over the held-out data tells the user (and tests) the model really came back
        const evaluation = this.init.test != null ? await this.trainer.evaluate(this.init.test) : undefined
        this.safeDispatchEvent('resume', { detail: { round: this.round, metrics: evaluation?.metrics ?? {}, saved: this.init.resume.metrics ?? {} } })
      } catch (err) {
        // the session's model changed since the checkpoint: start from the trainer's own weights
        this.safeDispatchEvent('resume-failed', { detail: { reason: `the checkpoint does not fit the session's model: ${(err as Error).message}` } })
      }
    }
    const now = Date.now()
    upsertMember(this.doc, { peerId: this.peerId, role: 'trainer', backend: this.init.backend ?? 'unknown', samples: this.samples(), joinedAt: now, lastSeen: now })
  }

  /** Run rounds until `stop()` (or `maxRounds`); resolves when the loop ends. */
  async run (options: { maxRounds?: number, signal?: AbortSignal } = {}): Promise<void> {
    if (this.trainer == null) await this.join(options)
    this.running = true
    const signal = options.signal
    const stopped = (): boolean => !this.running || (signal?.aborted ?? false)
    this.loop = (async () => {
      const pace = this.paceOf()
      if (pace.minPeers > 0 && (options.maxRounds == null || this.round < options.maxRounds)) {
        const peers = await this.waitFor(() => this.presentPeers().length >= pace.minPeers || stopped(), pace.startTimeout)
        this.safeDispatchEvent('ready', { detail: { ready: this.presentPeers().length, wanted: pace.minPeers, waited: !peers } })
      }
      let failures = 0
      while (!stopped() && (options.maxRounds == null || this.round < options.maxRounds)) {
        const started = Date.now()
        try {
          await this.step()
          failures = 0
        } catch (err) {
          this.safeDispatchEvent('error', { detail: err as Error })
          if (err instanceof SessionConfigConflictError) { this.running = false; break }
          // a round that fails again and again (a kernel the backend lacks, a model that
          // cannot train here) would otherwise retry for ever with `done` never resolving
          if (++failures >= MAX_FAILED_ROUNDS) {
            this.running = false
            this.safeDispatchEvent('error', { detail: new RoundsFailingError(`${failures} rounds in a row failed; the last: ${(err as Error).message}. Stopped training (the peer stays in the session until leave()).`, { cause: err }) })
            break
          }
          await sleep(500, signal).catch(() => {})
        }
        const rest = this.paceOf().roundPeriod - (Date.now() - started)
        if (rest > 0 && !stopped()) await sleep(rest, signal).catch(() => {})
      }
    })()
    await this.loop
  }

  /** Stop after the current round and leave the session. */
  async stop (): Promise<void> {
    this.running = false
    await this.loop?.catch(() => {})
    markMemberLeft(this.doc, this.peerId, Date.now())
    // let the departure reach the others before unsubscribing
    await sleep(50)
    this.node.services.heads.removeEventListener('head', this.onHead)
    this.node.services.state.removeEventListener('presence:gone', this.onGone)
    this.node.services.state.removeEventListener('refused', this.onRefused)
    this.node.services.heads.removeEventListener('refused', this.onRefused)
    this.node.services.heads.leave(this.id)
    this.node.services.state.leave(this.id)
    this.access?.detach()
    this.stopEnforcing?.()
    this.stopEnforcing = undefined
    // the session built the trainer, so it frees it: tfjs tensors outlive their last reference
    if (this.trainer != null) {
      this.stoppedAt = this.trainer.getSnapshot()
      this.trainer.dispose?.()
      this.trainer = undefined
    }
  }

  /** The current local model (after `stop()`, the model it stopped with). */
  snapshot (): ModelSnapshot {
    if (this.trainer != null) return this.trainer.getSnapshot()
    if (this.stoppedAt != null) return this.stoppedAt
    throw new Error('session not joined')
  }

  /** One round: train, publish, wait (bounded) for fresh neighbours, fetch k of them, validate, merge, evaluate. */
  async step (): Promise<RoundMetrics> {
    const trainer = this.trainer
    const config = this.config
    const model = this.model
    if (trainer == null || config == null || model == null) throw new Error('session not joined: call join() first')
    // read every round: a rule switched in the shared document reaches every peer, browsers included
    const current = getConfig(this.doc)
    if (current != null && canonicalJson(current.model) !== this.modelKey) {
      throw new SessionConfigConflictError(`session "${this.id}"'s model changed under this peer (${describeModelDifference(current.model, config.model)}); leave and join again to train the new one`)
    }
    const t0 = Date.now()
    // a connectivity-only peer holds no data: it merges and forwards models without training
    const trained = this.init.train != null ? await trainer.trainSteps(this.init.train, model.localSteps) : { loss: Number.NaN, samples: 0 }
    this.trainedSamples += trained.samples
    const trainMs = Date.now() - t0

    const own = trainer.getSnapshot()
    const head = await this.publish(own, trained.loss)

    const t1 = Date.now()
    const wait = this.paceOf().waitForNeighbours
    if (wait > 0) await this.waitForFreshHeads(config.fanOut, wait)
    const chosen = await this.pickNeighbours(config.fanOut)
    const received = await this.fetchAll(chosen)
    const fetchMs = Date.now() - t1

    const t2 = Date.now()
    const valid: Array<{ peer: string, version: number, snapshot: ModelSnapshot }> = []
    let rejected = 0
    for (const r of received) {
      try {
        validateModel(r.snapshot, own)
        valid.push(r)
      } catch {
        rejected++
        this.init.scores?.penalize(r.peer, 'invalid-model')
      }
    }
    const rule = this.init.rule ?? current?.averaging ?? config.averaging
    const trim = current?.trim ?? config.trim ?? DEFAULT_TRIM
    if (valid.length > 0) {
      const others = valid.length
      const weights = [config.selfWeight, ...valid.map(() => (1 - config.selfWeight) / others)]
      const merged = mergeModels([own, ...valid.map(v => v.snapshot)], { rule, weights, trim })
      trainer.setSnapshot(merged)
      trainer.afterMerge?.()
      for (const v of valid) {
        this.mergedVersion.set(v.peer, v.version)
        this.init.scores?.reward(v.peer)
      }
      this.safeDispatchEvent('merged', { detail: { round: this.round + 1, peers: valid.map(v => v.peer), rule, trim } })
    }
    const mergeMs = Date.now() - t2

    const evaluation = this.init.test != null ? await trainer.evaluate(this.init.test) : { loss: Number.NaN, metrics: {} }
    this.round++
    const metrics: RoundMetrics = {
      round: this.round,
      loss: trained.loss,
      metrics: evaluation.metrics,
      accuracy: evaluation.metrics.accuracy ?? Number.NaN,
      evalLoss: evaluation.loss,
      mergedWith: valid.map(v => v.peer),
      rejected,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      trainMs,
      fetchMs,
      mergeMs
    }
    // the round's only write to the document (see RoundRecord): gossip carried the head already
    recordRound(this.doc, {
      head,
      metrics: { peerId: this.peerId, round: this.round, loss: trained.loss, metrics: finiteOnly(evaluation.metrics), bytesSent: this.bytesSent, bytesReceived: this.bytesReceived, timestamp: Date.now() }
    }, { keep: this.init.roundsKept })
    this.pruneDeparted(Date.now())
    this.safeDispatchEvent('round', { detail: metrics })
    this.safeDispatchEvent('metrics', { detail: metrics })
    return metrics
  }

  /** This peer's samples: as given, the in-memory set's count, or what it has trained on so far. */
  private samples (): number {
    if (this.init.samples != null) return this.init.samples
    const train = this.init.train
    if (train != null && isInMemory(train)) return train.count
    return this.trainedSamples
  }

  /** The pacing in force: this peer's over the session's over the defaults. */
  private paceOf (): Required<SessionPace> {
    return resolvePace(getConfig(this.doc)?.pace ?? this.config?.pace, this.init.pace)
  }

  /** Members present for `minPeers` (see `presentPeers`), given the candidates already read. */
  private presentPeers (candidates = this.candidates()): string[] {
    const connected = new Set(this.node.getConnections().filter(c => c.limits == null && c.status === 'open').map(c => c.remotePeer.toString()))
    return presentPeers(this.peerId, connected, listMembers(this.doc), candidates)
  }

  /** Wait until `k` neighbours (or as many as there are) announced a model newer than the one last merged from them, or `ms` passed. */
  private async waitForFreshHeads (k: number, ms: number): Promise<void> {
    const left = new Set(listMembers(this.doc).filter(m => m.leftAt != null).map(m => m.peerId))
    const skip = (peer: string): boolean => this.init.scores?.isBanned(peer) === true || left.has(peer)
    await this.waitFor(() => {
      if (!this.running) return true
      // one read of the heads per check: presentPeers would otherwise read them again
      const candidates = this.candidates()
      return freshEnough(candidates, this.mergedVersion, k, skip, this.presentPeers(candidates))
    }, ms)
  }

  private async waitFor (ready: () => boolean, ms: number): Promise<boolean> {
    return await waitUntil(this.node.services.heads, ready, ms)
  }

  /** Store and announce a new version of our model; its head goes into the document with the round's record. */
  private async publish (snapshot: ModelSnapshot, loss: number): Promise<ModelHead> {
    const config = this.config as SessionConfig
    this.version++
    const content = await createSessionContent(config.encoding, this.topk, snapshot, {
      architecture: JSON.stringify(config.model),
      modelId: this.id,
      version: this.version,
      parent: this.parent,
      samples: this.samples(),
      author: this.peerId,
      createdAt: Date.now()
    })
    // a top-k chain's newest checkpoint is served (and kept) beside each version that may name it
    const companions = companionContent(this.topk, content)
    for (const c of [content, ...companions]) await this.node.services.shards.publish(c, { announce: this.init.announce === true })
    this.parent = content.manifestCid
    this.ownVersions.push({ manifest: content.manifestCid, blocks: [content, ...companions].flatMap(c => [c.manifestCid, ...c.shards.map(s => s.cid)]) })
    await this.prune()
    const head: ModelHead = { peerId: this.peerId, manifest: content.manifestCid.toString(), version: this.version, samples: this.samples(), encoding: headEncoding(config.encoding), timestamp: Date.now() }
    await this.node.services.heads.announce(this.id, {
      manifest: content.manifestCid.bytes,
      version: this.version,
      samples: this.samples(),
      encoding: content.manifest.encoding,
      timestamp: head.timestamp,
      loss,
      accuracy: Number.NaN
    }).catch(() => {})
    return head
  }

  /**
   * Trim the round logs of members gone for `pruneDepartedAfter`. Gone is judged by when
   * this peer last saw a log's newest entry change, not by the entry's timestamp: another
   * machine's clock may be minutes off.
   */
  private pruneDeparted (now: number): void {
    const after = this.init.pruneDepartedAfter ?? 600_000
    for (const log of roundLogs(this.doc)) {
      if (log.peerId === this.peerId) continue
      const seen = this.logsSeen.get(log.peerId)
      // a signed head heard lately says it is alive, even when its round records lag behind
      const heard = this.heardAt.get(log.peerId) ?? 0
      if (seen == null || seen.newest !== log.newest) this.logsSeen.set(log.peerId, { newest: log.newest, at: now })
      else if (log.entries > 1 && now - Math.max(seen.at, heard) > after) trimRounds(this.doc, log.peerId)
    }
  }

  /** The blocks of our own kept versions, as CID strings. */
  private ownBlocks (): Set<string> {
    return new Set(this.ownVersions.flatMap(v => v.blocks.map(c => c.toString())))
  }

  /** Delete blocks of our own old versions that no kept version still uses. */
  private async prune (): Promise<void> {
    const keep = Math.max(this.init.keepVersions ?? 2, this.topk?.keepVersions ?? 0)
    if (this.ownVersions.length <= keep) return
    const old = this.ownVersions.splice(0, this.ownVersions.length - keep)
    const inUse = this.ownBlocks()
    for (const v of old) {
      for (const cid of v.blocks) {
        if (!inUse.has(cid.toString())) await this.node.services.shards.store.delete(cid).catch(() => {})
      }
    }
  }

  /**
   * Live candidate heads, one per peer: its newest signed gossip announcement, or the
   * document's head for a peer not heard from by gossip yet. Gossip is the author's own
   * signed word and reaches us before the round's record; the document is anyone's (a member
   * may forge an entry in another's log), so it only fills gaps.
   */
  private candidates (): Array<{ peer: string, manifest: CID, version: number }> {
    const now = Date.now()
    const staleAfter = this.init.staleAfter ?? 120_000
    const best = new Map<string, { peer: string, manifest: CID, version: number, timestamp: number }>()
    for (const h of this.node.services.heads.heads(this.id).values()) {
      best.set(h.peer, { peer: h.peer, manifest: h.manifest, version: h.version, timestamp: h.timestamp })
    }
    for (const h of listHeads(this.doc)) {
      if (best.has(h.peerId)) continue
      try {
        best.set(h.peerId, { peer: h.peerId, manifest: CID.parse(h.manifest), version: h.version, timestamp: h.timestamp })
      } catch { /* malformed CID in the document: skip */ }
    }
    const connected = new Set(this.node.getConnections().filter(c => c.limits == null).map(c => c.remotePeer.toString()))
    const out = []
    for (const c of best.values()) {
      if (c.peer === this.peerId || now - c.timestamp > staleAfter) continue
      if ((this.init.connectedOnly ?? true) && !connected.has(c.peer)) continue
      out.push(c)
    }
    return out
  }

  /** Up to k neighbours, preferring heads we have not merged yet; random among equals. */
  private async pickNeighbours (k: number): Promise<Array<{ peer: string, manifest: CID, version: number }>> {
    const eligible: Array<{ peer: string, manifest: CID, version: number }> = []
    for (const c of this.candidates()) {
      if (this.init.scores?.isBanned(c.peer) === true) continue
      // a non-member's head can reach the document only through a member: still not merged
      if (this.access != null && !(await this.access.membership.isMember(c.peer))) continue
      eligible.push(c)
    }
    // top-k: a peer whose chain we follow costs a few deltas, a new one a whole checkpoint
    const all = eligible.map(c => ({ c, fresh: (this.mergedVersion.get(c.peer) ?? -1) < c.version ? 0 : 1, held: this.topk?.receiver.cached(c.peer) != null ? 0 : 1, r: this.rng() }))
    all.sort((a, b) => a.fresh - b.fresh || a.held - b.held || a.r - b.r)
    const chosen = all.slice(0, k).map(x => x.c)
    return chosen
  }

  private async fetchAll (chosen: Array<{ peer: string, manifest: CID, version: number }>): Promise<Array<{ peer: string, version: number, snapshot: ModelSnapshot }>> {
    const timeout = AbortSignal.timeout(this.init.fetchTimeout ?? 30_000)
    const settled = await Promise.allSettled(chosen.map(async c => {
      // a neighbour whose presence lapses mid-fetch is given up on (onGone), not waited for
      const gone = new AbortController()
      this.fetching.set(c.peer, Object.assign(gone, { version: c.version }))
      const signal = AbortSignal.any([timeout, gone.signal])
      const options = { providers: [peerIdFromString(c.peer)], signal, stallTimeout: this.init.fetchTimeout ?? 30_000, announce: this.init.announce === true }
      // top-k: the receiver counts each block it fetches (onBytes), those of failed chains too
      if (this.topk != null) return { peer: c.peer, version: c.version, snapshot: (await this.topk.receiver.fetch(c.peer, c.manifest, options)).snapshot }
      const { snapshot, result } = await this.fetched.fetchModel(c.manifest, options)
      this.bytesReceived += result.bytes
      return { peer: c.peer, version: c.version, snapshot }
    }))
    for (const c of chosen) this.fetching.delete(c.peer)
    // the snapshots are in memory now (and a top-k receiver keeps its reconstructions)
    await this.fetched.release(this.ownBlocks())
    this.bytesSent = this.node.services.shards.stats.bytesServed
    settled.forEach((s, i) => {
      // content that fails its hash or does not decode is the provider's fault, not the network's
      const peer = chosen[i]?.peer
      if (s.status === 'rejected' && peer != null && isContentError(s.reason)) this.init.scores?.penalize(peer, 'bad-content')
    })
    return settled.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
  }

  private onRefused (evt: CustomEvent<{ session: string, peer: string, reason?: string }>): void {
    if (evt.detail.session !== this.id) return
    // a non-member may be a member whose grant has not reached us: the lightest offence; every
    // other refusal (malformed, oversized, over budget, dependencies it could not supply) is its author's
    this.init.scores?.penalize(evt.detail.peer, evt.detail.reason === 'non-member' ? 'non-member' : 'refused-state')
  }

  private onHead (evt: CustomEvent<VerifiedHead>): void {
    const peer = evt.detail.peer
    if (evt.detail.session === this.id) this.heardAt.set(peer, Date.now())
    // its author has published two newer versions since: the one we fetch is deleted there
    // (authors keep their last two), and its shards would only answer NOT_FOUND until the
    // round's fetch timeout. Give it up; the next round takes the newest.
    const fetching = this.fetching.get(peer)
    if (evt.detail.session === this.id && fetching?.version != null && evt.detail.version >= fetching.version + 2) fetching.abort()
    if (!this.known.has(peer)) {
      this.known.add(peer)
      this.safeDispatchEvent('peer:join', { detail: { peerId: peer } })
    }
  }

  private onGone (evt: CustomEvent<{ session: string, peer: string }>): void {
    if (evt.detail.session === this.id) this.fetching.get(evt.detail.peer)?.abort()
    // what we hold of its chain stays: a lapse under load is not a departure, and a peer that
    // restarts begins a new chain with a keyframe, which any walk stops at (the cache is bounded)
    if (evt.detail.session !== this.id || !this.known.delete(evt.detail.peer)) return
    this.safeDispatchEvent('peer:leave', { detail: { peerId: evt.detail.peer } })
  }
}

const CONTENT_ERRORS = new Set(['InvalidShardError', 'InvalidManifestError', 'WireFormatError', 'MessageTooLargeError'])

function isContentError (err: unknown): boolean {
  return err instanceof MurmurError && CONTENT_ERRORS.has(err.name)
}

/** Rounds in a row that may fail before the loop gives up (`RoundsFailingError`). */
const MAX_FAILED_ROUNDS = 5

/** The round loop stopped: rounds kept failing (the cause is the last round's error). */
export class RoundsFailingError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_ROUNDS_FAILING', options)
    this.name = 'RoundsFailingError'
  }
}




function finiteOnly (metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)))
}
