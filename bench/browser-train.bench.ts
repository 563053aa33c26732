/**
 * Training throughput of Murmur's `Trainer` per tfjs backend in real Chromium (Debian's, with
 * `--enable-unsafe-webgpu`, so a GPU-less machine offers SwiftShader WebGPU): samples/s of
 * local steps and of evaluation, MLP and CNN, each backend as a ratio to WASM.
 *
 *   cd bench && npx tsc -b && /work/main/node_modules/.bin/node dist/browser-train.bench.js
 *   MURMUR_BENCH_STEPS=20 MURMUR_BENCH_PASSES=2 MURMUR_BENCH_BUDGET_MS=8000 (the defaults)
 *
 * The page is e2e/pages/throughput, served and driven with the e2e harness. Backends are
 * measured interleaved in one page (pass 1 of every backend, then pass 2); the best pass
 * counts. A backend whose timed steps pass the budget stops early (after at least 3 steps),
 * and the table says how many steps it ran.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Browser, Page } from 'playwright-core'

/** The slice of the e2e harness this bench uses (e2e/src has no build; Node 24 runs its .ts). */
interface Harness {
  launchChromium: (options?: { webgpu?: boolean, args?: string[] }) => Promise<Browser>
  collectConsole: (page: Page, lines: string[], name: string) => void
  serveVite: (root: string) => Promise<{ url: string, close: () => Promise<void> }>
}

interface BackendInfo { name: string, ok: boolean, msPerMatmul?: number, detail?: string, fallbackAdapter?: boolean, error?: string }
interface MeasureRequest { backend: string, model: 'mlp' | 'cnn', warmup: number, steps: number, budgetMs: number }
interface Measurement {
  backend: string, model: string, params: number, steps: number, trainSamples: number, trainMs: number
  evalSamples: number, evalMs: number, warmupLoss: number, accuracy: number, leakedTensors: number, error?: string
}
interface ThroughputPage { phase: string, error?: string, backends: BackendInfo[], measure: (req: MeasureRequest) => Promise<Measurement> }

const STEPS = Number(process.env.MURMUR_BENCH_STEPS ?? 20)
const PASSES = Number(process.env.MURMUR_BENCH_PASSES ?? 2)
const BUDGET_MS = Number(process.env.MURMUR_BENCH_BUDGET_MS ?? 8000)
const WARMUP = 2
const TEST_COUNT = 500
const MODELS: Array<[MeasureRequest['model'], string]> = ([['mlp', 'MLP 784-128-10'], ['cnn', 'CNN (2 conv + pool)']] as Array<[MeasureRequest['model'], string]>)
  .filter(([m]) => process.env.MURMUR_BENCH_MODELS == null || process.env.MURMUR_BENCH_MODELS.split(',').includes(m))
/** The cpu backend trains the CNN at ~30 samples/s: a handful of steps tells its rate. */
const CPU_CNN_STEPS = 5
/**
 * SwiftShader WebGPU needs ~90 s of shader compilation and ~8 s a step for the CNN on these
 * machines (2 shared cores): it alone would blow the run's 3 minutes. Opt in to measure it once.
 */
const WEBGPU_CNN = process.env.MURMUR_BENCH_WEBGPU_CNN === '1'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const load = async (file: string): Promise<Partial<Harness>> => await import(pathToFileURL(join(repo, 'e2e', 'src', file)).href) as Partial<Harness>
const harness = { ...await load('chromium.ts'), ...await load('vite.ts') } as Harness

const rate = (samples: number, ms: number): number => ms > 0 ? samples / ms * 1000 : NaN
const fmt = (x: number, digits = 0): string => Number.isFinite(x) ? x.toFixed(digits) : '–'

/** Kill the run if something hangs: no loop here may outlive this. */
const watchdog = setTimeout(() => { console.error('browser-train bench: gave up after 6 minutes'); process.exit(1) }, 360_000)
watchdog.unref()

