/**
 * `joinSession` for Node: what differs from a page is only here — TCP/WebSockets/WebRTC
 * transports and DCUtR (`runAgent`), the relay-then-upgrade dial, a data directory that
 * keeps the identity, shards, session log and checkpoints across `kill -9`, and the tfjs
 * WASM/cpu backend. Everything else is protocol's `SessionPeer`.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { MemoryShardStore, SessionPeer, createSessionDoc, relayPeerIds } from '@murmur/protocol'
import type { CheckpointStore, SessionPeerInit, ShardStore } from '@murmur/protocol'
import { initNodeBackend, registerFileSystemRouter } from '../data/index.js'
import { checkFolderStore, lockDataDir, openFolderStore } from '../storage/folder-store.js'
import type { StoreCheck } from '../storage/folder-store.js'
import { persistDoc } from '../storage/doc-log.js'
import type { PersistedDoc } from '../storage/doc-log.js'
import { ModelCheckpoints } from '../storage/checkpoints.js'
import { runAgent } from './agent.js'
import type { Agent, AgentEvent, AgentOptions } from './agent.js'
import { agentDial } from './discovery.js'

/** Options of Node's `joinSession`: the front door's, plus where and how this agent runs. */
export interface NodeJoinOptions extends Omit<SessionPeerInit, 'node' | 'dial' | 'relays' | 'checkpoints' | 'doc' | 'backend' | 'onLeave'>,
  Pick<AgentOptions, 'listen' | 'iceServers' | 'bootstrapTimeout' | 'reservationTimeout'> {
  /** `murmur relay` addresses with `/p2p/<id>`; at least one. */
  bootstrap: string[]
  /**
   * Keep the identity, shards, session log and checkpoints here: a restarted agent resumes
   * with the same peer id from its last good checkpoint. @default nothing kept
   */
  dataDir?: string
  /** tfjs backend; by default the faster of WASM and cpu on a short probe. */
  backend?: 'wasm' | 'cpu'
  /** Network and storage events (what `murmur agent` prints). */
  onEvent?: (event: NodeAgentEvent) => void
}

/** What a Node session peer reports beyond the session's own events. */
export type NodeAgentEvent =
  | AgentEvent
  | { type: 'backend', backend: string, fallbackReason?: string }
  | { type: 'storage', shards: StoreCheck, checkpoints: StoreCheck & { orphans: number }, doc: { records: number, droppedBytes: number, skipped: number } }
  | { type: 'warning', message: string }

/** A Node session peer: the front door's `SessionPeer`, with the agent under it. */
export interface NodeSessionPeer extends SessionPeer {
  /** The network agent (node, `connect` to a peer by id or address). */
  readonly agent: Agent
  /** The tfjs backend in use. */
  readonly backend: string
}

/**
 * Join (or, with `create`, start) a session from Node: start an agent through the relays,
 * open the data directory, resume from its checkpoint, and train. Resolves once joined.
 */
export async function joinSession (options: NodeJoinOptions): Promise<NodeSessionPeer> {
  const emit = options.onEvent ?? (() => {})
  // file:// models in and out (tf.loadLayersModel, peer.save): pure tfjs has no handler for them in Node
  registerFileSystemRouter()
  const backend = await initNodeBackend(options.backend)
  emit({ type: 'backend', backend: backend.backend, ...(backend.fallbackReason != null ? { fallbackReason: backend.fallbackReason } : {}) })
  if (backend.fallbackReason != null) emit({ type: 'warning', message: backend.fallbackReason })

  const doc = createSessionDoc()
  let store: ShardStore = new MemoryShardStore()
  let persisted: PersistedDoc | undefined
  let checkpoints: CheckpointStore | undefined
  let unlock: (() => Promise<void>) | undefined
  const release = async (): Promise<void> => {
    await persisted?.close().catch(() => {})
    await unlock?.()
  }
  try {
    if (options.dataDir != null) {
      await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
      unlock = await lockDataDir(options.dataDir)
      const shards = await openFolderStore(join(options.dataDir, 'shards'))
      const shardCheck = await checkFolderStore(shards)
      store = shards.store
      const opened = await ModelCheckpoints.open(options.dataDir)
      checkpoints = opened.checkpoints.asCheckpointStore()
      persisted = await persistDoc(doc, join(options.dataDir, `session-${options.session}.log`), {
        onError: err => { emit({ type: 'warning', message: `session log: ${err.message}` }) }
      })
      emit({ type: 'storage', shards: shardCheck, checkpoints: opened.check, doc: { records: persisted.loaded, droppedBytes: persisted.droppedBytes, skipped: persisted.skipped } })
    }
    const relays = relayPeerIds(options.bootstrap)
    let agent: Agent | undefined
    const { bootstrap, dataDir, listen, iceServers, bootstrapTimeout, reservationTimeout, onEvent: _onEvent, backend: _backend, ...session } = options
    const peer = await SessionPeer.start({
      ...session,
      node: async ({ scores }) => {
        agent = await runAgent({ bootstrap, session: options.session, dataDir, listen, iceServers, bootstrapTimeout, reservationTimeout, store, scores, onEvent: emit })
        return agent.node
      },
      // runAgent waited for the reservation already (and said how it went)
      reservationTimeout: 0,
      dial: async (member, addrs, dialOptions) => {
        if (agent == null) throw new Error('agent not started')
        await agentDial(agent, relays)(member, addrs, dialOptions)
      },
      relays: bootstrap,
      checkpoints,
      doc,
      backend: backend.backend,
      onLeave: release
    })
    return Object.assign(peer, { agent: agent as Agent, backend: backend.backend })
  } catch (err) {
    await release()
    throw err
  }
}
