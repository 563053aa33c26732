import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mnistMlp } from '@murmur/protocol'
import type { Dataset, ModelConfig } from '@murmur/protocol'
import { DemoFleet } from './fleet.js'
import type { RoundObserver } from './fleet.js'
import { startDemoServer } from './server.js'
import type { DemoServer } from './server.js'
import { runRelay } from '../relay/relay.js'
import type { Relay } from '../relay/relay.js'
import { loadMnist, initNodeBackend } from '../data/index.js'

/** The session the demo's agents and pages join. */
export const DEMO_SESSION = 'disaster-relief-demo'

/** Options of `runDemo` and `startDemo`. */
export interface DemoOptions {
  /** @default 4 */
  agents?: number
  /**
   * Rounds each agent trains; 0 runs until stopped.
   * @default 30 without the web app, 0 with it
   */
  rounds?: number
  /** Training images spread over the agents. @default 12000 */
  trainSamples?: number
  /** Held-out images each peer evaluates on. @default 1000 */
  testSamples?: number
  /** Serve the web app and its control API. @default true */
  web?: boolean
  /** Port of the web app on `host`; 0 picks a free one. @default 8080 */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** The built web app. @default demos/disaster-relief/dist of this repository */
  webRoot?: string
  /** Images each browser tab trains on (tabs get distinct slices of a pool of 8 such). @default 1000 */
  browserSamples?: number
  /** Pause between an agent's rounds (ms), so the demo is watchable and leaves CPU for the tabs. @default 0 without the web app, 400 with it */
  roundDelay?: number
  /** The session's model. @default the MNIST MLP, 20 local steps of 32 */
  model?: ModelConfig
  /** Where progress lines go. @default console.log */
  print?(line: string): void
  signal?: AbortSignal
}

/** A started demo: relay, agents and (unless `web: false`) the web server. */
export interface RunningDemo {
  relay: Relay
  fleet: DemoFleet
  server?: DemoServer
  /** The web app's address, when served. */
  url?: string
  train: Dataset
  test: Dataset
  stop(): Promise<void>
}

/** demos/disaster-relief/dist, found by walking up from this file (it runs from src in tests, from dist when built). */
export function defaultWebRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'demos', 'disaster-relief'))) return join(dir, 'demos', 'disaster-relief', 'dist')
    dir = dirname(dir)
  }
  return join(process.cwd(), 'demos', 'disaster-relief', 'dist')
}

function view (data: Dataset, offset: number, count: number): Dataset {
  const f = data.inputShape.reduce((a, b) => a * b, 1)
  // views, not copies: the pool is loaded once and sliced for agents and pages
  const t = data.targetShape.reduce((a, b) => a * b, 1)
  return { ...data, xs: data.xs.subarray(offset * f, (offset + count) * f), ys: data.ys.subarray(offset * t, (offset + count) * t), count }
}

/**
 * Start the demo and return at once: the web server first (so a busy port fails before
 * anything else starts), then a `murmur relay` on loopback and the agents, each on its
 * own slice of MNIST, merging with variance-corrected averaging.
 */
