import { createNodePeer, initNodeBackend, loadMnist } from '@murmur/node'
import type { NodePeer } from '@murmur/node'
import { MemoryShardStore, PeerScores, SessionPeer, murmurServices } from '@murmur/protocol'
import type { ModelConfig, MurmurNode, MurmurServices, RoundMetrics, SessionSettings } from '@murmur/protocol'

/** Options of `startAgents`. */
export interface StartAgentsOptions {
  /** Relay address Node peers dial (TCP). */
  bootstrap: string
  session: string
  /** @default 2 */
  count?: number
  /** The first agent creates the session with this model and these settings when set. */
  create?: { model: ModelConfig, settings?: SessionSettings }
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
  /** Set once the agent has joined (joining waits for the session's config, which a page may bring later). */
  session?: SessionPeer
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
  const testSlice = { ...test, xs: test.xs.slice(-784 * (options.testCount ?? 500)), ys: test.ys.slice(-(options.testCount ?? 500)), count: options.testCount ?? 500 }
  const agents: TestAgent[] = []
  const scores: PeerScores[] = []
  const stopping = new AbortController()
  const runs: Array<Promise<void>> = []
  const stop = async (): Promise<void> => {
    // the signal gives up joins still waiting for a config and leaves the joined sessions
    stopping.abort()
    await Promise.all(agents.map(async a => { await a.session?.leave().catch(() => {}) }))
    await Promise.allSettled(runs)
    await Promise.all(agents.map(async a => { await a.node.stop() }))
  }
  try {
    for (let i = 0; i < count; i++) {
      const score = new PeerScores()
      scores.push(score)
      const node = await createNodePeer({
        listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit', '/webrtc'],
        bootstrap: [options.bootstrap],
        bootstrapTimeout: 10_000,
        dhtMode: 'server',
        scores: score,
        services: murmurServices({ store: new MemoryShardStore(), dhtMode: 'server', appSpecificScore: score.gossipScore })
      }) as unknown as NodePeer<MurmurServices>
      agents.push({ node, peerId: node.peerId.toString(), rounds: [], errors: [] })
    }
    await Promise.all(agents.map(async a => await Promise.all(agents.filter(b => b !== a).map(async b => await a.node.dial(b.node.getMultiaddrs()).catch(() => {})))))
    // joining waits for the session's config, which may come from a page later: in the background
    agents.forEach((a, i) => {
      const start = offset + i * per
      const train = { ...all, xs: all.xs.slice(start * 784, (start + per) * 784), ys: all.ys.slice(start, start + per), count: per }
      runs.push((async () => {
        const session = await SessionPeer.start({
          node: a.node as unknown as MurmurNode,
          scores: scores[i],
          session: options.session,
          ...(i === 0 && options.create != null ? { model: options.create.model, create: options.create.settings ?? true } : {}),
          train,
          test: testSlice,
          backend: backend.backend,
          seed: 77 + i,
          trainerSeed: 500 + i,
          relays: [options.bootstrap],
          maxRounds: options.maxRounds ?? 1000,
          joinTimeout: 120_000,
          pace: { minPeers: 0 },
          signal: stopping.signal
        })
        a.session = session
        session.addEventListener('round', evt => { a.rounds.push(evt.detail) })
        session.addEventListener('error', evt => { a.errors.push(evt.detail) })
        await session.done
      })().catch((err: Error) => { if (!stopping.signal.aborted) a.errors.push(err) }))
    })
  } catch (err) {
    await stop()
    throw err
  }
  return { agents, backend: backend.backend, stop }
}
