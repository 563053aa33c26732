/**
 * Byzantine peers: 8 peers, all connected, 2 of them publishing an attacked model every round
 * (sign-flip, scale, noise, NaN, stale), under each merge rule. Prints the honest peers' mean
 * accuracy after the last round, and how many bans peer scoring imposed. Small MNIST slices so
 * it runs in minutes on two shared cores.
 *
 *   node dist/byzantine.bench.js [attack,attack,...] [rule,rule,...]
 *   MURMUR_BENCH_ROUNDS=6 MURMUR_BENCH_TRAIN=4000 node dist/byzantine.bench.js sign-flip,scale median,plain
 */
import { mnistMlp } from '@murmur/protocol'
import type { AveragingRule } from '@murmur/protocol'
import { simulate, loadMnist, initNodeBackend } from '@murmur/node'

type Attack = 'none' | 'sign-flip' | 'scale' | 'noise' | 'nan' | 'stale'
const ATTACKS: Attack[] = ['none', 'sign-flip', 'scale', 'noise', 'nan', 'stale']
const RULES: AveragingRule[] = ['plain', 'median', 'trimmed-mean', 'variance-corrected']

const attacks = (process.argv[2]?.split(',') ?? ATTACKS) as Attack[]
const rules = (process.argv[3]?.split(',') ?? RULES) as AveragingRule[]
const rounds = Number(process.env.MURMUR_BENCH_ROUNDS ?? 6)
const peers = Number(process.env.MURMUR_BENCH_PEERS ?? 8)
const backend = await initNodeBackend()
const train = await loadMnist({ split: 'train', limit: Number(process.env.MURMUR_BENCH_TRAIN ?? 4000) })
const test = await loadMnist({ split: 'test', limit: Number(process.env.MURMUR_BENCH_TEST ?? 500) })
const model = mnistMlp({ localSteps: Number(process.env.MURMUR_BENCH_E ?? 10), batchSize: 32 })
// fan-out 4: each merge sees 5 models, so the median outvotes 2 attackers and the 20 % trimmed
// mean cuts one from each side
const fanOut = 4
console.log(`backend ${backend.backend}; ${peers} peers (complete graph), peers 0 and 1 Byzantine, fan-out ${fanOut}, ${rounds} rounds, ${train.count} training / ${test.count} test images, E = ${model.localSteps}\n`)

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
const table: string[] = []
table.push(`| attack | ${rules.join(' | ')} |`)
table.push(`|---|${rules.map(() => '---').join('|')}|`)
for (const attack of attacks) {
  const cells: string[] = []
  for (const rule of rules) {
    const t0 = Date.now()
    const { rounds: rs } = await simulate({
      peers,
      topology: { kind: 'complete' },
      rounds,
      rule,
      partition: { kind: 'iid' },
      train,
      test,
      model,
      fanOut,
      seed: 7,
      ...(attack === 'none' ? {} : { byzantine: { peers: [0, 1], attack } })
    })
    const last = rs[rs.length - 1]
    const acc = last?.meanAccuracy ?? 0
    const bans = last?.bans ?? 0
    console.error(`${attack} × ${rule}: ${pct(acc)} (min ${pct(last?.minAccuracy ?? 0)}), ${bans} bans, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    cells.push(`${pct(acc)}${bans > 0 ? ` (${bans} bans)` : ''}`)
  }
  table.push(`| ${attack} | ${cells.join(' | ')} |`)
}
console.log('### Honest peers\' mean test accuracy after the last round\n')
console.log(table.join('\n'))
