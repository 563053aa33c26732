/**
 * The tfjs backend for Node peers. `@tensorflow/tfjs-node` cannot be installed here, so
 * Node trains on `@tensorflow/tfjs-backend-wasm` (about 20× the pure-JS cpu backend), whose
 * .wasm binaries ship inside the package; cpu stays as the fallback.
 */
import { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'
import { existsSync } from 'node:fs'
import { chooseBackend } from '@murmur/protocol'
import type { BackendChoice } from '@murmur/protocol'

/** The backend a Node peer trains on, how each candidate measured, and why WASM was not used if it was not. */
export interface NodeBackendChoice extends BackendChoice {
  /** Set when WASM was wanted but could not be loaded or initialised. */
  fallbackReason?: string
}

let wasmReady: Promise<void> | undefined

/** Folder of the package's .wasm files, with a trailing separator: tfjs appends file names to it. */
export function wasmBinaryDir (): string {
  const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')
  return join(dirname(pkg), 'dist') + sep
}

/** Register the WASM backend and point it at its binaries, once per process. */
async function setUpWasm (): Promise<void> {
  wasmReady ??= (async () => {
    const dir = wasmBinaryDir()
    if (!existsSync(join(dir, 'tfjs-backend-wasm-simd.wasm')) && !existsSync(join(dir, 'tfjs-backend-wasm.wasm'))) {
      throw new Error(`no .wasm binaries in ${dir}`)
    }
    // Importing the package registers the 'wasm' backend with tfjs; in Node its loader reads
    // the binary from a plain file path (the directory prefix), no fetch or file:// URL.
    const wasm = await import('@tensorflow/tfjs-backend-wasm')
    wasm.setWasmPaths(dir)
  })()
  await wasmReady
}

/**
 * Set up tfjs for a Node peer: WASM and cpu are each timed on a short matmul and the faster
 * wins (WASM, in practice). `preferred` skips the race; if WASM is preferred or raced and
 * fails, cpu is used and `fallbackReason` says why.
 */
export async function initNodeBackend (preferred?: 'wasm' | 'cpu'): Promise<NodeBackendChoice> {
  if (preferred === 'cpu') return await chooseBackend(['cpu'])
  let setupError: string | undefined
  try {
    await setUpWasm()
  } catch (err) {
    setupError = `WASM backend unavailable: ${(err as Error).message}`
  }
  if (setupError !== undefined) {
    const choice = await chooseBackend(['cpu'])
    return { ...choice, failed: { ...choice.failed, wasm: setupError }, fallbackReason: setupError }
  }
  const choice = await chooseBackend(preferred === 'wasm' ? ['wasm'] : ['wasm', 'cpu']).catch(async (err: Error) => {
    const cpu = await chooseBackend(['cpu'])
    return { ...cpu, failed: { ...cpu.failed, wasm: err.message } }
  })
  const wasmFailure = choice.failed.wasm
  return wasmFailure === undefined ? choice : { ...choice, fallbackReason: `WASM backend failed: ${wasmFailure}` }
}
