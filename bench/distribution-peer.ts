/**
 * One peer of `distribution.bench.ts` in its own process, over TCP on loopback: the parent
 * drives it through IPC messages (publish, dial, fetch, stop) and it reports back. Peers in
 * separate processes share the machine's cores but not one event loop, so a run measures
 * the shaped links rather than one thread decrypting for seventeen peers.
 */
import { createModelContent, parseBlockCid } from '@murmur/protocol'
import type { ModelSnapshot } from '@murmur/protocol'
import { createNodePeer, parseMultiaddr } from '@murmur/node'

/** What the parent sends. */
export type ToPeer =
  | { type: 'publish', mib: number }
  | { type: 'dial', addrs: string[] }
  | { type: 'fetch', manifest: Uint8Array }
  | { type: 'usage' }
  | { type: 'stats' }
  | { type: 'stop' }

/** What a peer answers. */
export type FromPeer =
  | { type: 'ready', peerId: string, addrs: string[] }
  | { type: 'published', manifest: Uint8Array, blocks: number, bytes: number }
  | { type: 'dialed', failed: number }
  | { type: 'progress', done: number }
  | { type: 'fetched', shards: number, servedBy: Record<string, number>, cpuMs: number, retries: number }
  | { type: 'stats', served: number, busy: number, notFound: number, haveQueries: number, announced: number }
  | { type: 'usage', cpuMs: number }
  | { type: 'failed', message: string }

const MIB = 1024 * 1024

/** A deterministic model of `mib` MiB of float32 weights. */
export function randomModel (mib: number): ModelSnapshot {
  const n = Math.floor(mib * MIB / 4)
  const data = new Float32Array(n)
  let s = 1
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; data[i] = s / 2 ** 32 }
  return { tensors: [{ name: 'big/kernel', shape: [n], kind: 'weight', data }] }
}

function send (m: FromPeer): void {
  process.send?.(m)
}

async function main (): Promise<void> {
  const rate = Number(process.env.MURMUR_BENCH_RATE_BYTES)
  const node = await createNodePeer({
    listen: ['/ip4/127.0.0.1/tcp/0'],
    dhtMode: 'server',
    directUpgrade: false,
    shards: { uploadBytesPerSecond: rate }
  })
  process.on('message', (m: ToPeer) => {
    void handle(m).catch(err => { send({ type: 'failed', message: (err as Error).stack ?? String(err) }) })
  })
  async function handle (m: ToPeer): Promise<void> {
    if (m.type === 'publish') {
      const content = await createModelContent(randomModel(m.mib), { architecture: '{}', modelId: 'bench' })
      await node.services.shards.publish(content)
      await node.services.shards.announced()
      send({ type: 'published', manifest: content.manifestCid.bytes, blocks: content.shards.length, bytes: content.shards.reduce((s, x) => s + x.bytes.length, 0) })
    } else if (m.type === 'dial') {
      let failed = 0
      for (const a of m.addrs) await node.dial(parseMultiaddr(a)).catch(() => { failed++ })
      send({ type: 'dialed', failed })
    } else if (m.type === 'fetch') {
      const cpu0 = process.cpuUsage()
      // a session member names the head's author and the peers it gossips with: here the
      // seeder and the neighbours it dialled, which fetch the same model
      const { result } = await node.services.shards.fetchManifest(parseBlockCid(m.manifest), {
        providers: node.getPeers(),
        stallTimeout: 300_000,
        requestTimeout: 60_000,
        onProgress: p => { send({ type: 'progress', done: p.shardsDone }) }
      })
      const cpu = process.cpuUsage(cpu0)
      send({ type: 'fetched', shards: result.shards, servedBy: result.servedBy, cpuMs: (cpu.user + cpu.system) / 1000, retries: result.retries })
    } else if (m.type === 'stats') {
      const { served, busy, notFound, haveQueries, announced } = node.services.shards.stats
      send({ type: 'stats', served, busy, notFound, haveQueries, announced })
    } else if (m.type === 'usage') {
      const cpu = process.cpuUsage()
      send({ type: 'usage', cpuMs: (cpu.user + cpu.system) / 1000 })
    } else {
      await node.stop()
      process.exit(0)
    }
  }
  send({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })
}

// imported by the parent for its types and `randomModel`; a peer only when forked by it
if (process.env.MURMUR_BENCH_RATE_BYTES != null) await main()
