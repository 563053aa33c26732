/**
 * A page that joins the char-lm example's session as one more peer: it brings its own text
 * (handed in by the test), prepares it with the example's browser module exactly as a Node
 * peer does, trains the session's model, and samples text from what it learnt.
 * `globalThis.murmurLm.start({ bootstrap, session, text, testText, rounds })` joins.
 */
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'
import { joinSession } from '@murmur/browser'
import type { MurmurSession } from '@murmur/browser'
import { encodeText, generate, textWindows } from '@murmur/example-char-lm/browser'

interface LmState {
  phase: string
  peerId?: string
  backend?: string
  rounds: Array<{ round: number, perplexity: number, mergedWith: string[] }>
  errors: string[]
  sample?: string
}

const state: LmState = { phase: 'loading', rounds: [], errors: [] }
let handle: MurmurSession | undefined

async function start (options: { bootstrap: string, session: string, text: string, testText: string, rounds: number }): Promise<void> {
  const train = textWindows(encodeText(options.text))
  const test = textWindows(encodeText(options.testText))
  handle = await joinSession({
    bootstrap: [options.bootstrap],
    session: options.session,
    train,
    test,
    storage: 'memory',
    maxRounds: options.rounds,
    wasmPaths: { 'tfjs-backend-wasm.wasm': wasm, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded }
  })
  state.phase = 'joined'
  state.peerId = handle.peerId
  state.backend = handle.backend.name
  handle.addEventListener('round', evt => { state.rounds.push({ round: evt.detail.round, perplexity: evt.detail.metrics.perplexity ?? Number.NaN, mergedWith: evt.detail.mergedWith }) })
  handle.addEventListener('error', evt => { state.errors.push(evt.detail.message) })
  await handle.peer.done
  // what the page learnt, out as a tf.LayersModel, sampled greedily from a prompt
  const model = await handle.peer.model()
  state.sample = generate(model, 'the whale ', 40, { temperature: 0.5, seed: 3 })
  model.dispose()
  state.phase = 'done'
}

;(globalThis as unknown as { murmurLm: unknown }).murmurLm = {
  state,
  start: async (options: Parameters<typeof start>[0]) => {
    await start(options).catch((err: Error) => { state.phase = 'failed'; state.errors.push(`${err.name}: ${err.message}`) })
  },
  leave: async () => { await handle?.leave() }
}
state.phase = 'ready'
