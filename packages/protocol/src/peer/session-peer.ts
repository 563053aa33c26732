/**
 * The front door: one session peer, assembled once for every binding. It owns what every
 * peer does the same way — the relay reservation wait, finding the members, joining (or
 * creating) the session, resuming from a checkpoint, training, merging, events, saving
 * progress and leaving — and takes from the binding only what differs: the libp2p node
 * (transports, datastore), how to dial a member, where checkpoints live and the tfjs
 * backend's name. DISCO's `Disco` is the model: one object that wraps training and
 * communication; the platform packages hold transports and data loaders.
 */
import type * as tf from '@tensorflow/tfjs'
import { TypedEventEmitter } from 'main-event'
import type * as Y from 'yjs'
import type { ModelSnapshot } from '../learn/index.js'
import { directSessionPeers, discoverSessionPeers } from '../mesh/index.js'
import type { DialMember, SessionDiscovery } from '../mesh/index.js'
import { Session, PeerScores, SessionJoinAbortedError } from '../session/index.js'
import type { AveragingRule, SessionEncoding, SessionPace } from '../state/index.js'
import { applyRemoteUpdate, createSessionDoc, encodeState } from '../state/index.js'
import { isValidSessionId } from '../wire/index.js'
import { Trainer } from '../train/index.js'
import type { TrainingData, TrainingHyperparameters } from '../train/index.js'
import type { MurmurNode } from '../mesh/index.js'
import type { RoundMetrics, SessionAccessInit, SessionEvents, SessionTrainer } from '../session/index.js'
import type { Checkpoint, CheckpointStore } from './checkpoint.js'
import { InvalidSessionOptionsError, resolveModel } from './model-input.js'
import { SESSION_DEFAULTS, SessionUnreachableError, checkDataFits, creatorConfig, startingWeights } from './starting-model.js'
import type { ModelInput } from './model-input.js'
import { waitForReservation } from './reservation.js'

/** Session-wide settings a creator chooses (the model comes from `model`). */
export interface SessionSettings {
  /** @default 'variance-corrected' */
  averaging?: AveragingRule
  /** Neighbours merged per round (k). @default 2 */
  fanOut?: number
  /** Weight of a peer's own model in its merge. @default 0.5 */
  selfWeight?: number
  /** @default 'fp16' */
  encoding?: SessionEncoding
  /** Share `trimmed-mean` cuts from each side. @default 0.2 */
  trim?: number
  /** Pacing every peer follows (see `SessionPace`). */
  pace?: SessionPace
  /**
   * Start every peer from the creator's model weights (the model object's, e.g. a
   * pretrained one the session fine-tunes): joiners fetch them from the members.
   * @default true when `model` is a model object or URL, false for a JSON config
   */
  shareInitialModel?: boolean
}

/** What the binding's node factory is given: the peer's scores, to wire into gossipsub and the connection gater. */
export interface NodeHooks {
  scores: PeerScores
}

