import { Session, Trainer, MemoryShardStore, murmurServices, mnistMlp, partitionIid, subset } from '@murmur/protocol'
import type { ModelConfig, RoundMetrics, MurmurServices } from '@murmur/protocol'
import { createNodePeer } from './peer.js'
import type { NodePeer } from './peer.js'
import { runRelay } from './relay.js'
import { loadMnist, initNodeBackend } from './data/index.js'

/** Options of `runDemo`. */
export interface DemoOptions {
  /** @default 4 */
  agents?: number
  /** Rounds each agent trains; 0 runs until stopped. @default 30 */
  rounds?: number
  /** Training images spread over the agents. @default 12000 */
  trainSamples?: number
  /** Held-out images each agent evaluates on. @default 1000 */
  testSamples?: number
  /** Where progress lines go. @default console.log */
  print?(line: string): void
  signal?: AbortSignal
}

/**
 * The README's first command: a `murmur relay` on loopback and several agents that join
 * one session through it, each training on its own slice of MNIST and merging its
 * neighbours' models with variance-corrected averaging. Prints each agent's accuracy
 * round by round.
 */
export async function runDemo (options: DemoOptions = {}): Promise<void> {
  const print = options.print ?? ((line: string) => { console.log(line) })
  const n = options.agents ?? 4
  const rounds = options.rounds ?? 30
  const backend = await initNodeBackend()
  print(`tfjs backend: ${backend.backend} (chosen by a 256×256 matmul probe: ${Object.entries(backend.timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')})`)
  const [train, test] = await Promise.all([loadMnist({ split: 'train', limit: options.trainSamples ?? 12_000 }), loadMnist({ split: 'test', limit: options.testSamples ?? 1000 })])

  const relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
  print(`relay listening: ${relay.addrs.join('  ')}`)
  const bootstrap = relay.addrs.filter(a => a.includes('/tcp/') && !a.includes('/ws'))
  const agents: Array<NodePeer<MurmurServices>> = []
  const sessions: Session[] = []
  const model: ModelConfig = mnistMlp({ localSteps: 20, batchSize: 32 })
  const parts = partitionIid(train.labels, n, 42)
  try {
    for (let i = 0; i < n; i++) {
      const node = await createNodePeer({
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap,
        dhtMode: 'server',
        services: murmurServices({ store: new MemoryShardStore() })
      }) as unknown as NodePeer<MurmurServices>
      agents.push(node)
      sessions.push(new Session({
        node,
        session: 'disaster-relief-demo',
        config: i === 0 ? { model, averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp16' } : undefined,
        createTrainer: async (m) => Trainer.create(m as ModelConfig, { seed: 1000 + i }),
        train: subset(train, parts[i] ?? []),
        test,
        backend: backend.backend,
        seed: i
      }))
      print(`agent ${i}: ${node.peerId.toString()} with ${parts[i]?.length ?? 0} private training images`)
    }
    // agents find each other through the relay (DHT + gossip); let them connect directly
    await Promise.all(agents.map(async a => Promise.all(agents.filter(b => b !== a).map(async b => a.dial(b.getMultiaddrs()).catch(() => {})))))
    await Promise.all(sessions.map(async s => s.join({ signal: AbortSignal.timeout(30_000) })))
    print(`\nround  ${sessions.map((_, i) => `agent ${i}`.padEnd(20)).join('')}`)
    const latest: Array<RoundMetrics | undefined> = sessions.map(() => undefined)
    let printed = 0
    sessions.forEach((s, i) => s.addEventListener('round', (evt) => {
      latest[i] = evt.detail
      const done = Math.min(...latest.map(m => m?.round ?? 0))
      if (done > printed) {
        printed = done
        print(`${String(done).padStart(5)}  ${latest.map(m => `${((m?.accuracy ?? 0) * 100).toFixed(1).padStart(5)} % (${m?.mergedWith.length ?? 0} merged)`.padEnd(20)).join('')}`)
      }
    }))
    await Promise.all(sessions.map(async s => s.run({ maxRounds: rounds > 0 ? rounds : undefined, signal: options.signal })))
    const final = latest.map(m => m?.accuracy ?? 0)
    print(`\nafter ${printed} rounds: mean test accuracy ${(final.reduce((a, b) => a + b, 0) / final.length * 100).toFixed(1)} % on ${test.count} held-out images; each agent saw only its own ${Math.floor(train.count / n)} images`)
  } finally {
    await Promise.all(sessions.map(async s => s.stop().catch(() => {})))
    await Promise.all(agents.map(async a => { await a.stop() }))
    await relay.stop()
  }
}
