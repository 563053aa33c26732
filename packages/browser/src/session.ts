/**
 * `joinSession`: a page becomes a full member of a training session. Everything a peer does
 * is protocol's `SessionPeer`, the same front door Node agents go through; this file
 * supplies only what a page has that an agent does not: WebSockets/WebRTC transports,
 * IndexedDB storage, the tfjs backend chosen by measuring, and dialling members over WebRTC.
 */
import { TypedEventEmitter } from '@libp2p/interface'
import { PeerScores, SessionPeer } from '@murmur/protocol'
import type { RoundMetrics, SessionPeerEvents, SessionPeerInit } from '@murmur/protocol'
import { selectBackend } from './backend.js'
import type { BackendPreference, BackendReport, WasmPaths } from './backend.js'
import { peerViews } from './connections.js'
import type { PeerView } from './connections.js'
import { webrtcDial } from './discovery.js'
import { InvalidOptionsError } from './errors.js'
import { createBrowserPeer } from './peer.js'
import type { BrowserPeerOptions } from './peer.js'

/** Options of `joinSession`: the front door's (model, data, create, pacing…), plus the page's own. */
export interface JoinSessionOptions extends Omit<SessionPeerInit, 'node' | 'dial' | 'relays' | 'checkpoints' | 'doc' | 'backend' | 'onLeave' | 'scores'>,
  Pick<BrowserPeerOptions, 'storage' | 'storageName' | 'iceServers' | 'bootstrapTimeout'> {
  /** `murmur relay` addresses a browser can dial (`/ws`, `/wss` or `/webrtc-direct`, ending in `/p2p/<relay id>`). */
  bootstrap: string[]
  /** @default 'auto' (measure and pick the fastest) */
  backend?: BackendPreference
  /** Where tfjs finds its .wasm files (see the README's bundler notes). */
  wasmPaths?: WasmPaths
  /** Aborting it leaves the session. */
  signal?: AbortSignal
}

/** Events of a `MurmurSession`: the session peer's, plus the page's connections and backend. */
export interface MurmurSessionEvents extends SessionPeerEvents {
  /** Connected peers changed (once per burst of opens/closes). */
  peers: CustomEvent<PeerView[]>
  backend: CustomEvent<BackendReport>
}

/** A page's membership of a session. */
export interface MurmurSession extends TypedEventEmitter<MurmurSessionEvents> {
  /** The front door's session peer: `model()`, `save()`, `snapshot()`, `rounds`, `doc`. */
  readonly peer: SessionPeer
  readonly peerId: string
  readonly node: SessionPeer['node']
  readonly doc: SessionPeer['doc']
  readonly backend: BackendReport
  /** Set when the page carried on from storage: rounds done before, and the restored model's metrics on `test`. */
  readonly resumed?: { round: number, accuracy: number, metrics: Record<string, number> }
  /** Connected peers, best connection each. */
  peers(): PeerView[]
  /** Stop training, save progress, leave the session and stop the node. */
  leave(): Promise<void>
}

const FORWARDED = ['round', 'merged', 'metrics', 'peer:join', 'peer:leave', 'ready', 'resume', 'resume-failed', 'error', 'checkpoint', 'reservation-missing'] as const

class BrowserSession extends TypedEventEmitter<MurmurSessionEvents> implements MurmurSession {
  readonly peer: SessionPeer
  readonly backend: BackendReport
  private peersTimer?: ReturnType<typeof setTimeout>
  private left = false

  constructor (peer: SessionPeer, backend: BackendReport) {
    super()
    this.peer = peer
    this.backend = backend
    for (const type of FORWARDED) {
      peer.addEventListener(type, (evt: CustomEvent) => { this.safeDispatchEvent(type, { detail: evt.detail as never }) })
    }
    const onConnections = (): void => {
      // connections open and close in bursts (identify, upgrades): tell listeners once per burst
      clearTimeout(this.peersTimer)
      this.peersTimer = setTimeout(() => { if (!this.left) this.safeDispatchEvent('peers', { detail: this.peers() }) }, 100)
    }
    peer.node.addEventListener('connection:open', onConnections)
    peer.node.addEventListener('connection:close', onConnections)
    // listeners attach after joinSession resolves: announce the backend on the next turn
    setTimeout(() => {
      this.safeDispatchEvent('backend', { detail: this.backend })
      this.safeDispatchEvent('peers', { detail: this.peers() })
    }, 0)
  }

  get resumed (): MurmurSession['resumed'] {
    const r = this.peer.resumed
    return r != null ? { round: r.round, accuracy: r.metrics.accuracy ?? Number.NaN, metrics: r.metrics } : undefined
  }

  get peerId (): string { return this.peer.peerId }
  get node (): SessionPeer['node'] { return this.peer.node }
  get doc (): SessionPeer['doc'] { return this.peer.doc }

  peers (): PeerView[] { return peerViews(this.peer.node) }

  async leave (): Promise<void> {
    if (this.left) return
    this.left = true
    clearTimeout(this.peersTimer)
    await this.peer.leave()
  }
}

/**
 * Join (or, with `create`, start) a training session from a page: pick the fastest tfjs
 * backend, start a libp2p node that reaches the mesh through the bootstrap relays,
 * carry on from this page's stored progress, and train. Resolves once the session's config
 * has arrived and the model is built; progress arrives as events.
 */
export async function joinSession (options: JoinSessionOptions): Promise<MurmurSession> {
  if (options.bootstrap == null || options.bootstrap.length === 0) throw new InvalidOptionsError('bootstrap is empty: pass at least one `murmur relay` address, e.g. /ip4/127.0.0.1/tcp/4002/ws/p2p/12D3KooW...')
  const backend = await selectBackend({ backend: options.backend, wasmPaths: options.wasmPaths })
  const scores = new PeerScores()
  const browser = await createBrowserPeer({ ...options, scores })
  const { bootstrap, storage: _storage, storageName: _name, iceServers: _ice, bootstrapTimeout: _timeout, wasmPaths: _wasm, backend: _backend, signal, ...session } = options
  try {
    const peer = await SessionPeer.start({
      ...session,
      ...(signal != null ? { signal } : {}),
      node: browser.node,
      scores,
      relays: bootstrap,
      dial: webrtcDial(browser.node, bootstrap),
      checkpoints: browser.storage.checkpoints,
      backend: backend.name,
      onLeave: async () => { await browser.stop() }
    })
    const handle = new BrowserSession(peer, backend)
    signal?.addEventListener('abort', () => { void handle.leave() }, { once: true })
    return handle
  } catch (err) {
    await browser.stop().catch(() => {})
    throw err
  }
}

export type { RoundMetrics }