/** Options of `SessionPeer.start`, shared by every binding. */
export interface SessionPeerInit {
  /** The libp2p node with Murmur's services, or a factory for it (then the peer stops it on `leave`). */
  node: MurmurNode | ((hooks: NodeHooks) => Promise<MurmurNode>)
  /** Session id: 1–64 characters of `[A-Za-z0-9._-]`. */
  session: string
  /**
   * The model: a tfjs `LayersModel` (its weights are where training starts), a URL/IO path
   * `tf.loadLayersModel` reads, or a `ModelConfig`. Needed to create a session; when
   * joining, it must match the session's model or the join fails with `SessionConfigConflictError`.
   */
  model?: ModelInput
  /** Optimizer, loss, metrics, batch size and local steps for a model object. */
  training?: Partial<TrainingHyperparameters>
  /** Create the session when no config arrives from its members (`true`, or the session settings). */
  create?: boolean | SessionSettings
  /** How long a creator waits for an existing config from the members before writing its own (ms). @default 2000 */
  createAfter?: number
  /** This peer's training data (never leaves it). Omit for a peer that only relays and merges. */
  train?: TrainingData
  /** Held-out data for the metrics this peer reports. */
  test?: TrainingData
  /** Training samples this peer holds (for a stream of batches whose size is known). */
  samples?: number
  /** Relay addresses ending in `/p2p/<id>` (or relay peer ids): left out of the session's members. */
  relays?: string[]
  /** How this binding reaches a member discovery found. @default a plain dial */
  dial?: DialMember
  /** Find the members through the session's DHT rendezvous and document. @default true */
  discover?: boolean
  /** Longest wait for a relay reservation before joining (0: do not wait). @default 10000 when `relays` are given, else 0 */
  reservationTimeout?: number
  /** Longest wait for the session's config (ms). @default 60000 */
  joinTimeout?: number
  /** Where progress is saved after every round and resumed from. @default none */
  checkpoints?: CheckpointStore
  /** The session document (e.g. replayed from a log). @default a fresh one */
  doc?: Y.Doc
  /** tfjs backend name this peer reports. */
  backend?: string
  /** Seeds this peer's neighbour choices (and its initial weights, unless `trainerSeed`). @default random */
  seed?: number
  /** Seeds this peer's initial weights and batch order. @default 1000 + seed */
  trainerSeed?: number
  /** Rounds in all (rounds before a restart count). @default until `leave()` */
  maxRounds?: number
  /** Start the round loop at once. Off, call `step()` yourself (simulations in lockstep). @default true */
  autoRun?: boolean
  /** Merge with this rule instead of the session's. */
  rule?: AveragingRule
  /** Per-round limit on fetching neighbours' models (ms). @default 30000 */
  fetchTimeout?: number
  /** Heads older than this are not merged (ms). @default 120000 */
  staleAfter?: number
  /** This peer's pacing, over the session's. */
  pace?: SessionPace
  /** Private session access (owner and grants). */
  access?: SessionAccessInit
  /** Announce provider records for published versions. @default false */
  announce?: boolean
  /** Only merge with directly connected peers. @default true */
  connectedOnly?: boolean
  /** Rounds of this peer kept in the session document. */
  roundsKept?: number
  /** Own versions whose blocks are kept. @default 2 */
  keepVersions?: number
  /** Trim departed members' logs after this long (ms). */
  pruneDepartedAfter?: number
  /** Longest run of training before yielding to the event loop (ms). @default 8 */
  yieldEveryMs?: number
  /** This peer's scores of others; `false` turns scoring (and bans) off. @default a fresh `PeerScores` */
  scores?: PeerScores | false
  /** Wrap the trainer (simulations of misbehaving peers). */
  wrapTrainer?(trainer: Trainer): SessionTrainer
  /** Aborting it gives up the join (rejects `start`) or, once joined, leaves the session. */
  signal?: AbortSignal
  /** Called last in `leave()`, after the node stopped (the binding's own cleanup). */
  onLeave?(): Promise<void>
}

/** Events of a `SessionPeer`: the session's, plus checkpoints saved. */
export interface SessionPeerEvents extends SessionEvents {
  checkpoint: CustomEvent<{ round: number }>
  /** The relay reservation wait ended without one (peers behind NAT cannot reach this one yet). */
  'reservation-missing': CustomEvent<{ reason: string }>
}


/** One peer in one session: start with `SessionPeer.start`, end with `leave()`. */
export class SessionPeer extends TypedEventEmitter<SessionPeerEvents> {
  readonly node: MurmurNode
  /** The gossip-learning loop (rounds, merges) this peer runs. */
  readonly session: Session
  readonly scores?: PeerScores
  /** The round loop; resolves when `maxRounds` are done or the peer left. */
  readonly done: Promise<void>
  private readonly init: SessionPeerInit
  private readonly discovery?: SessionDiscovery
  private readonly stopping = new AbortController()
  private trainer?: Trainer
  private saving?: Promise<void>
  private pendingSave?: Checkpoint
  private left?: Promise<void>

