/**
 * Distribute a model from one seeder to N peers, every peer's upload shaped to the same
 * rate, and compare the time with the swarm ideal (size / rate: every byte leaves the
 * seeder once and peers forward the rest) and with one seeder serving everyone
 * (N × size / rate).
 *
 *   node dist/distribution.bench.js            # 64 MiB to 8 and 16 peers
 *   MURMUR_BENCH_MIB=16 MURMUR_BENCH_PEERS=4,8 node dist/distribution.bench.js
 *
 * Every peer lives in this one process, so the CPU column says how busy the machine's
 * cores were: near 100 % the run measured the CPUs, not the shaped links (lower the rate).
 */
import { availableParallelism } from 'node:os'
import { createModelContent } from '@murmur/protocol'
import type { ModelSnapshot } from '@murmur/protocol'
import { createMemoryPeer } from '@murmur/node'
import type { MemoryPeer } from '@murmur/node'

const MIB = 1024 * 1024
const sizeMib = Number(process.env.MURMUR_BENCH_MIB ?? 64)
const peerCounts = (process.env.MURMUR_BENCH_PEERS ?? '8,16').split(',').map(Number)
const rateMib = Number(process.env.MURMUR_BENCH_RATE_MIB ?? 4)

function randomModel (mib: number): ModelSnapshot {
  const n = Math.floor(mib * MIB / 4)
  const data = new Float32Array(n)
  let s = 1
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; data[i] = s / 2 ** 32 }
  return { tensors: [{ name: 'big/kernel', shape: [n], kind: 'weight', data }] }
}

async function run (n: number): Promise<{ n: number, seconds: number, ideal: number, single: number, fromSeeder: number, cpu: number }> {
  const rate = rateMib * MIB
  const peers: MemoryPeer[] = await Promise.all(Array.from({ length: n + 1 }, async () => createMemoryPeer({ shards: { uploadBytesPerSecond: rate } })))
  try {
    // a well-connected swarm: everyone knows the seeder and a few others
    for (let i = 1; i <= n; i++) {
      const targets = new Set([0, ((i % n) + 1), (((i + 2) % n) + 1)])
      targets.delete(i)
      for (const j of targets) await peers[i]?.dial((peers[j] as MemoryPeer).getMultiaddrs())
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
    // progress on stderr every 15 s: a peer stuck at 0 while others finish is starvation
    const ticker = setInterval(() => {
      const sorted = done.slice().sort((a, b) => a - b)
      console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: blocks per peer min ${sorted[0]}, median ${sorted[Math.floor(n / 2)]}, max ${sorted[n - 1]} of ${blocks}`)
    }, 15_000)
    const results = await Promise.all(peers.slice(1).map(async (p, i) => p.services.shards.fetchManifest(content.manifestCid, {
      providers: [seeder.peerId, ...p.getPeers()],
      stallTimeout: 300_000,
      requestTimeout: 60_000,
      onProgress: progress => { done[i] = progress.shardsDone }
    }))).finally(() => { clearInterval(ticker) })
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

console.log(`Distributing ${sizeMib} MiB, every peer's upload shaped to ${rateMib} MiB/s (token bucket in shardExchange)\n`)
console.log('| peers | time (s) | swarm ideal (s) | time / ideal | single seeder (s) | time / single seeder | blocks from seeder | CPU (this process, all cores) |')
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const n of peerCounts) {
  const r = await run(n)
  console.log(`| ${r.n} | ${r.seconds.toFixed(1)} | ${r.ideal.toFixed(1)} | ${(r.seconds / r.ideal).toFixed(2)}× | ${r.single.toFixed(1)} | ${(r.seconds / r.single).toFixed(2)}× | ${(r.fromSeeder * 100).toFixed(0)} % | ${(r.cpu * 100).toFixed(0)} % |`)
}
