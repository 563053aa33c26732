import { discoverSessionPeers } from '@murmur/browser'
import type { SessionDiscovery } from '@murmur/browser'
import { createNodePeer, initNodeBackend, loadMnist } from '@murmur/node'
import type { NodePeer } from '@murmur/node'
import { MemoryShardStore, Session, Trainer, murmurServices } from '@murmur/protocol'
import type { ModelConfig, MurmurNode, MurmurServices, RoundMetrics, SessionConfig } from '@murmur/protocol'

/** Options of `startAgents`. */
export interface StartAgentsOptions {
  /** Relay address Node peers dial (TCP). */
  bootstrap: string
  session: string
  /** @default 2 */
  count?: number
  /** Written into the session by the first agent when set. */
  config?: SessionConfig
  /** MNIST training images per agent, taken from `trainOffset` on, agent after agent. @default 2000 */
  trainPerAgent?: number
  /** @default 30000 (clear of the slices pages take from the front) */
  trainOffset?: number
  /** Held-out MNIST test images each agent evaluates on. @default 500 */
  testCount?: number
  /** Rounds each agent runs; stop() ends them earlier. @default 1000 */
  maxRounds?: number
}

/** One in-process Node agent and everything it reported. */
export interface TestAgent {
  node: NodePeer<MurmurServices>
  session: Session
  peerId: string
  rounds: RoundMetrics[]
  errors: Error[]
}

/** Running agents; `stop()` ends their sessions and nodes. */
export interface TestAgents {
  agents: TestAgent[]
  backend: string
  stop(): Promise<void>
}

/**
 * Start Node agents in this process (createNodePeer + Session, as `murmur demo` does):
 * each dials the relay, reserves a slot, listens for WebRTC, announces itself in the
 * session's rendezvous record (how pages find it), and trains its own MNIST slice.
 * They connect to each other directly over loopback TCP.
 */
export async function startAgents (options: StartAgentsOptions): Promise<TestAgents> {
  const count = options.count ?? 2
  const per = options.trainPerAgent ?? 2000
  const offset = options.trainOffset ?? 30_000
  const backend = await initNodeBackend()
  const [all, test] = await Promise.all([
    loadMnist({ split: 'train', limit: offset + count * per }),
    loadMnist({ split: 'test', limit: 10_000 })
  ])
  const testSlice = { ...test, images: test.images.slice(-784 * (options.testCount ?? 500)), labels: test.labels.slice(-(options.testCount ?? 500)), count: options.testCount ?? 500 }
  const agents: TestAgent[] = []
  const discoveries: SessionDiscovery[] = []
  const stopping = new AbortController()
  const runs: Array<Promise<void>> = []
  const stop = async (): Promise<void> => {
    stopping.abort()
    for (const d of discoveries) d.stop()
    await Promise.all(agents.map(async a => { await a.session.stop().catch(() => {}) }))
    await Promise.allSettled(runs)
    await Promise.all(agents.map(async a => { await a.node.stop() }))
  }
  try {
    for (let i = 0; i < count; i++) {
      const node = await createNodePeer({
        listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
        bootstrap: [options.bootstrap],
        bootstrapTimeout: 10_000,
        dhtMode: 'server',
        services: murmurServices({ store: new MemoryShardStore(), dhtMode: 'server' })
      }) as unknown as NodePeer<MurmurServices>
      const start = offset + i * per
      const train = { ...all, images: all.images.slice(start * 784, (start + per) * 784), labels: all.labels.slice(start, start + per), count: per }
      const session = new Session({
        node: node as unknown as MurmurNode,
        session: options.session,
        config: i === 0 ? options.config : undefined,
        createTrainer: async (m) => await Trainer.create(m as ModelConfig, { seed: 500 + i }),
        train,
        test: testSlice,
        backend: backend.backend,
        seed: 77 + i
      })
      const agent: TestAgent = { node, session, peerId: node.peerId.toString(), rounds: [], errors: [] }
      session.addEventListener('round', evt => { agent.rounds.push(evt.detail) })
      session.addEventListener('error', evt => { agent.errors.push(evt.detail) })
      agents.push(agent)
    }
    await Promise.all(agents.map(async a => await Promise.all(agents.filter(b => b !== a).map(async b => await a.node.dial(b.node.getMultiaddrs()).catch(() => {})))))
    for (const a of agents) {
      discoveries.push(discoverSessionPeers(a.node as unknown as MurmurNode, { session: options.session, relays: [options.bootstrap], signal: stopping.signal }))
    }
    // run() joins first and waits for the session's config, which may come from a page later
    for (const a of agents) {
      runs.push(a.session.run({ maxRounds: options.maxRounds ?? 1000, signal: stopping.signal }).catch((err: Error) => { a.errors.push(err) }))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { agents, backend: backend.backend, stop }
}