  private constructor (init: SessionPeerInit, node: MurmurNode, session: Session, scores: PeerScores | undefined, discovery: SessionDiscovery | undefined) {
    super()
    this.init = init
    this.node = node
    this.session = session
    this.scores = scores
    this.discovery = discovery
    this.done = Promise.resolve()
    for (const type of ['round', 'merged', 'metrics', 'peer:join', 'peer:leave', 'ready', 'resume', 'resume-failed', 'error'] as const) {
      session.addEventListener(type, (evt: CustomEvent) => { this.safeDispatchEvent(type, { detail: evt.detail }) })
    }
    session.addEventListener('round', evt => { this.queueSave(evt.detail) })
    if (init.autoRun !== false) {
      // on the next turn, so the caller of start() has attached its listeners first
      this.done = new Promise<void>(resolve => setTimeout(resolve, 0))
        .then(async () => { if (!this.stopping.signal.aborted) await session.run({ maxRounds: init.maxRounds, signal: this.stopping.signal }) })
        .catch((err: Error) => { this.safeDispatchEvent('error', { detail: err }) })
    }
  }

  /**
   * Join (or create) the session: build the node, wait for a relay reservation, find the
   * members, resume from the newest checkpoint, wait for the session's config and build
   * the model, then start training. Resolves once joined; progress arrives as events.
   */
  static async start (init: SessionPeerInit): Promise<SessionPeer> {
    if (!isValidSessionId(init.session)) throw new InvalidSessionOptionsError(`invalid session id "${init.session}": use 1-64 letters, digits, '.', '_' or '-'`)
    if (init.maxRounds != null && (!Number.isInteger(init.maxRounds) || init.maxRounds < 0)) throw new InvalidSessionOptionsError(`maxRounds must be a non-negative integer, got ${init.maxRounds}`)
    if (init.create != null && init.create !== false && init.model == null) throw new InvalidSessionOptionsError('creating a session needs a model: pass model (a tf.LayersModel, its URL, or a ModelConfig)')
    // the user's model is checked before any network work, so its mistakes are reported as such
    const resolved = init.model != null ? await resolveModel(init.model, init.training) : undefined
    const scores = init.scores === false ? undefined : (init.scores ?? new PeerScores())
    const ownsNode = typeof init.node === 'function'
    const node = typeof init.node === 'function' ? await init.node({ scores: scores ?? new PeerScores() }) : init.node
    const relays = relayPeerIds(init.relays ?? [])
    let discovery: SessionDiscovery | undefined
    const doc = init.doc ?? createSessionDoc()
    try {
      const reservationTimeout = init.reservationTimeout ?? (relays.size > 0 ? 10_000 : 0)
      const reserved = await waitForReservation(node, reservationTimeout)
      const missing = reservationTimeout > 0 && reserved.length === 0
      if (init.discover !== false) {
        discovery = discoverSessionPeers(node, { session: init.session, doc, exclude: [...relays], ...(init.dial != null ? { dial: init.dial } : {}) })
      }
      const problems: string[] = []
      const checkpoint = await init.checkpoints?.load(init.session, reason => { problems.push(reason) })
      if (checkpoint?.doc != null) {
        try { applyRemoteUpdate(doc, checkpoint.doc) } catch { /* a damaged document: the mesh holds the real one */ }
      }
      const config = resolved != null && init.create != null && init.create !== false
        ? await creatorConfig(node, resolved, init.create === true ? {} : init.create, init.model)
        : undefined
      let built: Trainer | undefined
      const seed = init.seed ?? Math.floor(Math.random() * 2 ** 31)
      const session = new Session({
        node,
        session: init.session,
        doc,
        config: config ?? (resolved != null ? { ...SESSION_DEFAULTS, model: resolved.config } : undefined),
        // a joiner that brings a model only checks it against the session's, it never creates
        create: config != null,
        createAfter: init.createAfter,
        trainer: async (model, sessionConfig) => {
          const weights = checkpoint != null ? undefined : await startingWeights(node, sessionConfig, resolved, relays, init.joinTimeout ?? 60_000)
          built = await Trainer.create(model, { seed: init.trainerSeed ?? 1000 + seed, yieldEveryMs: init.yieldEveryMs, ...(weights != null ? { weights } : {}) })
          await checkDataFits(built, { train: init.train, test: init.test })
          return init.wrapTrainer != null ? init.wrapTrainer(built) : built
        },
        train: init.train,
        test: init.test,
        samples: init.samples,
        rule: init.rule,
        backend: init.backend,
        seed,
        fetchTimeout: init.fetchTimeout,
        staleAfter: init.staleAfter,
        pace: init.pace,
        access: init.access,
        announce: init.announce,
        connectedOnly: init.connectedOnly,
        roundsKept: init.roundsKept,
        keepVersions: init.keepVersions,
        pruneDepartedAfter: init.pruneDepartedAfter,
        scores,
        resume: checkpoint != null ? { round: checkpoint.round, snapshot: checkpoint.snapshot, metrics: checkpoint.metrics } : undefined
      })
      // events of the join itself reach the peer's listeners once start() has resolved
      const early: Array<{ type: 'resume' | 'resume-failed', detail: unknown }> = []
      session.addEventListener('resume', evt => { early.push({ type: 'resume', detail: evt.detail }) })
      session.addEventListener('resume-failed', evt => { early.push({ type: 'resume-failed', detail: evt.detail }) })
      const joinTimeout = init.joinTimeout ?? 60_000
      try {
        await session.join({ signal: init.signal != null ? AbortSignal.any([AbortSignal.timeout(joinTimeout), init.signal]) : AbortSignal.timeout(joinTimeout) })
      } catch (err) {
        if (!(err instanceof SessionJoinAbortedError)) throw err
        if (init.signal?.aborted === true) throw new SessionJoinAbortedError(`joining session "${init.session}" was aborted`, { cause: err })
        throw new SessionUnreachableError(`no config for session "${init.session}" arrived within ${joinTimeout} ms: ${describeJoin(node, discovery, relays)}`, { cause: err })
      }
      const peer = new SessionPeer({ ...init, node: ownsNode ? init.node : node, doc }, node, session, scores, discovery)
      peer.trainer = built
      peer.ownsNode = ownsNode
      const resumed = early.find(e => e.type === 'resume')?.detail as SessionPeer['resumed']
      if (resumed != null) peer.resumed = resumed
      setTimeout(() => { for (const e of early) peer.safeDispatchEvent(e.type, { detail: e.detail as never }) }, 0)
      for (const reason of problems) setTimeout(() => { peer.safeDispatchEvent('resume-failed', { detail: { reason } }) }, 0)
      init.signal?.addEventListener('abort', () => { void peer.leave() }, { once: true })
      if (missing) setTimeout(() => { peer.safeDispatchEvent('reservation-missing', { detail: { reason: 'no relay granted a reservation: peers behind NAT cannot reach this one until one does' } }) }, 0)
      return peer
    } catch (err) {
      discovery?.stop()
      if (ownsNode) await Promise.resolve(node.stop()).catch(() => {})
      throw err
    }
  }

