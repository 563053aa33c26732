/**
 * Vanishing variance, reproduced: 16 peers on a sparse topology, MNIST, models initialised
 * independently; variance-corrected gossip vs plain gossip vs FedAvg (a server averaging
 * everyone each round) in the same harness. Also the disaster scenario (BA topology, drop
 * data-holding vs hub peers).
 *
 *   node dist/gossip.bench.js [vanishing|disaster|noniid|all]
 *   MURMUR_BENCH_RULES=plain node dist/gossip.bench.js vanishing   (one rule; others are read from earlier runs' saved results)
 *   MURMUR_BENCH_ROUNDS=30 MURMUR_BENCH_TRAIN=20000 MURMUR_BENCH_E=20 MURMUR_BENCH_LR=0.1 node dist/gossip.bench.js vanishing
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { mnistMlp } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '@murmur/node'
import { simulate, buildTopology, byDegree } from '@murmur/node/sim'
import type { RoundSummary, SimulationOptions } from '@murmur/node/sim'

const which = process.argv[2] ?? 'all'
const rounds = Number(process.env.MURMUR_BENCH_ROUNDS ?? 30)
const backend = await initNodeBackend()
const train = await loadMnist({ split: 'train', limit: Number(process.env.MURMUR_BENCH_TRAIN ?? 32_000) })
const test = await loadMnist({ split: 'test', limit: Number(process.env.MURMUR_BENCH_TEST ?? 2000) })
const model = mnistMlp({
  localSteps: Number(process.env.MURMUR_BENCH_E ?? 20),
  batchSize: 32,
  optimizer: { name: 'sgd', learningRate: Number(process.env.MURMUR_BENCH_LR ?? 0.1) }
})
console.log(`backend ${backend.backend}; ${train.count} training images split over the peers, ${test.count} test images; E = ${model.localSteps} steps of ${model.batchSize}, SGD learning rate ${model.optimizer.learningRate}\n`)

const roundsTo = (rs: RoundSummary[], target: number): string => {
  const r = rs.find(x => x.meanAccuracy >= target)
  return r == null ? `> ${rs.length}` : String(r.round)
}
const pct = (x: number | undefined): string => `${((x ?? 0) * 100).toFixed(1)} %`

async function run (label: string, options: Omit<SimulationOptions, 'train' | 'test' | 'model'>): Promise<RoundSummary[]> {
  const t0 = Date.now()
  const { rounds: rs } = await simulate({
    ...options,
    train,
    test,
    model,
    onRound: (r) => { console.error(`  ${label} round ${r.round}: ${pct(r.meanAccuracy)} (${r.live} live, ${((Date.now() - t0) / 1000).toFixed(0)} s)`) }
  })
  console.error(`${label}: ${((Date.now() - t0) / 1000).toFixed(0)} s, final ${pct(rs.at(-1)?.meanAccuracy)}`)
  return rs
}

if (which === 'vanishing' || which === 'all') {
  const base = { peers: 16, topology: { kind: 'random-regular', degree: 3 } as const, rounds, partition: { kind: 'iid' } as const, fanOut: 2, trackVariance: true, seed: 1 }
  const results: Record<string, RoundSummary[]> = {}
  const only = process.env.MURMUR_BENCH_RULES?.split(',')
  for (const rule of ['variance-corrected', 'plain', 'fedavg'] as const) {
    const saved = `${tmpdir()}/murmur-vanishing-${rule}.json`
    if (only != null && !only.includes(rule)) {
      // rules may run as separate processes side by side; the report then reads their results
      if (existsSync(saved)) results[rule] = JSON.parse(readFileSync(saved, 'utf8')) as RoundSummary[]
      continue
    }
    results[rule] = await run(rule, { ...base, rule })
    writeFileSync(saved, JSON.stringify(results[rule]))
  }
  console.log('### Vanishing variance: 16 peers, random 3-regular topology, IID MNIST, independent initialisations\n')
  console.log('| rule | rounds to 90 % | rounds to 95 % | rounds to 97 % | accuracy after ' + rounds + ' rounds | MB received per peer per round |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const [rule, rs] of Object.entries(results)) {
    const mb = rs.reduce((s, r) => s + r.bytesPerPeer, 0) / rs.length / 1e6
    console.log(`| ${rule} | ${roundsTo(rs, 0.9)} | ${roundsTo(rs, 0.95)} | ${roundsTo(rs, 0.97)} | ${pct(rs.at(-1)?.meanAccuracy)} | ${mb.toFixed(2)} |`)
  }
  // per-layer weight variance over rounds, as an SVG line plot
  const layers = Object.keys(results['plain']?.[0]?.variance ?? {})
  const series = Object.entries(results).flatMap(([rule, rs]) => layers.map(l => ({ name: `${rule} ${l}`, ys: rs.map(r => r.variance?.[l] ?? 0) })))
  writeFileSync(new URL('./variance.svg', import.meta.url).pathname.replace('/dist/', '/'), svgPlot(series, 'weight variance per layer vs round (log scale)'))
  console.log('\nPer-layer weight variance over rounds: bench/variance.svg\n')
  for (const l of layers) console.log(`- ${l}: round 1 → ${rounds}: ${Object.entries(results).map(([rule, rs]) => `${rule} ${rs[0]?.variance?.[l]?.toExponential(2)} → ${rs.at(-1)?.variance?.[l]?.toExponential(2)}`).join('; ')}`)
}

if (which === 'disaster' || which === 'all') {
  const n = 32
  const seed = 2
  const hubs = byDegree(buildTopology({ kind: 'barabasi-albert', m: 2 }, n, seed), n)
  const dropAt = Math.floor(rounds / 3)
  const base = { peers: n, topology: { kind: 'barabasi-albert', m: 2 } as const, rounds, partition: { kind: 'iid' } as const, fanOut: 2, seed, rule: 'variance-corrected' as const }
  const none = await run('no disruption', base)
  console.log(`\n### Disaster scenario: 32 peers, Barabási–Albert (m = 2), IID MNIST, peers dropped at round ${dropAt}\n`)
  console.log('| disruption | live peers at end | final accuracy | vs undisrupted |')
  console.log('|---|---:|---:|---:|')
  const ref = none.at(-1)?.meanAccuracy ?? 1
  console.log(`| none | ${n} | ${pct(ref)} | 100 % |`)
  for (const frac of [0.25, 0.5]) {
    const k = Math.round(n * frac)
    const leaves = [...hubs].reverse().slice(0, k)
    const hubSet = hubs.slice(0, k)
    const data = await run(`drop ${k} data peers`, { ...base, disruptions: [{ round: dropAt, kind: 'drop', peers: leaves }] })
    console.log(`| drop ${k} data-holding (least connected) peers | ${n - k} | ${pct(data.at(-1)?.meanAccuracy)} (worst peer ${pct(data.at(-1)?.minAccuracy)}) | ${((data.at(-1)?.meanAccuracy ?? 0) / ref * 100).toFixed(0)} % |`)
    const kept = await run(`${k} hubs hold no data, none dropped`, { ...base, connectivityOnly: hubSet })
    console.log(`| none, but the ${k} best-connected peers hold no data (baseline for the next row) | ${n} | ${pct(kept.at(-1)?.meanAccuracy)} | ${((kept.at(-1)?.meanAccuracy ?? 0) / ref * 100).toFixed(0)} % |`)
    const conn = await run(`drop ${k} hubs`, { ...base, connectivityOnly: hubSet, disruptions: [{ round: dropAt, kind: 'drop', peers: hubSet }] })
    const isolated = conn.at(-1)
    console.log(`| drop those ${k} connectivity-only hubs | ${n - k} | ${pct(isolated?.meanAccuracy)} (worst peer ${pct(isolated?.minAccuracy)}) | ${((isolated?.meanAccuracy ?? 0) / ref * 100).toFixed(0)} % |`)
  }
}

if (which === 'noniid' || which === 'all') {
  const n = Number(process.env.MURMUR_BENCH_PEERS ?? 8)
  const rules = ['variance-corrected', 'plain', 'median', 'trimmed-mean', 'fedavg'] as const
  const results: Record<string, Record<string, RoundSummary[]>> = {}
  for (const alpha of [0.1, 1.0]) {
    results[alpha] = {}
    for (const rule of rules) {
      const r = results[alpha] as Record<string, RoundSummary[]>
      r[rule] = await run(`dirichlet ${alpha} ${rule}`, { peers: n, topology: { kind: 'random-regular', degree: 3 }, rounds, partition: { kind: 'dirichlet', alpha }, fanOut: 2, seed: 3, rule })
    }
  }
  console.log(`\n### Non-IID: ${n} peers, random 3-regular topology, MNIST split by Dirichlet(α) over labels, ${rounds} rounds\n`)
  console.log('| rule | α = 0.1: final mean accuracy | α = 0.1: worst peer | α = 1.0: final mean accuracy | α = 1.0: worst peer |')
  console.log('|---|---:|---:|---:|---:|')
  for (const rule of rules) {
    const a = results['0.1']?.[rule]?.at(-1); const b = results['1']?.[rule]?.at(-1)
    console.log(`| ${rule} | ${pct(a?.meanAccuracy)} | ${pct(a?.minAccuracy)} | ${pct(b?.meanAccuracy)} | ${pct(b?.minAccuracy)} |`)
  }
}

function svgPlot (series: Array<{ name: string, ys: number[] }>, title: string): string {
  const W = 720; const H = 420; const L = 70; const B = 40; const T = 30; const R = 260
  const all = series.flatMap(s => s.ys).filter(y => y > 0)
  const lo = Math.log10(Math.min(...all)); const hi = Math.log10(Math.max(...all))
  const n = Math.max(...series.map(s => s.ys.length))
  const x = (i: number): number => L + (i / Math.max(1, n - 1)) * (W - L - R)
  const y = (v: number): number => T + (1 - (Math.log10(Math.max(v, 1e-12)) - lo) / Math.max(1e-9, hi - lo)) * (H - T - B)
  const colours = ['#d62728', '#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b']
  const lines = series.map((s, k) => `<polyline fill="none" stroke="${colours[k % colours.length]}" stroke-width="2" stroke-dasharray="${k % 2 === 1 ? '6 3' : ''}" points="${s.ys.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/><text x="${W - R + 10}" y="${T + 16 * k}" font-size="12" fill="${colours[k % colours.length]}">${s.name}</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="${L}" y="18" font-size="14">${title}</text><line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/><text x="${(L + W - R) / 2}" y="${H - 8}" font-size="12">round</text><text x="4" y="${T + 10}" font-size="11">${(10 ** hi).toExponential(1)}</text><text x="4" y="${H - B}" font-size="11">${(10 ** lo).toExponential(1)}</text>${lines.join('')}</svg>`
}
