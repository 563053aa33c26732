/**
 * `joinSession`: a page becomes a full member of a training session. The loop is
 * protocol's `Session`, the same code Node agents run; this file supplies the browser's
 * transports, storage and tfjs backend, finds the other members, and saves progress
 * after every round so a reloaded page carries on where it stopped.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { applyRemoteUpdate, createSessionDoc, encodeState, getHead, isValidSessionId, Session, Trainer } from '@murmur/protocol'
import type { AveragingRule, Dataset, IceServer, ModelConfig, ModelSnapshot, MurmurNode, RoundMetrics, SessionConfig } from '@murmur/protocol'
import { selectBackend } from './backend.js'
import type { BackendPreference, BackendReport, WasmPaths } from './backend.js'
import { peerViews } from './connections.js'
import type { PeerView } from './connections.js'
import { discoverSessionPeers } from './discovery.js'
import type { SessionDiscovery } from './discovery.js'
import { InvalidOptionsError, SessionUnreachableError } from './errors.js'
import { createBrowserPeer, waitForReservation } from './peer.js'
import type { BrowserPeer } from './peer.js'
import type { StorageKind, StoredSession } from './storage.js'

/** Options of `joinSession`. */
export interface JoinSessionOptions {
  /** `murmur relay` WebSocket addresses ending in `/p2p/<relay id>`. */
  bootstrap: string[]
  /** Session id: 1–64 characters of `[A-Za-z0-9._-]`. */
  session: string
  /** This page's training data; it never leaves the page. */
  train: Dataset
  /** This page's held-out data, for the accuracy it reports. */
  test: Dataset
  /** Written into the session when it has no config yet (the page that creates the session). */
  config?: SessionConfig
  /** Merge with this rule instead of the session's. */
  rule?: AveragingRule
  /** @default 'auto' (measure and pick the fastest) */
  backend?: BackendPreference
  /** Where tfjs finds its .wasm files (see the README's bundler notes). */
  wasmPaths?: WasmPaths
  /** @default 'indexeddb' */
  storage?: StorageKind
  /** @default 'murmur' */
  storageName?: string
  /** @default [] */
  iceServers?: IceServer[]
  /** Stop after this many rounds in all (rounds done before a reload count). @default unlimited */
  maxRounds?: number
  /** How long to wait for the session's config to arrive (ms). @default 60000 */
  joinTimeout?: number
  /** Aborting it leaves the session. */
  signal?: AbortSignal
}

/** Events of a `MurmurSession`. */
export interface MurmurSessionEvents {
  round: CustomEvent<RoundMetrics>
  metrics: CustomEvent<RoundMetrics>
  peers: CustomEvent<PeerView[]>
  backend: CustomEvent<BackendReport>
  error: CustomEvent<Error>
}

/** A page's membership of a session. */
export interface MurmurSession extends TypedEventEmitter<MurmurSessionEvents> {
  readonly peerId: string
  readonly node: MurmurNode
  readonly session: Session
  readonly doc: Session['doc']
  readonly backend: BackendReport
  /** Set when the page carried on from storage: rounds done before, and the restored model's accuracy on `test`. */
  readonly resumed?: { round: number, accuracy: number }
  /** Connected peers, best connection each. */
  peers(): PeerView[]
  /** Stop training, save progress, leave the session and stop the node. */
  leave(): Promise<void>
}

class BrowserSession extends TypedEventEmitter<MurmurSessionEvents> implements MurmurSession {
  readonly session: Session
  readonly backend: BackendReport
  readonly resumed?: { round: number, accuracy: number }
  private readonly peer: BrowserPeer
  private readonly discovery: SessionDiscovery
  private readonly stopDiscovery: AbortController
  private readonly stopped = new AbortController()
  private saving?: Promise<void>
  private peersTimer?: ReturnType<typeof setTimeout>
  private left = false

