import { commonLength } from './check.js'
import { MergeInputError } from './errors.js'
import { simdMiddleMean } from './simd.js'

// Robust rules sort each coordinate's n values. Sorting per coordinate with a loop would
// branch unpredictably on every element; instead a block of coordinates is copied into n
// scratch rows and a sorting network runs across the rows, one compare-exchange loop per
// comparator, with no allocation per element. Comparators that cannot change the middle
// values are pruned, so a median of 8 needs 16 of Batcher's 19. With WebAssembly SIMD the
// same network runs four coordinates per instruction, branch-free (simd.ts); the loops here
// are the fallback.

/** Coordinates per block: n scratch rows of this many floats stay in L1/L2. */
const CHUNK = 2048

/** Batcher's odd–even merge sort for n inputs as flat (low, high) pairs. */
function batcher (n: number): number[] {
  let size = 1
  while (size < n) size *= 2
  const pairs: number[] = []
  // Positions >= n hold +Infinity in the padded network and never move, so comparators that
  // touch them are no-ops and are left out.
  for (let p = 1; p < size; p *= 2) {
    for (let k = p; k >= 1; k = Math.floor(k / 2)) {
      for (let j = k % p; j <= size - 1 - k; j += 2 * k) {
        for (let i = 0; i <= Math.min(k - 1, size - j - k - 1); i++) {
          const a = i + j
          const b = i + j + k
          if (Math.floor(a / (p * 2)) === Math.floor(b / (p * 2)) && b < n) pairs.push(a, b)
        }
      }
    }
  }
  return pairs
}

/**
 * The comparators of `batcher(n)` that matter when only the sum of sorted positions
 * lo..hi is read: walking backwards, a comparator whose outputs feed nothing read is dropped,
 * and so is one between two positions that are only summed (swapping them keeps the sum).
 */
function middleNetwork (n: number, lo: number, hi: number): Int32Array {
  const all = batcher(n)
  const needed = new Uint8Array(n)
  const summedOnly = new Uint8Array(n)
  for (let p = lo; p <= hi; p++) { needed[p] = 1; summedOnly[p] = 1 }
  const kept: number[] = []
  for (let c = all.length - 2; c >= 0; c -= 2) {
    const a = all[c]!
    const b = all[c + 1]!
    if (needed[a] === 0 && needed[b] === 0) continue
    if (summedOnly[a] === 1 && summedOnly[b] === 1) continue
    kept.push(b, a)
    needed[a] = 1; needed[b] = 1
    summedOnly[a] = 0; summedOnly[b] = 0
  }
  return Int32Array.from(kept.reverse())
}

const networks = new Map<string, Int32Array>()

function networkFor (n: number, lo: number, hi: number): Int32Array {
  const key = `${n}:${lo}:${hi}`
  let net = networks.get(key)
  if (net == null) {
    net = middleNetwork(n, lo, hi)
    networks.set(key, net)
  }
  return net
}

function compareExchange (low: Float32Array, high: Float32Array): void {
  for (let j = 0; j < low.length; j++) {
    const a = low[j]!
    const b = high[j]!
    if (b < a) { low[j] = b; high[j] = a }
  }
}

/** out[j] = mean of the sorted values at positions lo..hi of coordinate j across `tensors`. */
function middleMean (tensors: readonly Float32Array[], lo: number, hi: number, length: number): Float32Array {
  const n = tensors.length
  if (n === 1) return tensors[0]!.slice()
  const net = networkFor(n, lo, hi)
  const fast = simdMiddleMean(tensors, lo, hi, length, net)
  if (fast != null) return fast
  const out = new Float32Array(length)
  const rows: Float32Array[] = []
  for (let i = 0; i < n; i++) rows.push(new Float32Array(Math.min(CHUNK, length)))
  const count = hi - lo + 1
  const acc = new Float64Array(count > 1 ? Math.min(CHUNK, length) : 0)
  for (let s = 0; s < length; s += CHUNK) {
    const e = Math.min(length, s + CHUNK)
    const r = e - s === rows[0]!.length ? rows : rows.map(row => row.subarray(0, e - s))
    for (let i = 0; i < n; i++) r[i]!.set(tensors[i]!.subarray(s, e))
    for (let c = 0; c < net.length; c += 2) compareExchange(r[net[c]!]!, r[net[c + 1]!]!)
    if (count === 1) {
      out.set(r[lo]!, s)
      continue
    }
    // Summed in doubles: the mean of values near the float32 limit must not overflow.
    const sum = e - s === acc.length ? acc : acc.subarray(0, e - s)
    sum.set(r[lo]!)
    for (let p = lo + 1; p <= hi; p++) {
      const row = r[p]!
      for (let j = 0; j < sum.length; j++) sum[j]! += row[j]!
    }
    const inv = 1 / count
    for (let j = 0; j < sum.length; j++) out[s + j] = sum[j]! * inv
  }
  return out
}

/**
 * The coordinate-wise median: per element, the middle value across tensors (the mean of the
 * two middle values for an even count). Unweighted, and robust to fewer than half of the
 * inputs being arbitrary. Inputs must be finite (see `validateModel`).
 */
export function coordinateMedian (tensors: readonly Float32Array[]): Float32Array {
  const length = commonLength(tensors, 'coordinateMedian')
  const n = tensors.length
  return middleMean(tensors, Math.floor((n - 1) / 2), Math.floor(n / 2), length)
}

/** What `trimmed-mean` cuts from each side when nobody says otherwise: up to a fifth of the models may be Byzantine. */
export const DEFAULT_TRIM = 0.2

/**
 * The coordinate-wise trimmed mean: per element, drop the floor(trim·n) smallest and the as
 * many largest values across tensors and average the rest. `trim` is the fraction cut from
 * each side, in [0, 0.5); 0 gives the plain unweighted mean. Inputs must be finite.
 */
export function trimmedMean (tensors: readonly Float32Array[], trim: number): Float32Array {
  const length = commonLength(tensors, 'trimmedMean')
  if (typeof trim !== 'number' || !(trim >= 0 && trim < 0.5)) {
    throw new MergeInputError(`trimmedMean: trim is the fraction cut from each side and must be in [0, 0.5), got ${String(trim)}`)
  }
  const n = tensors.length
  // The nudge keeps e.g. 0.29·100 = 28.999999999999996 from trimming one model too few.
  const k = Math.min(Math.floor(trim * n + 1e-9), Math.floor((n - 1) / 2))
  return middleMean(tensors, k, n - 1 - k, length)
}
