/**
 * Byzantine peers: N peers, all connected, 2 of them (MURMUR_BENCH_BYZANTINE) omniscient colluding attackers that
 * publish an attack on the honest peers' mean model every round. Two tables:
 *
 * 1. The merge rule alone (peer scoring off): every attack × every rule. Validation still
 *    refuses NaN and outliers, so the "refused" column says which attacks it already stops;
 *    the others (sign-flip ×4, within-norm, scale ×8, noise, stale) reach the merge rule.
 * 2. The full defence (validation + scoring, plain averaging): gross attacks are refused and
 *    the attackers banned.
 *
 *   node dist/byzantine.bench.js [attack[:factor],...] [rule,...] [defence-attack[:factor],...]
 *   MURMUR_BENCH_PEERS=8 MURMUR_BENCH_ROUNDS=6 MURMUR_BENCH_HIDDEN=32 MURMUR_BENCH_TRAIN=4000 node dist/byzantine.bench.js within-norm,none plain,median -
 */
import { mnistMlp } from '@murmur/protocol'
import type { AveragingRule } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '@murmur/node'
import { simulate } from '@murmur/node/sim'
import type { SimulationOptions } from '@murmur/node/sim'

type Attack = NonNullable<SimulationOptions['byzantine']>['attack']
interface Run { attack: Attack | 'none', factor?: number }

const parse = (s: string): Run => {
  const [attack, factor] = s.split(':')
  return { attack: attack as Run['attack'], ...(factor != null ? { factor: Number(factor) } : {}) }
}
const label = (r: Run): string => r.factor != null ? `${r.attack} ×${r.factor}` : r.attack
const list = (arg: string | undefined, fallback: string): string[] => (arg ?? fallback).split(',').filter(s => s !== '-' && s !== '')

const attacks = list(process.argv[2], 'none,sign-flip,within-norm,scale,noise,stale,nan').map(parse)
const rules = list(process.argv[3], 'plain,median,trimmed-mean,variance-corrected') as AveragingRule[]
const defence = list(process.argv[4], 'none,nan,scale:100,within-norm').map(parse)
const rounds = Number(process.env.MURMUR_BENCH_ROUNDS ?? 6)
const peers = Number(process.env.MURMUR_BENCH_PEERS ?? 8)
const fanOut = Number(process.env.MURMUR_BENCH_FANOUT ?? 4)
const attackers = Array.from({ length: Number(process.env.MURMUR_BENCH_BYZANTINE ?? 2) }, (_, i) => i)
// one shared initial model (MURMUR_BENCH_SAME_INIT=0: each peer its own, as gossip learning starts)
const sameInit = process.env.MURMUR_BENCH_SAME_INIT !== '0'
const backend = await initNodeBackend()
const train = await loadMnist({ split: 'train', limit: Number(process.env.MURMUR_BENCH_TRAIN ?? 4000) })
const test = await loadMnist({ split: 'test', limit: Number(process.env.MURMUR_BENCH_TEST ?? 500) })
const hidden = Number(process.env.MURMUR_BENCH_HIDDEN ?? 128)
// the preset is 784-128-10; a smaller hidden layer keeps the whole table within minutes on busy cores
const model = {
  ...mnistMlp({ localSteps: Number(process.env.MURMUR_BENCH_E ?? 20), batchSize: 32 }),
  architecture: {
    class_name: 'Sequential',
    config: {
      name: 'mnist_mlp',
      layers: [
        { class_name: 'Dense', config: { name: 'dense_1', units: hidden, activation: 'relu', batch_input_shape: [null, 784] } },
        { class_name: 'Dense', config: { name: 'dense_2', units: 10, activation: 'softmax' } }
      ]
    }
  }
}
console.log(`backend ${backend.backend}; ${peers} peers (complete graph), ${attackers.length} of them Byzantine, ${sameInit ? 'one shared initial model' : 'separate initial models'}, fan-out ${fanOut}, ${rounds} rounds, ${train.count} training / ${test.count} test images, 784-${hidden}-10 MLP, E = ${model.localSteps}\n`)

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`

async function once (run: Run, rule: AveragingRule, scoring: boolean): Promise<{ accuracy: number, min: number, rejected: number, merged: number, bans: number }> {
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
    scoring,
    sameInit,
    ...(run.attack === 'none' ? {} : { byzantine: { peers: attackers, attack: run.attack, ...(run.factor != null ? { factor: run.factor } : {}) } })
  })
  const last = rs[rs.length - 1]
  const out = {
    accuracy: last?.meanAccuracy ?? 0,
    min: last?.minAccuracy ?? 0,
    rejected: rs.reduce((n, r) => n + r.rejected, 0),
    merged: rs.reduce((n, r) => n + r.merged, 0),
    bans: last?.bans ?? 0
  }
  console.error(`${label(run)} × ${rule}${scoring ? ' + scoring' : ''}: ${pct(out.accuracy)} (min ${pct(out.min)}), merged ${out.merged}, refused ${out.rejected}, ${out.bans} bans, ${((Date.now() - t0) / 1000).toFixed(0)} s`)
  return out
}

if (attacks.length > 0 && rules.length > 0) {
  const table = [`| attack | ${rules.join(' | ')} | refused (all rules) |`, `|---|${rules.map(() => '---').join('|')}|---|`]
  for (const run of attacks) {
    const cells: string[] = []
    let refused = 0
    let merged = 0
    for (const rule of rules) {
      const r = await once(run, rule, false)
      cells.push(`${pct(r.accuracy)} (min ${pct(r.min)})`)
      refused += r.rejected
      merged += r.merged + r.rejected
    }
    table.push(`| ${label(run)} | ${cells.join(' | ')} | ${refused} / ${merged} |`)
  }
  console.log('### The merge rule alone (scoring off): honest peers\' mean (min) test accuracy after the last round\n')
  console.log(table.join('\n') + '\n')
}

if (defence.length > 0) {
  const table = ['| attack | accuracy (min) | models merged | refused | bans |', '|---|---|---|---|---|']
  for (const run of defence) {
    const r = await once(run, 'plain', true)
    table.push(`| ${label(run)} | ${pct(r.accuracy)} (${pct(r.min)}) | ${r.merged} | ${r.rejected} | ${r.bans} |`)
  }
  console.log('### The full defence: validation + peer scoring, plain averaging\n')
  console.log(table.join('\n'))
}