  constructor (peer: BrowserPeer, session: Session, backend: BackendReport, discovery: { discovery: SessionDiscovery, stop: AbortController }, resumed?: { round: number, accuracy: number }) {
    super()
    this.peer = peer
    this.discovery = discovery.discovery
    this.stopDiscovery = discovery.stop
    this.session = session
    this.backend = backend
    if (resumed != null) this.resumed = resumed
  }

  get peerId (): string { return this.peer.node.peerId.toString() }
  get node (): MurmurNode { return this.peer.node }
  get doc (): Session['doc'] { return this.session.doc }

  peers (): PeerView[] { return peerViews(this.peer.node) }

  start (options: JoinSessionOptions): void {
    const signal = AbortSignal.any([this.stopped.signal, ...(options.signal != null ? [options.signal] : [])])
    signal.addEventListener('abort', () => { void this.leave() }, { once: true })
    this.session.addEventListener('round', (evt) => {
      this.safeDispatchEvent('round', { detail: evt.detail })
      void this.save()
    })
    this.session.addEventListener('metrics', (evt) => { this.safeDispatchEvent('metrics', { detail: evt.detail }) })
    this.session.addEventListener('error', (evt) => { this.safeDispatchEvent('error', { detail: evt.detail }) })
    const onConnections = (): void => {
      // connections open and close in bursts (identify, upgrades): tell listeners once per burst
      clearTimeout(this.peersTimer)
      this.peersTimer = setTimeout(() => { if (!this.left) this.safeDispatchEvent('peers', { detail: this.peers() }) }, 100)
    }
    this.peer.node.addEventListener('connection:open', onConnections)
    this.peer.node.addEventListener('connection:close', onConnections)
    this.stopped.signal.addEventListener('abort', () => {
      this.peer.node.removeEventListener('connection:open', onConnections)
      this.peer.node.removeEventListener('connection:close', onConnections)
      clearTimeout(this.peersTimer)
    })

    this.discovery.onDial = (peer, error) => {
      if (error != null) this.safeDispatchEvent('error', { detail: new Error(`WebRTC to ${peer} failed: ${error.message}`, { cause: error }) })
    }
    // listeners attach after joinSession resolves: announce the backend on the next turn
    setTimeout(() => {
      this.safeDispatchEvent('backend', { detail: this.backend })
      this.safeDispatchEvent('peers', { detail: this.peers() })
    }, 0)
    this.session.run({ maxRounds: options.maxRounds, signal }).catch((err: Error) => {
      this.safeDispatchEvent('error', { detail: err })
    })
  }

  /** Store the document, the model and the counters; one save at a time, the latest wins. */
  private async save (): Promise<void> {
    if (this.saving != null) return
    const round = this.session.rounds
    // the version of our newest head: Session.join continues after it when the page reloads
    const version = getHead(this.session.doc, this.session.peerId)?.version ?? 0
    const state: StoredSession = { doc: encodeState(this.session.doc), snapshot: this.session.snapshot(), round, version }
    this.saving = this.peer.storage.saveSession(this.session.id, state).catch((err: Error) => {
      this.safeDispatchEvent('error', { detail: new Error(`saving progress failed: ${err.message}`, { cause: err }) })
    }).finally(() => { this.saving = undefined })
    await this.saving
  }

  async leave (): Promise<void> {
    if (this.left) return
    this.left = true
    this.stopped.abort()
    this.stopDiscovery.abort()
    await this.session.stop().catch(() => {})
    await this.saving
    this.saving = undefined
    await this.save().catch(() => {})
    await this.peer.stop()
  }
}

/**
 * Join (or, with `config`, create) a training session from a page: pick the fastest tfjs
 * backend, start a libp2p node that reaches the mesh through the bootstrap relays,
 * restore this page's earlier progress from IndexedDB, and start training. Resolves once
 * the session's config has arrived and the model is built; progress arrives as events.
 */