  private ownsNode = false
  /** Set when this peer carried on from a checkpoint: its round, the restored model's metrics now, and those saved with it. */
  resumed?: { round: number, metrics: Record<string, number>, saved: Record<string, number> }

  /** This peer's id. */
  get peerId (): string { return this.node.peerId.toString() }
  /** The session document this peer replicates. */
  get doc (): Y.Doc { return this.session.doc }
  /** Rounds completed (rounds before a restart included). */
  get rounds (): number { return this.session.rounds }
  /** Session members discovery has found so far. */
  get members (): ReadonlySet<string> { return this.discovery?.members ?? new Set() }

  /** The current model's weights (after `leave()`, those it left with). */
  snapshot (): ModelSnapshot {
    return this.session.snapshot()
  }

  /**
   * The current model as a standalone tfjs `LayersModel` (its own copy of the weights) to
   * `predict` with or `save` anywhere; dispose it when done.
   */
  async model (): Promise<tf.LayersModel> {
    if (this.left == null && this.trainer != null) return this.trainer.exportModel()
    // after leave() the trainer is disposed: build the model again around the final weights
    const config = this.session.modelConfig
    if (config == null) throw new InvalidSessionOptionsError('this peer has no model yet')
    const trainer = await Trainer.create(config, { weights: this.snapshot() })
    try {
      return trainer.exportModel()
    } finally {
      trainer.dispose()
    }
  }

