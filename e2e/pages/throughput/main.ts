/**
 * Training throughput of Murmur's `Trainer` on every tfjs backend this browser can start,
 * driven by bench/browser-train.bench.ts through `window.murmurThroughput`:
 *   ?train=<samples>&test=<samples>
 * The page loads MNIST slices, starts each backend once and then waits: the bench calls
 * `measure()` per backend × model × pass, so passes interleave and figures stay comparable.
 */
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { Trainer, chooseBackend, datasetFromIdx, mnistCnn, mnistMlp, subset } from '@murmur/protocol'
import type { Dataset, ModelConfig } from '@murmur/protocol'
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'

/** One backend as this page found it. */
interface BackendInfo {
  name: string
  ok: boolean
  /** Median ms of a 256×256 matmul (protocol's `chooseBackend` probe). */
  msPerMatmul?: number
  /** What the device offers behind the backend (adapter, renderer, WASM flavour). */
  detail?: string
  /** Only for webgpu: whether the adapter is a software fallback (SwiftShader). */
  fallbackAdapter?: boolean
  error?: string
}

/** One measurement the bench asks for. */
interface MeasureRequest {
  backend: string
  model: 'mlp' | 'cnn'
  /** Untimed steps first: kernel compilation and weight upload do not count. */
  warmup: number
  steps: number
  /** Stop the timed steps (after at least 3) and the evaluation (after one chunk) once each took this long. */
  budgetMs: number
}

/** What one measurement saw; rates are samples per second. */
interface Measurement {
  backend: string
  model: string
  params: number
  steps: number
  trainSamples: number
  trainMs: number
  evalSamples: number
  evalMs: number
  /** Mean loss of the warm-up steps: same seed, same batches, so it should agree across backends. */
  warmupLoss: number
  accuracy: number
  /** Tensors still allocated after the trainer was disposed. */
  leakedTensors: number
  error?: string
}

interface ThroughputPage {
  phase: 'loading' | 'ready' | 'failed'
  error?: string
  backends: BackendInfo[]
  measure: (req: MeasureRequest) => Promise<Measurement>
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean
  info?: { vendor?: string, architecture?: string, description?: string, isFallbackAdapter?: boolean }
}
interface GpuLike { requestAdapter(): Promise<GpuAdapterLike | null> }

const CANDIDATES = ['webgpu', 'webgl', 'wasm', 'cpu']
/** Images per evaluation call: the timed evaluation stops between chunks once over budget. */
const EVAL_CHUNK = 100
const MIN_STEPS = 3
const MODELS: Record<MeasureRequest['model'], () => ModelConfig> = { mlp: () => mnistMlp(), cnn: () => mnistCnn() }
const params = new URLSearchParams(location.search)
const log = (line: string): void => {
  document.getElementById('log')!.textContent += line + '\n'
  console.log(line)
}

// Map form keys by file name; the types insist on a folder string.
setWasmPaths({ 'tfjs-backend-wasm.wasm': wasm, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded } as unknown as string)

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

async function fetchIdx (name: string, offset: number, count: number): Promise<Uint8Array> {
  const res = await fetch(`/mnist/${name}?offset=${offset}&count=${count}`)
  if (!res.ok) throw new Error(`GET /mnist/${name}: ${res.status}`)
  return new Uint8Array(await res.arrayBuffer())
}

/** The WebGPU adapter Chromium offers, described; tfjs's webgpu factory throws on a null one. */
async function webgpuAdapter (): Promise<{ detail: string, fallback: boolean } | undefined> {
  const gpu = (navigator as { gpu?: GpuLike }).gpu
  if (gpu == null) return undefined
  const adapter = await gpu.requestAdapter().catch(() => null)
  if (adapter == null) return undefined
  const info = adapter.info ?? {}
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false
  return { detail: [info.vendor, info.architecture, info.description].filter(s => s != null && s !== '').join(' / '), fallback }
}

/** The WebGL2 renderer string, which names SwiftShader when the GPU is software. */
function webglRenderer (): string {
  const gl = document.createElement('canvas').getContext('webgl2')
  if (gl == null) return 'no WebGL2 context'
  const ext = gl.getExtension('WEBGL_debug_renderer_info')
  return String(ext != null ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER))
}

