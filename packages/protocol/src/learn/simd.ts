import { loadSimd } from './wasm.js'
import type { SimdModule } from './wasm.js'
import type { AverageStats } from './kernels.js'

// Block drivers for the SIMD loops in wasm.ts. Each block of every input is copied into the
// module's memory (a memcpy that streams from RAM into cache), worked on there and the result
// copied out; the memory stays small (a few blocks) whatever the tensor size.

/** Which loops merges run on. */
export type MergeBackend = 'wasm-simd' | 'js'

/** Floats per block; the few blocks in use (n + 1 for the robust rules) stay in L2. */
const CHUNK = 8192
const BYTES = CHUNK * 4
const PAGE = 65536

let wanted: MergeBackend = 'wasm-simd'

/** The loops merges run on now: `wasm-simd` where WebAssembly SIMD runs, else `js`. */
export function getMergeBackend (): MergeBackend {
  return wanted === 'wasm-simd' && loadSimd() != null ? 'wasm-simd' : 'js'
}

/**
 * Chooses the loops merges run on, for benchmarks and tests; both give the same results to
 * float32 rounding. Asking for `wasm-simd` where it cannot run leaves `js` in use.
 */
export function setMergeBackend (backend: MergeBackend): void {
  wanted = backend
}

function simd (): SimdModule | undefined {
  return wanted === 'wasm-simd' ? loadSimd() : undefined
}

/** A view of the module's memory, grown to at least `bytes`. */
function heap (m: SimdModule, bytes: number): Float32Array {
  const have = m.memory.buffer.byteLength
  if (have < bytes) m.memory.grow(Math.ceil((bytes - have) / PAGE))
  return new Float32Array(m.memory.buffer)
}

/** Sum of the four float lanes at `at`. */
function lanes (mem: Float32Array, at: number): number {
  return (mem[at]! + mem[at + 1]!) + (mem[at + 2]! + mem[at + 3]!)
}

/** out = Σ w[i]·xs[i] with SIMD; false when SIMD is not in use. */
export function simdWeightedSumInto (out: Float32Array, xs: readonly Float32Array[], w: Float64Array): boolean {
  const m = simd()
  if (m == null) return false
  const mem = heap(m, 2 * BYTES)
  const len = out.length
  for (let s = 0; s < len; s += CHUNK) {
    const e = Math.min(len, s + CHUNK)
    const padded = (e - s + 3) & ~3
    mem.fill(0, 0, padded)
    for (let i = 0; i < xs.length; i++) {
      // Lanes past the block's end hold stale data; they are never copied out.
      mem.set(xs[i]!.subarray(s, e), CHUNK)
      m.axpy(0, BYTES, padded, w[i]!)
    }
    out.set(mem.subarray(0, e - s), s)
  }
  return true
}

/**
 * As `simdWeightedSumInto`, plus the statistics variance correction needs; undefined when
 * SIMD is not in use. Lanes sum in float32 within a block, so values are taken relative to a
 * per-tensor shift (its first element) to keep E[x²] − E[x]² from cancelling.
 */
export function simdWeightedSumWithStats (out: Float32Array, xs: readonly Float32Array[], w: Float64Array): AverageStats | undefined {
  const m = simd()
  if (m == null) return undefined
  const mem = heap(m, 3 * BYTES + 64)
  const n = xs.length
  const len = out.length
  const shifts = xs.map(x => Math.fround(x[0] ?? 0))
  const shiftM = Math.fround(shifts.reduce((acc, c, i) => acc + w[i]! * c, 0))
  const sums = new Float64Array(n)
  const squares = new Float64Array(n)
  let sumM = 0
  let squaresM = 0
  const at = 3 * CHUNK
  // Copies input i's block to slot `slot`; padding equal to the shift adds nothing to the sums.
  const copyIn = (i: number, slot: number, s: number, e: number, padded: number): void => {
    const base = slot * CHUNK
    mem.set(xs[i]!.subarray(s, e), base)
    if (padded !== e - s) mem.fill(shifts[i]!, base + e - s, base + padded)
  }
  for (let s = 0; s < len; s += CHUNK) {
    const e = Math.min(len, s + CHUNK)
    const l = e - s
    const padded = (l + 3) & ~3
    mem.fill(0, 0, padded)
    let i = 0
    // Two inputs per pass: the output block is loaded and stored half as often.
    for (; i + 2 <= n; i += 2) {
      copyIn(i, 1, s, e, padded)
      copyIn(i + 1, 2, s, e, padded)
      m.axpyStats2(0, BYTES, 2 * BYTES, padded, w[i]!, w[i + 1]!, shifts[i]!, shifts[i + 1]!, 3 * BYTES)
      sums[i]! += lanes(mem, at)
      squares[i]! += lanes(mem, at + 4)
      sums[i + 1]! += lanes(mem, at + 8)
      squares[i + 1]! += lanes(mem, at + 12)
    }
    if (i < n) {
      copyIn(i, 1, s, e, padded)
      m.axpyStats(0, BYTES, padded, w[i]!, shifts[i]!, 3 * BYTES)
      sums[i]! += lanes(mem, at)
      squares[i]! += lanes(mem, at + 4)
    }
    if (padded !== l) mem.fill(shiftM, l, padded)
    m.sumSquares(0, padded, shiftM, 3 * BYTES)
    sumM += lanes(mem, at)
    squaresM += lanes(mem, at + 4)
    out.set(mem.subarray(0, l), s)
  }
  let target = 0
  for (let i = 0; i < n; i++) {
    const mu = sums[i]! / len
    target += w[i]! * (squares[i]! / len - mu * mu)
  }
  const deviation = sumM / len
  return { target: Math.max(0, target), mean: shiftM + deviation, variance: Math.max(0, squaresM / len - deviation * deviation) }
}

/**
 * out[j] = mean of the sorted values lo..hi of coordinate j, sorting with the comparator
 * network `net` (flat low/high pairs) in SIMD; undefined when SIMD is not in use.
 */
export function simdMiddleMean (tensors: readonly Float32Array[], lo: number, hi: number, length: number, net: Int32Array): Float32Array | undefined {
  const m = simd()
  if (m == null) return undefined
  const n = tensors.length
  const mem = heap(m, (n + 1) * BYTES)
  const out = new Float32Array(length)
  const count = hi - lo + 1
  const sum = new Float64Array(count > 2 ? CHUNK : 0)
  for (let s = 0; s < length; s += CHUNK) {
    const e = Math.min(length, s + CHUNK)
    const l = e - s
    const padded = (l + 3) & ~3
    for (let i = 0; i < n; i++) mem.set(tensors[i]!.subarray(s, e), i * CHUNK)
    for (let c = 0; c < net.length; c += 2) m.compareExchange(net[c]! * BYTES, net[c + 1]! * BYTES, padded)
    if (count === 1) {
      out.set(mem.subarray(lo * CHUNK, lo * CHUNK + l), s)
    } else if (count === 2) {
      m.midpoint(n * BYTES, lo * BYTES, hi * BYTES, padded)
      out.set(mem.subarray(n * CHUNK, n * CHUNK + l), s)
    } else {
      // Trimmed means of many values are summed in doubles, as the JavaScript path does.
      sum.fill(0)
      for (let p = lo; p <= hi; p++) {
        const row = mem.subarray(p * CHUNK, p * CHUNK + l)
        for (let j = 0; j < l; j++) sum[j]! += row[j]!
      }
      const inv = 1 / count
      for (let j = 0; j < l; j++) out[s + j] = sum[j]! * inv
    }
  }
  return out
}