  /** Save the current model through a tfjs IO handler or URL (`indexeddb://…`, `downloads://…`, `file://…` in Node, http). */
  async save (destination: string | tf.io.IOHandler): Promise<tf.io.SaveResult> {
    const model = await this.model()
    try {
      return await model.save(destination)
    } finally {
      model.dispose()
    }
  }

  /** One round by hand (with `autoRun: false`). */
  async step (): Promise<RoundMetrics> {
    return await this.session.step()
  }

  /** Stop training, save progress, leave the session and stop the node (when this peer built it). */
  async leave (): Promise<void> {
    this.left ??= (async () => {
      this.stopping.abort()
      this.discovery?.stop()
      await this.session.stop().catch(() => {})
      await this.done
      await this.flushSaves()
      await this.init.checkpoints?.close?.().catch(() => {})
      if (this.ownsNode) await Promise.resolve(this.node.stop()).catch(() => {})
      await this.init.onLeave?.()
    })()
    await this.left
  }

  /** Save after each round; while a save runs only the newest waiting round is kept for the next. */
  private queueSave (metrics: RoundMetrics): void {
    const store = this.init.checkpoints
    if (store == null) return
    this.pendingSave = {
      session: this.session.id,
      round: metrics.round,
      // the listener runs before the next round starts: this is the merged model of this round
      snapshot: this.session.snapshot(),
      metrics: metrics.metrics,
      savedAt: Date.now(),
      ...(store.includeDoc === true ? { doc: encodeState(this.session.doc) } : {})
    }
    if (this.saving != null) return
    this.saving = (async () => {
      while (this.pendingSave != null) {
        const job = this.pendingSave
        this.pendingSave = undefined
        try {
          await store.save(job)
          this.safeDispatchEvent('checkpoint', { detail: { round: job.round } })
        } catch (err) {
          this.safeDispatchEvent('error', { detail: new Error(`saving the checkpoint of round ${job.round} failed: ${(err as Error).message}`, { cause: err }) })
        }
      }
    })().finally(() => { this.saving = undefined })
  }

  private async flushSaves (): Promise<void> {
    await this.saving
    const store = this.init.checkpoints
    if (store == null || this.session.rounds === 0) return
    // the final model, after the last round's merge
    try {
      await store.save({ session: this.session.id, round: this.session.rounds, snapshot: this.session.snapshot(), metrics: {}, savedAt: Date.now(), ...(store.includeDoc === true ? { doc: encodeState(this.session.doc) } : {}) })
    } catch (err) {
      this.safeDispatchEvent('error', { detail: new Error(`saving the final checkpoint failed: ${(err as Error).message}`, { cause: err }) })
    }
  }
}



/** Peer ids named by relay addresses (`…/p2p/<id>`) or given as ids. */
export function relayPeerIds (relays: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (const r of relays) {
    const id = r.startsWith('/') ? /\/p2p\/([^/]+)$/.exec(r)?.[1] : r
    if (id != null) out.add(id)
  }
  return out
}



function describeJoin (node: MurmurNode, discovery: SessionDiscovery | undefined, relays: ReadonlySet<string>): string {
  const direct = directSessionPeers(node.getConnections(), relays)
  if (discovery != null && discovery.members.size === 0 && direct.size === 0) return 'no member of the session was found (is any peer in it? is the session id right? did one peer create it?)'
  return `members found ${discovery?.members.size ?? 0}, directly connected ${direct.size}; none delivered the session document (are they behind a NAT this peer cannot cross?)`
}
