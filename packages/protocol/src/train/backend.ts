/**
 * Picking a tfjs backend by measuring it. tfjs ranks backends by a fixed priority, which on
 * GPU-less machines puts SwiftShader WebGPU (~70 ms per 256×256 matmul) ahead of WASM
 * (~1.3 ms): only a measurement gets this right.
 */
import * as tf from '@tensorflow/tfjs'
import { NoBackendError } from './errors.js'
import { registerTrainingKernels } from './kernels.js'

/** Options for `chooseBackend`. */
export interface ChooseBackendOptions {
  /**
   * Side of the square matmul used as the probe.
   * @default 256
   */
  size?: number
  /**
   * Untimed runs first, so shader compilation and wasm warm-up do not count.
   * @default 2
   */
  warmup?: number
  /**
   * Timed runs; the median counts.
   * @default 5
   */
  runs?: number
}

/** The chosen backend, every candidate's median matmul time, and why any candidate was passed over. */
export interface BackendChoice {
  backend: string
  /** Median milliseconds per probe matmul, for each candidate that worked. */
  timings: Record<string, number>
  /** Candidates that are not registered or failed to initialise, with the reason. */
  failed: Record<string, string>
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function probe (size: number, warmup: number, runs: number): Promise<number> {
  const values = new Float32Array(size * size)
  for (let i = 0; i < values.length; i++) values[i] = ((i * 7919) % 1000) / 1000 - 0.5
  const a = tf.tensor2d(values, [size, size])
  try {
    const times: number[] = []
    for (let i = 0; i < warmup + runs; i++) {
      const start = performance.now()
      const c = tf.matMul(a, a)
      try {
        // Reading the result is what waits for asynchronous backends (WebGL, WebGPU) to finish.
        await c.data()
      } finally {
        c.dispose()
      }
      if (i >= warmup) times.push(performance.now() - start)
    }
    return median(times)
  } finally {
    a.dispose()
  }
}

/**
 * Time a short matmul on every registered candidate and switch tfjs to the fastest. Call it
 * before building models: tensors made earlier would have to move between backends.
 */
export async function chooseBackend (candidates: string[], options: ChooseBackendOptions = {}): Promise<BackendChoice> {
  const size = options.size ?? 256
  const warmup = options.warmup ?? 2
  const runs = Math.max(1, options.runs ?? 5)
  // The winner must be able to train, not just multiply: fill its known kernel gaps first.
  registerTrainingKernels()
  const timings: Record<string, number> = {}
  const failed: Record<string, string> = {}
  for (const name of candidates) {
    if (tf.findBackendFactory(name) == null) {
      failed[name] = 'not registered (import its tfjs backend package first)'
      continue
    }
    try {
      if (!(await tf.setBackend(name))) {
        failed[name] = 'failed to initialise'
        continue
      }
      timings[name] = await probe(size, warmup, runs)
    } catch (err) {
      failed[name] = (err as Error).message ?? String(err)
    }
  }
  let best: string | undefined
  for (const [name, ms] of Object.entries(timings)) {
    if (best === undefined || ms < (timings[best] as number)) best = name
  }
  if (best === undefined) {
    const reasons = Object.entries(failed).map(([n, why]) => `${n}: ${why}`).join('; ')
    throw new NoBackendError(`no usable tfjs backend among [${candidates.join(', ')}]${reasons === '' ? '' : ` (${reasons})`}`)
  }
  await tf.setBackend(best)
  return { backend: best, timings, failed }
}
