/**
 * Distribute a model from one seeder to N peers, every peer's upload shaped to the same
 * rate, and compare the time with the swarm ideal (size / rate: every byte leaves the
 * seeder once and peers forward the rest) and with one seeder serving everyone
 * (N × size / rate).
 *
 *   node dist/distribution.bench.js            # 64 MiB to 8 and 16 peers, one process each, TCP on loopback
 *   MURMUR_BENCH_MIB=16 MURMUR_BENCH_PEERS=4,8 MURMUR_BENCH_RATE_MIB=1 node dist/distribution.bench.js
 *   MURMUR_BENCH_TRANSPORT=memory node dist/distribution.bench.js   # every peer in this one process
 *
 * The CPU column says how busy the machine's cores were (all processes together): near
 * 100 % the run measured the CPUs, not the shaped links (lower the rate).
 */
import { availableParallelism } from 'node:os'
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createModelContent } from '@murmur/protocol'
import { createMemoryPeer } from '@murmur/node/sim'
import type { MemoryPeer } from '@murmur/node/sim'
import { randomModel } from './distribution-peer.js'
import type { FromPeer, ToPeer } from './distribution-peer.js'

const MIB = 1024 * 1024
const sizeMib = Number(process.env.MURMUR_BENCH_MIB ?? 64)
const peerCounts = (process.env.MURMUR_BENCH_PEERS ?? '8,16').split(',').map(Number)
const rateMib = Number(process.env.MURMUR_BENCH_RATE_MIB ?? 0.25)
const transport = process.env.MURMUR_BENCH_TRANSPORT ?? 'tcp'

interface Outcome { n: number, seconds: number, ideal: number, single: number, fromSeeder: number, cpu: number }

/** Everyone knows the seeder and a few others: the peers peer `i` (1..n) dials. */
function targets (i: number, n: number): number[] {
  const t = new Set([0, ((i % n) + 1), (((i + 2) % n) + 1)])
  t.delete(i)
  return [...t]
}