export async function joinSession (options: JoinSessionOptions): Promise<MurmurSession> {
  if (!isValidSessionId(options.session)) throw new InvalidOptionsError(`invalid session id "${options.session}": use 1-64 letters, digits, '.', '_' or '-'`)
  if (options.maxRounds != null && (!Number.isInteger(options.maxRounds) || options.maxRounds < 0)) throw new InvalidOptionsError(`maxRounds must be a non-negative integer, got ${options.maxRounds}`)
  const backend = await selectBackend({ backend: options.backend, wasmPaths: options.wasmPaths })
  const peer = await createBrowserPeer(options)
  // members are found before joining: the session's document (and its config) reaches a
  // page only over direct connections to other members
  const stopDiscovery = new AbortController()
  try {
    await waitForReservation(peer.node, 10_000, options.signal)
    const discovery = discoverSessionPeers(peer.node, {
      session: options.session,
      relays: peer.relays.map(String),
      signal: AbortSignal.any([stopDiscovery.signal, ...(options.signal != null ? [options.signal] : [])])
    })
    // what the dials did, so a join that times out can say why
    const dials = new Map<string, string>()
    discovery.onDial = (member, error) => { dials.set(member, error == null ? 'connected' : error.message) }
    const stored = await peer.storage.loadSession(options.session)
    const doc = createSessionDoc()
    let trainer: Trainer | undefined
    let restored = false
    if (stored != null) {
      try { applyRemoteUpdate(doc, stored.doc) } catch { /* a damaged document: the mesh holds the real one */ }
    }
    const session = new Session({
      node: peer.node,
      session: options.session,
      train: options.train,
      test: options.test,
      config: options.config,
      rule: options.rule,
      backend: backend.name,
      doc,
      // rounds done before the reload count towards maxRounds, whether or not the model fits still
      resumeRound: stored?.round,
      createTrainer: async (model) => {
        trainer = await Trainer.create(model as ModelConfig)
        if (stored != null) restored = restore(trainer, stored.snapshot)
        return trainer
      }
    })
    const joinTimeout = options.joinTimeout ?? 60_000
    try {
      await session.join({ signal: AbortSignal.any([AbortSignal.timeout(joinTimeout), ...(options.signal != null ? [options.signal] : [])]) })
    } catch (err) {
      if (options.signal?.aborted === true) throw err
      throw new SessionUnreachableError(`no config for session "${options.session}" arrived within ${joinTimeout} ms: ${describeDiscovery(peer, discovery, dials)}`, { cause: err })
    }
    let resumed: { round: number, accuracy: number } | undefined
    if (stored != null && restored && trainer != null) {
      // one pass over the held-out data tells the user (and tests) the model really came back
      resumed = { round: stored.round, accuracy: (await trainer.evaluate(options.test)).accuracy }
    }
    const handle = new BrowserSession(peer, session, backend, { discovery, stop: stopDiscovery }, resumed)
    handle.start(options)
    return handle
  } catch (err) {
    stopDiscovery.abort()
    await peer.stop().catch(() => {})
    throw err
  }
}

/** What discovery found and how its dials went, for an error message. */
function describeDiscovery (peer: BrowserPeer, discovery: SessionDiscovery, dials: ReadonlyMap<string, string>): string {
  if (discovery.members.size === 0) return 'no member of the session was found through the relays (is any peer in it? is --session right?)'
  const views = peerViews(peer.node)
  const parts = [...discovery.members].map(m => {
    const view = views.find(v => v.peerId === m)
    return `${m.slice(-8)}: ${view != null ? view.transport : 'not connected'}${dials.has(m) ? `, last dial ${dials.get(m) as string}` : ''}`
  })
  return `members found ${discovery.members.size} (${parts.join('; ')})`
}

function restore (trainer: Trainer, snapshot: ModelSnapshot): boolean {
  try {
    trainer.setSnapshot(snapshot)
    return true
  } catch {
    // the session's model changed since the save: start from fresh weights
    return false
  }
}
