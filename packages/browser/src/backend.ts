/**
 * The tfjs backend a page trains on, chosen by measurement: tfjs ranks backends by a fixed
 * priority, which on a GPU-less machine puts SwiftShader WebGPU (~70 ms per 256×256 matmul)
 * ahead of WASM (~1.3 ms). The probe itself is protocol's `chooseBackend`; this file
 * registers the browser's candidates, spots fallback adapters and caches the verdict.
 */
import * as tf from '@tensorflow/tfjs'
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm'
import { chooseBackend } from '@murmur/protocol'

/** Backends a page may ask for; `auto` measures them all. */
export type BackendPreference = 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu'

/** Which backend a page trains on and how each candidate did. */
export interface BackendReport {
  name: string
  candidates: Array<{ name: string, msPerMatmul?: number, fallbackAdapter?: boolean, error?: string }>
  /** True when the choice came from an earlier page load's measurement (localStorage). */
  cached: boolean
}

/** Where tfjs finds its .wasm files: a folder URL ending in `/`, or one URL per file name. */
export type WasmPaths = string | Partial<Record<'tfjs-backend-wasm.wasm' | 'tfjs-backend-wasm-simd.wasm' | 'tfjs-backend-wasm-threaded-simd.wasm', string>>

/** Options of `selectBackend`. */
export interface SelectBackendOptions {
  /** @default 'auto' */
  backend?: BackendPreference
  /** Passed to tfjs's `setWasmPaths` before the WASM backend starts. */
  wasmPaths?: WasmPaths
  /**
   * Reuse an earlier measurement stored in localStorage under this key; `false` always measures.
   * @default 'murmur:backend'
   */
  cacheKey?: string | false
}

const CANDIDATES = ['webgpu', 'webgl', 'wasm', 'cpu'] as const
let defaultWasmPaths: WasmPaths | undefined

/** Set the `.wasm` location used when `selectBackend` is given none (the CDN bundle points it next to itself). */
export function setDefaultWasmPaths (paths: WasmPaths | undefined): void {
  defaultWasmPaths = paths
}

interface GpuAdapterLike { isFallbackAdapter?: boolean, info?: { isFallbackAdapter?: boolean } }
interface GpuLike { requestAdapter(): Promise<GpuAdapterLike | null> }

/** Whether the device's WebGPU adapter is a software fallback (SwiftShader); undefined when there is none. */
export async function webgpuFallbackAdapter (): Promise<boolean | undefined> {
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu
  if (gpu == null) return undefined
  try {
    const adapter = await gpu.requestAdapter()
    if (adapter == null) return undefined
    return adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false
  } catch {
    return undefined
  }
}

/** Register the browser backends tfjs does not bundle, and point WASM at its binaries. */
async function registerCandidates (wasmPaths: WasmPaths | undefined, gpuAdapter: boolean): Promise<Record<string, string>> {
  const failed: Record<string, string> = {}
  // setWasmPaths's map form keys by file name; the types insist on every name
  if (wasmPaths != null) setWasmPaths(wasmPaths as string)
  // without an adapter tfjs's webgpu factory throws on null: say why instead
  if (!gpuAdapter) failed.webgpu = 'no WebGPU adapter (Chromium offers one with --enable-unsafe-webgpu or a GPU)'
  else if (tf.findBackendFactory('webgpu') == null) {
    try {
      await import('@tensorflow/tfjs-backend-webgpu')
    } catch (err) {
      failed.webgpu = `could not load: ${(err as Error).message}`
    }
  }
  return failed
}

function readCache (key: string | false, wanted: string[]): BackendReport | undefined {
  if (key === false || typeof localStorage === 'undefined') return undefined
  try {
    const raw = localStorage.getItem(key)
    if (raw == null) return undefined
    const stored = JSON.parse(raw) as BackendReport & { userAgent?: string }
    // a browser update can change which backend wins
    if (stored.userAgent !== navigator.userAgent || !wanted.includes(stored.name)) return undefined
    return { name: stored.name, candidates: stored.candidates, cached: true }
  } catch {
    return undefined
  }
}

function writeCache (key: string | false, report: BackendReport): void {
  if (key === false || typeof localStorage === 'undefined') return
  try {
    localStorage.setItem(key, JSON.stringify({ ...report, userAgent: navigator.userAgent }))
  } catch { /* storage full or denied: the next load measures again */ }
}

/**
 * Pick the fastest tfjs backend this device has by timing a 256×256 matmul on each
 * candidate (or use the one asked for), switch tfjs to it, and say how each did. The
 * verdict is cached in localStorage, so only the first page load pays for the probe.
 */
export async function selectBackend (options: SelectBackendOptions = {}): Promise<BackendReport> {
  const preference = options.backend ?? 'auto'
  const wanted = preference === 'auto' ? [...CANDIDATES] : [preference]
  const cacheKey = options.cacheKey ?? 'murmur:backend'
  const fallback = wanted.includes('webgpu') ? await webgpuFallbackAdapter() : undefined
  const loadFailures = await registerCandidates(options.wasmPaths ?? defaultWasmPaths, fallback != null)

  const cached = preference === 'auto' ? readCache(cacheKey, wanted) : undefined
  if (cached != null && await tf.setBackend(cached.name).catch(() => false)) {
    await tf.ready()
    return cached
  }

  const candidates = wanted.filter(name => loadFailures[name] == null)
  let choice: Awaited<ReturnType<typeof chooseBackend>>
  try {
    // short probe: candidates differ by 10–50× here, a few runs settle it
    choice = await chooseBackend(candidates, { warmup: 1, runs: 3 })
  } catch (err) {
    if (preference === 'auto' || preference === 'cpu') throw err
    // the one asked for does not work: train anyway, on the measured best of the rest
    choice = await chooseBackend(CANDIDATES.filter(c => c !== preference && loadFailures[c] == null), { warmup: 1, runs: 3 })
    choice.failed[preference] ??= (err as Error).message
  }
  const report: BackendReport = {
    name: choice.backend,
    candidates: wanted.map(name => ({
      name,
      ...(choice.timings[name] != null ? { msPerMatmul: choice.timings[name] } : {}),
      ...(name === 'webgpu' && fallback != null ? { fallbackAdapter: fallback } : {}),
      ...(loadFailures[name] ?? choice.failed[name]) != null ? { error: loadFailures[name] ?? choice.failed[name] } : {}
    })),
    cached: false
  }
  if (preference === 'auto') writeCache(cacheKey, report)
  return report
}