const consoleLines: string[] = []
const vite = await harness.serveVite(join(repo, 'e2e', 'pages', 'throughput'))
let browser: Browser | undefined
try {
  browser = await harness.launchChromium({ webgpu: true })
  const page = await browser.newPage()
  harness.collectConsole(page, consoleLines, 'page')
  if (process.env.MURMUR_BENCH_VERBOSE === '1') page.on('console', msg => { console.log(`    [page] ${msg.text()}`) })
  const t0 = performance.now()
  // module loading (and Vite's first dependency bundling) counts against the wait below, not goto's
  await page.goto(`${vite.url}?train=1000&test=${TEST_COUNT}`, { waitUntil: 'commit' })
  await page.waitForFunction(() => ((globalThis as unknown as { murmurThroughput?: { phase: string } }).murmurThroughput?.phase.replace('loading', '') ?? '') !== '', undefined, { timeout: 120_000, polling: 250 })
  const info = await page.evaluate(() => {
    const p = (globalThis as unknown as { murmurThroughput: ThroughputPage }).murmurThroughput
    return { phase: p.phase, error: p.error, backends: p.backends }
  })
  if (info.phase !== 'ready') throw new Error(`throughput page failed: ${info.error ?? info.phase}`)
  console.log(`${await browser.version()} (page ready in ${fmt((performance.now() - t0) / 1000, 1)} s, first load includes Vite's dependency bundling)`)
  for (const b of info.backends) {
    const extra = [b.detail, b.fallbackAdapter != null ? `fallback adapter: ${String(b.fallbackAdapter)}` : undefined].filter(s => s != null).join('; ')
    console.log(`  ${b.name.padEnd(6)} ${b.ok ? `ok, 256×256 matmul ${fmt(b.msPerMatmul ?? NaN, 1)} ms` : `FAILED: ${b.error ?? '?'}`}${extra !== '' ? ` (${extra})` : ''}`)
  }
  const only = process.env.MURMUR_BENCH_BACKENDS?.split(',')
  const backends = info.backends.filter(b => b.ok && (only == null || only.includes(b.name))).map(b => b.name)
  console.log(`\n${STEPS} steps of batch 32 after ${WARMUP} warm-up steps (cpu CNN: ${CPU_CNN_STEPS}; at least 3 and at most ${BUDGET_MS} ms), eval on ${TEST_COUNT} images in chunks of 100 (at most ${BUDGET_MS} ms); ${PASSES} interleaved passes, best counts${WEBGPU_CNN ? ' (webgpu CNN: first pass only)' : ''}\n`)

  const results: Measurement[] = []
  for (let pass = 0; pass < PASSES; pass++) {
    for (const [model] of MODELS) {
      for (const backend of backends) {
        if (backend === 'webgpu' && model === 'cnn' && (!WEBGPU_CNN || pass > 0)) continue
        const steps = backend === 'cpu' && model === 'cnn' ? CPU_CNN_STEPS : STEPS
        const req: MeasureRequest = { backend, model, warmup: WARMUP, steps, budgetMs: BUDGET_MS }
        const m = await page.evaluate(async r => await (globalThis as unknown as { murmurThroughput: ThroughputPage }).murmurThroughput.measure(r), req)
        results.push(m)
        console.log(`  pass ${pass + 1} ${model} ${backend.padEnd(6)} ${m.error ?? `${fmt(rate(m.trainSamples, m.trainMs))} train/s, ${fmt(rate(m.evalSamples, m.evalMs))} eval/s${m.leakedTensors !== 0 ? `, ${m.leakedTensors} tensors leaked` : ''}`}`)
      }
    }
  }

  console.log('\n| model | backend | steps | train samples/s | × wasm | eval samples/s | × wasm | warm-up loss | test acc |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|')
  for (const [model, label] of MODELS) {
    const rows = backends.map(backend => {
      const ms = results.filter(r => r.backend === backend && r.model === model && r.error == null)
      const best = (f: (r: Measurement) => number): Measurement | undefined => ms.reduce<Measurement | undefined>((a, r) => a == null || f(r) > f(a) ? r : a, undefined)
      const train = best(r => rate(r.trainSamples, r.trainMs))
      const evalBest = best(r => rate(r.evalSamples, r.evalMs))
      const error = results.find(r => r.backend === backend && r.model === model && r.error != null)?.error
      return { backend, train, evalBest, error }
    })
    const wasm = rows.find(r => r.backend === 'wasm')
    const wasmTrain = wasm?.train != null ? rate(wasm.train.trainSamples, wasm.train.trainMs) : NaN
    const wasmEval = wasm?.evalBest != null ? rate(wasm.evalBest.evalSamples, wasm.evalBest.evalMs) : NaN
    for (const { backend, train, evalBest, error } of rows) {
      if (backend === 'webgpu' && model === 'cnn' && !WEBGPU_CNN) { console.log(`| ${label} | ${backend} | – | skipped: ~90 s shader compile + ~8 s/step (MURMUR_BENCH_WEBGPU_CNN=1) | | | | | |`); continue }
      if (train == null || evalBest == null) { console.log(`| ${label} | ${backend} | – | failed: ${error ?? '?'} | | | | | |`); continue }
      const tr = rate(train.trainSamples, train.trainMs)
      const ev = rate(evalBest.evalSamples, evalBest.evalMs)
      console.log(`| ${label} | ${backend} | ${train.steps} | ${fmt(tr)} | ${fmt(tr / wasmTrain, 2)} | ${fmt(ev)} | ${fmt(ev / wasmEval, 2)} | ${fmt(train.warmupLoss, 4)} | ${fmt(train.accuracy * 100, 1)} % |`)
    }
  }
  console.log(`\nwhole run ${fmt((performance.now() - t0) / 1000, 0)} s`)
} catch (err) {
  console.error(consoleLines.slice(-30).join('\n'))
  throw err
} finally {
  await browser?.close()
  await vite.close()
  clearTimeout(watchdog)
}