/** Start every candidate through protocol's probe, keeping tfjs's warnings as failure reasons. */
async function startBackends (): Promise<BackendInfo[]> {
  const infos = new Map<string, BackendInfo>(CANDIDATES.map(name => [name, { name, ok: false }]))
  const gpu = await webgpuAdapter()
  const webgpu = infos.get('webgpu')!
  if (gpu == null) webgpu.error = 'no WebGPU adapter (navigator.gpu missing or requestAdapter() gave null)'
  else {
    webgpu.detail = gpu.detail
    webgpu.fallbackAdapter = gpu.fallback
    await import('@tensorflow/tfjs-backend-webgpu').catch((err: Error) => { webgpu.error = `could not load: ${err.message}` })
  }
  infos.get('webgl')!.detail = webglRenderer()
  const warnings: string[] = []
  const warn = console.warn
  // tfjs reports why a backend failed to initialise only through console.warn
  console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')); warn.apply(console, args) }
  try {
    const choice = await chooseBackend(CANDIDATES.filter(n => infos.get(n)!.error == null), { warmup: 1, runs: 3 })
    for (const info of infos.values()) {
      const ms = choice.timings[info.name]
      if (ms != null) { info.ok = true; info.msPerMatmul = ms }
      const failed = choice.failed[info.name]
      if (failed != null) {
        const i = warnings.findIndex(w => w.includes(`backend ${info.name} failed`))
        info.error = `${failed}${i >= 0 && warnings[i + 1] != null ? `: ${warnings[i + 1]!.split('\n')[0]}` : ''}`
      }
    }
  } finally {
    console.warn = warn
  }
  if (infos.get('wasm')!.ok) {
    await tf.setBackend('wasm')
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')
    infos.get('wasm')!.detail = `SIMD ${simd ? 'yes' : 'no'}, threads ${threads ? 'yes' : 'no'} (crossOriginIsolated ${String(globalThis.crossOriginIsolated)})`
  }
  return [...infos.values()]
}

/** Train and evaluate one fresh model on one backend; errors come back as data, not throws. */
async function measure (req: MeasureRequest, train: Dataset, test: Dataset): Promise<Measurement> {
  const out: Measurement = { backend: req.backend, model: req.model, params: 0, steps: 0, trainSamples: 0, trainMs: 0, evalSamples: 0, evalMs: 0, warmupLoss: NaN, accuracy: NaN, leakedTensors: 0 }
  if (!(await tf.setBackend(req.backend))) return { ...out, error: `backend ${req.backend} did not start` }
  const before = tf.memory().numTensors
  let trainer: Trainer | undefined
  try {
    // one step per call, so a slow backend can stop at the budget; no yields inside the timing
    trainer = await Trainer.create(MODELS[req.model](), { seed: 1, yieldEveryMs: 1e9 })
    out.params = trainer.getSnapshot().tensors.reduce((s, t) => s + t.data.length, 0)
    let t = performance.now()
    out.warmupLoss = (await trainer.trainSteps(train, req.warmup)).loss
    log(`${req.backend} ${req.model}: ${req.warmup} warm-up steps ${(performance.now() - t).toFixed(0)} ms`)
    t = performance.now()
    const chunks = range(0, Math.ceil(test.count / EVAL_CHUNK)).map(i => subset(test, range(i * EVAL_CHUNK, Math.min(test.count, (i + 1) * EVAL_CHUNK))))
    await trainer.evaluate(chunks[0]!, { batchSize: EVAL_CHUNK })
    log(`${req.backend} ${req.model}: warm-up eval ${(performance.now() - t).toFixed(0)} ms`)
    const t0 = performance.now()
    while (out.steps < req.steps && (out.steps < MIN_STEPS || performance.now() - t0 < req.budgetMs)) {
      out.trainSamples += (await trainer.trainSteps(train, 1)).samples
      out.steps++
    }
    out.trainMs = performance.now() - t0
    // chunks of one batch, so a slow backend stops at the budget with a rate all the same
    let hits = 0
    const t1 = performance.now()
    for (const chunk of chunks) {
      if (out.evalSamples > 0 && performance.now() - t1 >= req.budgetMs) break
      hits += (await trainer.evaluate(chunk, { batchSize: EVAL_CHUNK })).accuracy * chunk.count
      out.evalSamples += chunk.count
    }
    out.evalMs = performance.now() - t1
    out.accuracy = hits / out.evalSamples
  } catch (err) {
    out.error = `${(err as Error).name}: ${(err as Error).message}`
  } finally {
    trainer?.dispose()
  }
  out.leakedTensors = tf.memory().numTensors - before
  log(`${req.backend} ${req.model}: ${out.error ?? `${out.steps} steps in ${out.trainMs.toFixed(0)} ms`}`)
  return out
}

const page: ThroughputPage = {
  phase: 'loading',
  backends: [],
  measure: async () => { throw new Error('page is not ready') }
}
;(globalThis as unknown as { murmurThroughput: ThroughputPage }).murmurThroughput = page

async function main (): Promise<void> {
  const trainCount = Number(params.get('train') ?? 1000)
  const testCount = Number(params.get('test') ?? 500)
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    fetchIdx('train-images', 0, trainCount), fetchIdx('train-labels', 0, trainCount),
    fetchIdx('test-images', 0, testCount), fetchIdx('test-labels', 0, testCount)
  ])
  const train = datasetFromIdx(trainImages, trainLabels, { numClasses: 10 })
  const test = datasetFromIdx(testImages, testLabels, { numClasses: 10 })
  page.backends = await startBackends()
  page.measure = async req => await measure(req, train, test)
  page.phase = 'ready'
  log(`ready: ${page.backends.map(b => `${b.name} ${b.ok ? 'ok' : 'failed'}`).join(', ')}`)
}

main().catch((err: Error) => {
  page.phase = 'failed'
  page.error = `${err.name}: ${err.message}`
  log(`failed: ${err.message}`)
})
