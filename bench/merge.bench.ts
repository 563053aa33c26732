/**
 * Merge 8 models of 25 M float32 parameters with each rule and compare the speed with this
 * machine's memory copy, measured in the same run: `TypedArray.set` copying the same
 * 8 × 25 M floats into a destination. Speed is input read: 8 × params × 4 bytes / time.
 * Copy and merge runs are interleaved and the best of each is kept. Each rule runs on the
 * WebAssembly SIMD loops and, for comparison, on the scalar JavaScript ones; "new array" rows
 * allocate their output (as `weightedAverage` does), "into" rows reuse one (as
 * `weightedAverageInto` lets a long-running peer do), which spares the page faults of a
 * fresh 100 MB array.
 *
 *   node dist/merge.bench.js
 *   MURMUR_BENCH_PARAMS=1000000 MURMUR_BENCH_REPS=3 node dist/merge.bench.js
 */
import { cpus } from 'node:os'
import {
  coordinateMedian, getMergeBackend, setMergeBackend, trimmedMean, varianceCorrectedAverage, varianceCorrectedAverageInto,
  weightedAverage, weightedAverageInto
} from '@murmur/protocol'
import type { MergeBackend } from '@murmur/protocol'

const params = Number(process.env.MURMUR_BENCH_PARAMS ?? 25_000_000)
const models = Number(process.env.MURMUR_BENCH_MODELS ?? 8)
const reps = Number(process.env.MURMUR_BENCH_REPS ?? 5)
const trim = 0.25
/** The goal for plain and variance-corrected averaging, as a fraction of copy speed. */
const GOAL = 0.5

if (!(Number.isInteger(params) && params > 0 && Number.isInteger(models) && models > 0 && Number.isInteger(reps) && reps > 0)) {
  throw new Error('MURMUR_BENCH_PARAMS, MURMUR_BENCH_MODELS and MURMUR_BENCH_REPS must be positive integers')
}

/** Models trained apart: each tensor its own mean and spread, values roughly Gaussian. */
function makeModel (seed: number): Float32Array {
  const x = new Float32Array(params)
  let s = (seed * 2654435761) >>> 0
  const sd = 0.05 * (1 + seed / models)
  for (let j = 0; j < params; j++) {
    // Sum of two uniforms: cheap, zero-mean, bell-shaped enough for timing.
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const u = s / 4294967296
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    x[j] = (u + s / 4294967296 - 1) * sd * 2.45 + 0.001 * seed
  }
  return x
}

type Rule = { name: string, backend: MergeBackend, goal: boolean, run: () => Float32Array }

const inputs = Array.from({ length: models }, (_, i) => makeModel(i + 1))
const copyTarget = new Float32Array(models * params).fill(1)
const weights = Array.from({ length: models }, (_, i) => 1 + (i % 3))

const reused = new Float32Array(params).fill(1)
const rules: Rule[] = (['wasm-simd', 'js'] as const).flatMap(backend => [
  { name: 'plain (weighted), new array', backend, goal: true, run: () => weightedAverage(inputs, weights) },
  { name: 'plain (weighted), into', backend, goal: true, run: () => weightedAverageInto(reused, inputs, weights) },
  { name: 'variance-corrected (weighted), new array', backend, goal: true, run: () => varianceCorrectedAverage(inputs, weights) },
  { name: 'variance-corrected (weighted), into', backend, goal: true, run: () => varianceCorrectedAverageInto(reused, inputs, weights) },
  { name: 'median', backend, goal: false, run: () => coordinateMedian(inputs) },
  { name: `trimmed mean (trim ${trim})`, backend, goal: false, run: () => trimmedMean(inputs, trim) }
])
const key = (rule: Rule): string => `${rule.name} [${rule.backend}]`

function copyAll (): void {
  for (let i = 0; i < models; i++) copyTarget.set(inputs[i]!, i * params)
}

function time (f: () => unknown): number {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

/**
 * Largest |merged − naive| over a sample of coordinates, so the timings are of correct work;
 * undefined for variance correction, whose reference needs whole-tensor statistics (the
 * protocol's tests check it).
 */
function spotCheck (rule: Rule, out: Float32Array): number | undefined {
  if (rule.name.startsWith('variance')) return undefined
  let worst = 0
  const total = weights.reduce((a, b) => a + b, 0)
  for (let probe = 0; probe < 1000; probe++) {
    const j = Math.floor((probe + 0.5) * params / 1000)
    const column = inputs.map(x => x[j]!)
    let expected: number
    if (rule.name.startsWith('plain')) expected = column.reduce((s, v, i) => s + v * weights[i]! / total, 0)
    else if (rule.name === 'median') {
      const c = column.sort((a, b) => a - b)
      expected = models % 2 === 1 ? c[(models - 1) / 2]! : (c[models / 2 - 1]! + c[models / 2]!) / 2
    } else if (rule.name.startsWith('trimmed')) {
      const k = Math.floor(trim * models + 1e-9)
      const kept = column.sort((a, b) => a - b).slice(k, models - k)
      expected = kept.reduce((s, v) => s + v, 0) / kept.length
    } else return undefined
    worst = Math.max(worst, Math.abs(out[j]! - expected))
  }
  return worst
}

const best = new Map<string, number>()
const keep = (name: string, ms: number): void => { best.set(name, Math.min(best.get(name) ?? Infinity, ms)) }
const checks = new Map<string, number>()
const backends = new Map<string, MergeBackend>()
for (let r = 0; r < reps; r++) {
  for (const rule of rules) {
    setMergeBackend(rule.backend)
    backends.set(key(rule), getMergeBackend())
    keep('copy', time(copyAll))
    keep('fresh', time(() => new Float32Array(params).fill(0)))
    let out: Float32Array | undefined
    keep(key(rule), time(() => { out = rule.run() }))
    const error = r === 0 && out != null ? spotCheck(rule, out) : undefined
    if (error !== undefined) checks.set(key(rule), error)
  }
}
setMergeBackend('wasm-simd')

const bytes = models * params * 4
const gbps = (ms: number): number => bytes / (ms / 1000) / 1e9
const copyMs = best.get('copy')!
const rows = [
  `| memory copy (\`TypedArray.set\`) | | ${copyMs.toFixed(1)} | ${gbps(copyMs).toFixed(2)} | 1.00 | |`,
  `| allocate and first write one fresh output (part of every "new array" row) | | ${best.get('fresh')!.toFixed(1)} | | | |`,
  ...rules.map(rule => {
    const ms = best.get(key(rule))!
    const ratio = copyMs / ms
    const verdict = rule.goal ? (ratio >= GOAL ? 'meets ≥ 0.50' : 'below 0.50') : '–'
    return `| ${rule.name} | ${backends.get(key(rule)) ?? '?'} | ${ms.toFixed(1)} | ${gbps(ms).toFixed(2)} | ${ratio.toFixed(2)} | ${verdict} |`
  })
]
console.log(`Merge of ${models} models × ${params.toLocaleString('en-US')} float32 params (${(bytes / 1e6).toFixed(0)} MB read per merge), best of ${reps}`)
console.log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}\n`)
console.log('| rule | loops | best ms | GB/s input read | × memory copy | goal |')
console.log('|---|---|---:|---:|---:|---|')
for (const row of rows) console.log(row)
console.log(`\nspot check, max |merged − naive| over 1000 coordinates: ${[...checks].map(([k, v]) => `${k} ${v.toExponential(1)}`).join('; ')}`)