/** Print blocks held per peer every 15 s: a peer stuck at 0 while others finish is starvation. */
function ticker (done: number[], blocks: number, t0: number): () => void {
  const n = done.length
  const timer = setInterval(() => {
    const sorted = done.slice().sort((a, b) => a - b)
    console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: blocks per peer min ${sorted[0]}, median ${sorted[Math.floor(n / 2)]}, max ${sorted[n - 1]} of ${blocks}`)
  }, 15_000)
  return () => { clearInterval(timer) }
}

/** One peer process and its messages. */
class PeerProcess {
  readonly child: ChildProcess
  private readonly waiting: Array<{ type: FromPeer['type'], resolve: (m: FromPeer) => void }> = []
  onProgress?: (done: number) => void

  constructor (rate: number) {
    this.child = fork(fileURLToPath(new URL('./distribution-peer.js', import.meta.url)), [], {
      env: { ...process.env, MURMUR_BENCH_RATE_BYTES: String(rate) },
      serialization: 'advanced'
    })
    this.child.on('message', (m: FromPeer) => {
      if (m.type === 'progress') { this.onProgress?.(m.done); return }
      if (m.type === 'failed') { console.error(`peer process failed: ${m.message}`); process.exit(1) }
      const i = this.waiting.findIndex(w => w.type === m.type)
      if (i !== -1) this.waiting.splice(i, 1)[0]?.resolve(m)
    })
    this.child.on('exit', code => { if (code !== 0 && code != null) { console.error(`peer process exited with ${code}`); process.exit(1) } })
  }

  /** The next message of `type`. */
  async next<T extends FromPeer['type']> (type: T): Promise<Extract<FromPeer, { type: T }>> {
    return new Promise(resolve => { this.waiting.push({ type, resolve: resolve as (m: FromPeer) => void }) })
  }

  async ask<T extends FromPeer['type']> (m: ToPeer, reply: T): Promise<Extract<FromPeer, { type: T }>> {
    const answer = this.next(reply)
    this.child.send(m)
    return answer
  }
}

/** N + 1 peer processes over TCP on loopback. */
async function runProcesses (n: number): Promise<Outcome> {
  const rate = rateMib * MIB
  const peers = Array.from({ length: n + 1 }, () => new PeerProcess(rate))
  try {
    const ready = await Promise.all(peers.map(async p => p.next('ready')))
    const seeder = peers[0] as PeerProcess
    // one peer at a time: libp2p refuses more than 5 inbound connections a second from one host
    for (let i = 1; i <= n; i++) {
      const addrs = targets(i, n).map(j => (ready[j] as Extract<FromPeer, { type: 'ready' }>).addrs[0] as string)
      const { failed } = await (peers[i] as PeerProcess).ask({ type: 'dial', addrs }, 'dialed')
      if (failed > 0) throw new Error(`peer ${i} could not dial ${failed} of ${addrs.length} peers`)
      await new Promise(resolve => setTimeout(resolve, 700))
    }
    // after the dials, so the DHT has peers to hold the seeder's provider records
    const published = await seeder.ask({ type: 'publish', mib: sizeMib }, 'published')
    const cpu0 = await Promise.all(peers.map(async p => p.ask({ type: 'usage' }, 'usage')))
    const done = new Array<number>(n).fill(0)
    peers.slice(1).forEach((p, i) => { p.onProgress = d => { done[i] = d } })
    const t0 = performance.now()
    const stop = ticker(done, published.blocks, t0)
    const results = await Promise.all(peers.slice(1).map(async p => p.ask({ type: 'fetch', manifest: published.manifest }, 'fetched'))).finally(stop)
    const seconds = (performance.now() - t0) / 1000
    const cpu1 = await Promise.all(peers.map(async p => p.ask({ type: 'usage' }, 'usage')))
    const cpuMs = cpu1.reduce((s, u, i) => s + u.cpuMs - (cpu0[i]?.cpuMs ?? 0), 0)
    const stats = await Promise.all(peers.map(async p => p.ask({ type: 'stats' }, 'stats')))
    const sum = (k: 'served' | 'busy' | 'notFound' | 'haveQueries'): number => stats.reduce((s, x) => s + x[k], 0)
    const served = stats.slice(1).map(x => x.served).sort((a, b) => a - b)
    console.error(`  answers: ${sum('served')} blocks (seeder ${stats[0]?.served}, other peers min ${served[0]} / median ${served[Math.floor(n / 2)]} / max ${served[n - 1]}), ${sum('busy')} BUSY, ${sum('notFound')} NOT_FOUND, ${sum('haveQueries')} HAVE; ${results.reduce((s, r) => s + r.retries, 0)} re-requests`)
    const seederId = (ready[0] as Extract<FromPeer, { type: 'ready' }>).peerId
    const total = results.reduce((s, r) => s + r.shards, 0)
    const fromSeeder = results.reduce((s, r) => s + (r.servedBy[seederId] ?? 0), 0) / total
    return { n, seconds, ideal: published.bytes / rate, single: n * published.bytes / rate, fromSeeder, cpu: cpuMs / 1000 / seconds / availableParallelism() }
  } finally {
    await Promise.all(peers.map(async p => {
      const exited = new Promise(resolve => p.child.once('exit', resolve))
      p.child.send({ type: 'stop' })
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))])
      p.child.kill('SIGKILL')
    }))
  }
}

/** N + 1 peers over the memory transport in this process. */
async function runInProcess (n: number): Promise<Outcome> {
  const rate = rateMib * MIB
  const peers: MemoryPeer[] = await Promise.all(Array.from({ length: n + 1 }, async () => createMemoryPeer({ shards: { uploadBytesPerSecond: rate } })))
  try {
    // a well-connected swarm: everyone knows the seeder and a few others
    for (let i = 1; i <= n; i++) {
      for (const j of targets(i, n)) await peers[i]?.dial((peers[j] as MemoryPeer).getMultiaddrs())
    }
    const content = await createModelContent(randomModel(sizeMib), { architecture: '{}', modelId: 'bench' })
    const seeder = peers[0] as MemoryPeer
    await seeder.services.shards.publish(content)
    await seeder.services.shards.announced()
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    // a session member names the head's author and the peers it gossips with: the
    // neighbours fetch the same model and become providers as they go
    const done = new Array<number>(n).fill(0)
    const blocks = content.shards.length
    const stop = ticker(done, blocks, t0)
    const results = await Promise.all(peers.slice(1).map(async (p, i) => p.services.shards.fetchManifest(content.manifestCid, {
      providers: [seeder.peerId, ...p.getPeers()],
      stallTimeout: 300_000,
      requestTimeout: 60_000,
      onProgress: progress => { done[i] = progress.shardsDone }
    }))).finally(stop)
    const seconds = (performance.now() - t0) / 1000
    const used = process.cpuUsage(cpu0)
    const cpu = (used.user + used.system) / 1e6 / seconds / availableParallelism()
    const total = results.reduce((s, r) => s + r.result.shards, 0)
    const fromSeeder = results.reduce((s, r) => s + (r.result.servedBy[seeder.peerId.toString()] ?? 0), 0) / total
    const bytes = content.shards.reduce((s, x) => s + x.bytes.length, 0)
    return { n, seconds, ideal: bytes / rate, single: n * bytes / rate, fromSeeder, cpu }
  } finally {
    await Promise.all(peers.map(async p => p.stop()))
  }
}

const where = transport === 'memory' ? 'every peer in this process, memory transport' : 'one process per peer, TCP on loopback'
console.log(`Distributing ${sizeMib} MiB, every peer's upload shaped to ${rateMib} MiB/s (shardExchange's upload queue); ${where}\n`)
console.log('| peers | time (s) | swarm ideal (s) | time / ideal | single seeder (s) | time / single seeder | blocks from seeder | CPU (all cores) |')
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const n of peerCounts) {
  const r = transport === 'memory' ? await runInProcess(n) : await runProcesses(n)
  console.log(`| ${r.n} | ${r.seconds.toFixed(1)} | ${r.ideal.toFixed(1)} | ${(r.seconds / r.ideal).toFixed(2)}× | ${r.single.toFixed(1)} | ${(r.seconds / r.single).toFixed(2)}× | ${(r.fromSeeder * 100).toFixed(0)} % | ${(r.cpu * 100).toFixed(0)} % |`)
}