export async function startDemo (options: DemoOptions = {}): Promise<RunningDemo> {
  const print = options.print ?? ((line: string) => { console.log(line) })
  const n = options.agents ?? 4
  const web = options.web ?? true
  const trainSamples = options.trainSamples ?? 12_000
  const browserSamples = options.browserSamples ?? 1000
  const backend = await initNodeBackend()
  print(`tfjs backend: ${backend.backend} (chosen by a 256×256 matmul probe: ${Object.entries(backend.timings).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')})`)
  const [pool, test] = await Promise.all([
    loadMnist({ split: 'train', limit: trainSamples + (web ? 8 * browserSamples : 0) }),
    loadMnist({ split: 'test', limit: options.testSamples ?? 1000 })
  ])
  const train = view(pool, 0, Math.min(trainSamples, pool.count))
  const browserTrain = web ? view(pool, train.count, pool.count - train.count) : view(pool, 0, 0)

  const relay = await runRelay({ host: options.host ?? '127.0.0.1', webrtcDirect: false })
  print(`relay listening: ${relay.addrs.join('  ')}`)
  const model = options.model ?? mnistMlp({ localSteps: 20, batchSize: 32 })
  const fleet = new DemoFleet({
    relayAddrs: relay.addrs,
    session: DEMO_SESSION,
    train,
    test,
    samplesPerAgent: Math.max(1, Math.floor(train.count / Math.max(1, n))),
    model,
    settings: { averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp16' },
    backend: backend.backend,
    rounds: options.rounds ?? (web ? 0 : 30),
    roundDelay: options.roundDelay ?? (web ? 400 : 0),
    onError: (agent, err) => { print(`${agent}: ${err.message}`) }
  })
  let server: DemoServer | undefined
  try {
    if (web) {
      server = await startDemoServer({ fleet, session: DEMO_SESSION, relayAddrs: relay.addrs, browserTrain, browserSamples, test, webRoot: options.webRoot ?? defaultWebRoot(), host: options.host, port: options.port })
    }
    for (let i = 0; i < n; i++) {
      const agent = await fleet.add()
      print(`${agent.name}: ${agent.peerId} with ${agent.samples} private training images`)
    }
  } catch (err) {
    await fleet.stop()
    await server?.stop()
    await relay.stop()
    throw err
  }
  return {
    relay,
    fleet,
    server,
    url: server?.url,
    train,
    test,
    stop: async () => {
      await server?.stop()
      await fleet.stop()
      await relay.stop()
    }
  }
}

/**
 * The README's first command: a relay on loopback, several agents training MNIST together
 * through it, and the web app to watch and disturb them. Prints each agent's accuracy
 * round by round; returns when the rounds are done or `signal` aborts.
 */
export async function runDemo (options: DemoOptions = {}): Promise<void> {
  const print = options.print ?? ((line: string) => { console.log(line) })
  const demo = await startDemo({ ...options, print })
  try {
    if (demo.url != null) print(`\nopen ${demo.url} to watch the mesh learn (each browser tab joins as one more responder's device); Ctrl-C stops\n`)
    const table = roundTable(print)
    demo.fleet.setObserver(table.onRound)
    const aborted = new Promise<void>(resolve => {
      if (options.signal?.aborted === true) resolve()
      options.signal?.addEventListener('abort', () => { resolve() }, { once: true })
    })
    await Promise.race([demo.fleet.done(), aborted])
    const final = demo.fleet.list().map(a => a.accuracy ?? 0)
    if (final.length > 0) {
      print(`\nafter ${table.printed()} rounds: mean test accuracy ${(final.reduce((a, b) => a + b, 0) / final.length * 100).toFixed(1)} % on ${demo.test.count} held-out images; each agent saw only its own ${Math.floor(demo.train.count / Math.max(1, options.agents ?? 4))} images`)
    }
  } finally {
    await demo.stop()
  }
}

/** Prints a row each time the furthest agent finishes a round (agents added later start behind); a new header when the roster changes. */
function roundTable (print: (line: string) => void): { onRound: RoundObserver, printed(): number } {
  let printed = 0
  let header = ''
  return {
    printed: () => printed,
    onRound: (names, rounds) => {
      const done = Math.max(...names.map(n => rounds.get(n)?.round ?? 0))
      if (done <= printed) return
      printed = done
      const head = `round  ${names.map(n => n.padEnd(20)).join('')}`
      if (head !== header) {
        header = head
        print(`\n${head}`)
      }
      print(`${String(done).padStart(5)}  ${names.map(n => {
        const m = rounds.get(n)
        return `${((m?.accuracy ?? 0) * 100).toFixed(1).padStart(5)} % (${m?.mergedWith.length ?? 0} merged)`.padEnd(20)
      }).join('')}`)
    }
  }
}
