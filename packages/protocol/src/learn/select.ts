// Exact top-k by magnitude in O(n) expected time: a random sample estimates a magnitude just
// below the k-th largest, one pass gathers the few candidates at or above it, and quickselect
// over those candidates finds the exact k-th largest. A full sort of a 25M-element tensor
// would cost seconds; this costs about two passes.

/** Below this length every element is a candidate; sampling would not save a pass. */
const SMALL = 1 << 16
/** Sample size for the threshold estimate. */
const SAMPLE = 1 << 14

/** The value of rank `rank` (0 = smallest) of `a`, reordering `a`. Hoare partition with median-of-three pivots. */
function selectRank (a: Float32Array, rank: number): number {
  let lo = 0
  let hi = a.length - 1
  // Bad pivots are unlikely with median-of-three; after this many rounds, sort what is left.
  let rounds = 4 * Math.ceil(Math.log2(a.length + 2)) + 16
  while (hi > lo) {
    if (rounds-- === 0) return a.subarray(lo, hi + 1).sort()[rank - lo]!
    const x = a[lo]!; const y = a[(lo + hi) >>> 1]!; const z = a[hi]!
    const pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y))
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) {
        const t = a[i]!; a[i] = a[j]!; a[j] = t
        i++; j--
      }
    }
    // Now a[lo..j] <= pivot <= a[i..hi], and everything strictly between equals the pivot.
    if (rank <= j) hi = j
    else if (rank >= i) lo = i
    else return pivot
  }
  return a[lo]!
}

/** A magnitude that at least `count` elements of `values` very probably reach (0 when sampling cannot help). */
function sampledThreshold (values: Float32Array, count: number): number {
  const n = values.length
  if (n <= SMALL) return 0
  const sample = new Float32Array(SAMPLE)
  // xorshift32 with a fixed seed: the result never depends on it, only the speed does.
  let state = 0x9e3779b9
  for (let s = 0; s < SAMPLE; s++) {
    state ^= state << 13; state ^= state >>> 17; state ^= state << 5
    sample[s] = Math.abs(values[(state >>> 0) % n]!)
  }
  sample.sort()
  const p = count / n
  // Reach four standard deviations past the expected rank so the gather rarely falls short.
  const fromTop = Math.ceil(p * SAMPLE + 4 * Math.sqrt(p * (1 - p) * SAMPLE) + 16)
  return fromTop >= SAMPLE ? 0 : sample[SAMPLE - 1 - fromTop]!
}

/** Ascending indices of the elements with |v| >= threshold. */
function gather (values: Float32Array, threshold: number, capacity: number): Uint32Array {
  let out = new Uint32Array(Math.max(16, Math.min(values.length, capacity)))
  let c = 0
  for (let j = 0; j < values.length; j++) {
    if (Math.abs(values[j]!) >= threshold) {
      if (c === out.length) {
        const grown = new Uint32Array(Math.min(values.length, out.length * 2))
        grown.set(out)
        out = grown
      }
      out[c++] = j
    }
  }
  return out.subarray(0, c)
}

/**
 * Ascending indices of the `count` elements of largest magnitude; among equal magnitudes the
 * lower index wins, so the choice is deterministic. Values must not be NaN.
 */
export function topKIndices (values: Float32Array, count: number): Uint32Array {
  const n = values.length
  if (count <= 0) return new Uint32Array(0)
  if (count >= n) return Uint32Array.from({ length: n }, (_, i) => i)
  let candidates = gather(values, sampledThreshold(values, count), Math.ceil(count * 1.5) + 1024)
  // The sample overestimated the threshold (rare): every element is a candidate.
  if (candidates.length < count) candidates = gather(values, 0, n)
  const mags = new Float32Array(candidates.length)
  for (let i = 0; i < candidates.length; i++) mags[i] = Math.abs(values[candidates[i]!]!)
  const kth = selectRank(mags, candidates.length - count)
  let above = 0
  for (let i = 0; i < candidates.length; i++) if (Math.abs(values[candidates[i]!]!) > kth) above++
  let ties = count - above
  const out = new Uint32Array(count)
  let c = 0
  for (let i = 0; i < candidates.length; i++) {
    const j = candidates[i]!
    const m = Math.abs(values[j]!)
    if (m > kth || (m === kth && ties-- > 0)) out[c++] = j
  }
  return out
}
