/**
 * Wire savings: the same gossip-learning run (8 peers, random 3-regular topology, IID MNIST,
 * variance-corrected averaging, one seed) with each session encoding: dense fp32, fp16,
 * int8, and top-k deltas with error feedback. Prints bytes each peer received per round
 * (manifests and shards, as the session counts them) and the final mean accuracy, one table
 * row as each run ends (fp32 first: the others are compared with it).
 *
 *   node dist/wire.bench.js
 *   node dist/wire.bench.js fp32 int8 'top-k 1 %, int8' 'top-k 0.5'   (labels, or beginnings of labels)
 *   MURMUR_BENCH_ROUNDS=15 MURMUR_BENCH_TRAIN=16000 MURMUR_BENCH_TEST=1000 MURMUR_BENCH_E=20 node dist/wire.bench.js
 */
import { mnistMlp } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '@murmur/node'
import { simulate } from '@murmur/node/sim'
import type { SimulationOptions } from '@murmur/node/sim'

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
  ['int8', 'int8'],
  ['top-k 1 %, int8', { kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 8 }],
  ['top-k 0.5 %, int8', { kind: 'topk', fraction: 0.005, values: 'int8', keyframeEvery: 8 }],
  ['top-k 5 %, int8', { kind: 'topk', fraction: 0.05, values: 'int8', keyframeEvery: 8 }],
  ['top-k 1 %, fp16', { kind: 'topk', fraction: 0.01, values: 'fp16', keyframeEvery: 8 }],
  ['fp16', 'fp16'],
  ['top-k 1 %, int8, checkpoint every 16', { kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 16 }]
]
// arguments pick runs: a label itself, or else every label it begins
const picks = process.argv.slice(2)
const chosen = (label: string): boolean => picks.length === 0 || picks.some(p => runs.some(([l]) => l === p) ? label === p : label.startsWith(p))

const rows: Array<{ label: string, bytes: number, accuracy: number }> = []
/** One table row; fp32 (when it ran first) is the reference for the ratio and the points. */
function row (r: { label: string, bytes: number, accuracy: number }): string {
  const ref = rows.find(x => x.label === 'fp32')
  const ratio = ref == null ? '–' : `${(ref.bytes / r.bytes).toFixed(1)}×`
  const diff = ref == null ? Number.NaN : (r.accuracy - ref.accuracy) * 100
  const points = ref == null ? '–' : `${diff >= 0 ? '+' : ''}${diff.toFixed(1)}`
  return `| ${r.label} | ${(r.bytes / 1e3).toFixed(1)} | ${ratio} | ${(r.accuracy * 100).toFixed(1)} % | ${points} |`
}

const header = `### Wire savings: bytes received per peer per round (mean over ${rounds} rounds) and final mean accuracy\n\n| encoding | kB / peer / round | fewer bytes than fp32 | final accuracy | vs fp32 (points) |\n|---|---:|---:|---:|---:|`
// each row goes out as soon as its run ends, so a run cut short still leaves its rows
console.log(header)
for (const [label, encoding] of runs) {
  if (!chosen(label)) continue
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
  const r = { label, bytes: rs.reduce((s, x) => s + x.bytesPerPeer, 0) / rs.length, accuracy: rs.at(-1)?.meanAccuracy ?? Number.NaN }
  rows.push(r)
  console.log(row(r))
  console.error(`${label}: ${(r.bytes / 1e3).toFixed(1)} kB/peer/round, final ${(r.accuracy * 100).toFixed(1)} %, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
}
