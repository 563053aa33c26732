/**
 * One page = one Murmur peer, driven by query parameters, reporting everything the test
 * checks on `window.murmurTest`:
 *   ?session=&bootstrap=<ws multiaddr>&offset=&count=&testCount=&storage=<name>&create=1&rounds=
 */
import { joinSession } from '@murmur/browser'
import type { BackendReport, MurmurSession, PeerView, RoundMetrics } from '@murmur/browser'
import { datasetFromIdx, mnistMlp } from '@murmur/protocol'
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'

interface PageState {
  phase: 'loading' | 'joined' | 'failed' | 'left'
  peerId?: string
  backend?: BackendReport
  resumed?: { round: number, accuracy: number }
  rounds: RoundMetrics[]
  peers: PeerView[]
  errors: string[]
  /** ms since navigation start. */
  times: { dataLoaded?: number, joined?: number, firstWebrtc?: number }
  leave?: () => Promise<void>
}

const state: PageState = { phase: 'loading', rounds: [], peers: [], errors: [], times: {} }
;(globalThis as unknown as { murmurTest: PageState }).murmurTest = state
const params = new URLSearchParams(location.search)
const log = (line: string): void => { document.getElementById('log')!.textContent += line + '\n' }

async function fetchIdx (name: string, offset: number, count: number): Promise<Uint8Array> {
  const res = await fetch(`/mnist/${name}?offset=${offset}&count=${count}`)
  if (!res.ok) throw new Error(`GET /mnist/${name}: ${res.status}`)
  return new Uint8Array(await res.arrayBuffer())
}

async function main (): Promise<void> {
  const offset = Number(params.get('offset') ?? 0)
  const count = Number(params.get('count') ?? 2000)
  const testCount = Number(params.get('testCount') ?? 500)
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    fetchIdx('train-images', offset, count), fetchIdx('train-labels', offset, count),
    fetchIdx('test-images', 0, testCount), fetchIdx('test-labels', 0, testCount)
  ])
  const train = datasetFromIdx(trainImages, trainLabels, { numClasses: 10 })
  const test = datasetFromIdx(testImages, testLabels, { numClasses: 10 })
  state.times.dataLoaded = performance.now()

  const handle: MurmurSession = await joinSession({
    bootstrap: [params.get('bootstrap') ?? ''],
    session: params.get('session') ?? 'e2e',
    train,
    test,
    ...(params.get('create') === '1' ? { model: mnistMlp({ localSteps: 20, batchSize: 32 }), create: { averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp16' } } : {}),
    // the agents and the other page start at once: nobody waits for a first head
    pace: { minPeers: 0 },
    storageName: params.get('storage') ?? 'murmur',
    maxRounds: params.has('rounds') ? Number(params.get('rounds')) : undefined,
    wasmPaths: { 'tfjs-backend-wasm.wasm': wasm, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded }
  })
  state.times.joined = performance.now()
  state.phase = 'joined'
  state.peerId = handle.peerId
  state.backend = handle.backend
  if (handle.resumed != null) state.resumed = handle.resumed
  state.leave = async () => { await handle.leave(); state.phase = 'left' }
  log(`joined as ${handle.peerId} on ${handle.backend.name}`)
  handle.addEventListener('round', evt => {
    state.rounds.push(evt.detail)
    log(`round ${evt.detail.round}: accuracy ${(evt.detail.accuracy * 100).toFixed(1)} % merged ${evt.detail.mergedWith.length}`)
  })
  handle.addEventListener('peers', evt => {
    state.peers = evt.detail
    if (state.times.firstWebrtc == null && evt.detail.some(p => p.transport === 'webrtc')) state.times.firstWebrtc = performance.now()
  })
  handle.addEventListener('error', evt => { state.errors.push(evt.detail.message) })
}

main().catch((err: Error) => {
  state.phase = 'failed'
  state.errors.push(`${err.name}: ${err.message}`)
  log(`failed: ${err.message}`)
})
