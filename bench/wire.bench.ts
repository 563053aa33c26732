/**
 * Wire savings: the same gossip-learning run (8 peers, random 3-regular topology, IID MNIST,
 * variance-corrected averaging, one seed) with each session encoding: dense fp32, fp16,
 * int8, and top-k deltas with error feedback. Prints bytes each peer received per round
 * (manifests and shards, as the session counts them) and the final mean accuracy.
 *
 *   node dist/wire.bench.js
 *   MURMUR_BENCH_ROUNDS=15 MURMUR_BENCH_TRAIN=16000 MURMUR_BENCH_TEST=1000 MURMUR_BENCH_E=20 node dist/wire.bench.js
 */
import { mnistMlp } from '@murmur/protocol'
import { simulate, loadMnist, initNodeBackend } from '@murmur/node'
import type { SimulationOptions } from '@murmur/node'

const rounds = Number(process.env.MURMUR_BENCH_ROUNDS ?? 15)
const peers = Number(process.env.MURMUR_BENCH_PEERS ?? 8)
const backend = await initNodeBackend()
const train = await loadMnist({ split: 'train', limit: Number(process.env.MURMUR_BENCH_TRAIN ?? 16_000) })
const test = await loadMnist({ split: 'test', limit: Number(process.env.MURMUR_BENCH_TEST ?? 1000) })
const model = mnistMlp({ localSteps: Number(process.env.MURMUR_BENCH_E ?? 20) })
console.log(`backend ${backend.backend}; ${peers} peers, random 3-regular, fan-out 2, ${rounds} rounds, ${train.count} training images (IID), ${test.count} test images, E = ${model.localSteps}\n`)

type Encoding = NonNullable<SimulationOptions['encoding']>
// most telling first, so a run cut short still answers the question
const runs: Array<[string, Encoding]> = [
  ['fp32', 'fp32'],
  ['top-k 1 %, int8', { kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 8 }],
  ['top-k 5 %, int8', { kind: 'topk', fraction: 0.05, values: 'int8', keyframeEvery: 8 }],
  ['top-k 1 %, fp16', { kind: 'topk', fraction: 0.01, values: 'fp16', keyframeEvery: 8 }],
  ['int8', 'int8'],
  ['fp16', 'fp16'],
  ['top-k 5 %, fp16', { kind: 'topk', fraction: 0.05, values: 'fp16', keyframeEvery: 8 }],
  ['top-k 1 %, int8, keyframe every 16', { kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 16 }]
]
const only = process.argv[2]

const rows: Array<{ label: string, bytes: number, accuracy: number, seconds: number }> = []
for (const [label, encoding] of runs) {
  if (only != null && !label.startsWith(only)) continue
  const t0 = Date.now()
  const { rounds: rs } = await simulate({
    peers,
    topology: { kind: 'random-regular', degree: 3 },
    rounds,
    rule: 'variance-corrected',
    partition: { kind: 'iid' },
    train,
    test,
    model,
    fanOut: 2,
    seed: 1,
    encoding,
    onRound: r => { console.error(`  ${label} round ${r.round}: ${(r.meanAccuracy * 100).toFixed(1)} %, ${(r.bytesPerPeer / 1e3).toFixed(1)} kB/peer`) }
  })
  const bytes = rs.reduce((s, r) => s + r.bytesPerPeer, 0) / rs.length
  rows.push({ label, bytes, accuracy: rs.at(-1)?.meanAccuracy ?? Number.NaN, seconds: (Date.now() - t0) / 1000 })
  console.error(`${label}: ${(bytes / 1e3).toFixed(1)} kB/peer/round, final ${((rs.at(-1)?.meanAccuracy ?? 0) * 100).toFixed(1)} %`)
}

const ref = rows.find(r => r.label === 'fp32')
console.log(`### Wire savings: bytes received per peer per round (mean over ${rounds} rounds) and final mean accuracy\n`)
console.log('| encoding | kB / peer / round | fewer bytes than fp32 | final accuracy | vs fp32 (points) |')
console.log('|---|---:|---:|---:|---:|')
for (const r of rows) {
  const ratio = ref == null ? '–' : `${(ref.bytes / r.bytes).toFixed(1)}×`
  const points = ref == null ? '–' : `${((r.accuracy - ref.accuracy) * 100) >= 0 ? '+' : ''}${((r.accuracy - ref.accuracy) * 100).toFixed(1)}`
  console.log(`| ${r.label} | ${(r.bytes / 1e3).toFixed(1)} | ${ratio} | ${(r.accuracy * 100).toFixed(1)} % | ${points} |`)
}
