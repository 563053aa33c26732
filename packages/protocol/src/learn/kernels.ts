// The inner loops of averaging in plain JavaScript, used where WebAssembly SIMD cannot run
// (simd.ts has the faster path). They are written for V8: small monomorphic functions over
// Float32Arrays, four inputs per pass so each output element is loaded and stored once per
// four inputs, and blocks of CHUNK elements so the partial sums stay in cache while every
// input streams through once. Per-element work stays in the output Float32Array; statistics
// are summed in doubles.

/** Elements per block: the output block plus four input blocks fit in L1/L2. */
const CHUNK = 4096

function add4 (o: Float32Array, x: Float32Array, y: Float32Array, z: Float32Array, u: Float32Array,
  a: number, b: number, c: number, d: number, s: number, e: number): void {
  for (let j = s; j < e; j++) o[j]! += (a * x[j]! + b * y[j]!) + (c * z[j]! + d * u[j]!)
}

function add2 (o: Float32Array, x: Float32Array, y: Float32Array, a: number, b: number, s: number, e: number): void {
  for (let j = s; j < e; j++) o[j]! += a * x[j]! + b * y[j]!
}

function add1 (o: Float32Array, x: Float32Array, a: number, s: number, e: number): void {
  for (let j = s; j < e; j++) o[j]! += a * x[j]!
}

// As add4, also summing each input (stats[i..i+3]) and the weighted squares (stats[sq]).
function stat4 (o: Float32Array, x: Float32Array, y: Float32Array, z: Float32Array, u: Float32Array,
  a: number, b: number, c: number, d: number, s: number, e: number, stats: Float64Array, i: number, sq: number): void {
  let sx = 0; let sy = 0; let sz = 0; let su = 0; let q = 0
  for (let j = s; j < e; j++) {
    const p = x[j]!; const r = y[j]!; const t = z[j]!; const v = u[j]!
    const ap = a * p; const br = b * r; const ct = c * t; const dv = d * v
    o[j]! += (ap + br) + (ct + dv)
    sx += p; sy += r; sz += t; su += v
    q += (ap * p + br * r) + (ct * t + dv * v)
  }
  stats[i]! += sx; stats[i + 1]! += sy; stats[i + 2]! += sz; stats[i + 3]! += su; stats[sq]! += q
}

function stat2 (o: Float32Array, x: Float32Array, y: Float32Array, a: number, b: number,
  s: number, e: number, stats: Float64Array, i: number, sq: number): void {
  let sx = 0; let sy = 0; let q = 0
  for (let j = s; j < e; j++) {
    const p = x[j]!; const r = y[j]!
    const ap = a * p; const br = b * r
    o[j]! += ap + br
    sx += p; sy += r
    q += ap * p + br * r
  }
  stats[i]! += sx; stats[i + 1]! += sy; stats[sq]! += q
}

function stat1 (o: Float32Array, x: Float32Array, a: number, s: number, e: number, stats: Float64Array, i: number, sq: number): void {
  let sx = 0; let q = 0
  for (let j = s; j < e; j++) {
    const p = x[j]!
    const ap = a * p
    o[j]! += ap
    sx += p
    q += ap * p
  }
  stats[i]! += sx; stats[sq]! += q
}

// Sum and sum of squares of o[s..e), as two interleaved halves to break the add latency chain.
function sumSquares (o: Float32Array, s: number, e: number, stats: Float64Array, at: number): void {
  const h = (e - s) >> 1
  const m = s + h
  let a = 0; let b = 0; let qa = 0; let qb = 0
  for (let j = s; j < m; j++) {
    const p = o[j]!; const t = o[j + h]!
    a += p; b += t; qa += p * p; qb += t * t
  }
  if (((e - s) & 1) === 1) { const p = o[e - 1]!; a += p; qa += p * p }
  stats[at]! += a + b; stats[at + 1]! += qa + qb
}

/** out = Σ w[i]·xs[i], element-wise; `w` already normalised, `xs` all of out's length. */
export function weightedSumInto (out: Float32Array, xs: readonly Float32Array[], w: Float64Array): void {
  const n = xs.length
  const len = out.length
  for (let s = 0; s < len; s += CHUNK) {
    const e = Math.min(len, s + CHUNK)
    out.fill(0, s, e)
    let i = 0
    for (; i + 4 <= n; i += 4) add4(out, xs[i]!, xs[i + 1]!, xs[i + 2]!, xs[i + 3]!, w[i]!, w[i + 1]!, w[i + 2]!, w[i + 3]!, s, e)
    if (i + 2 <= n) { add2(out, xs[i]!, xs[i + 1]!, w[i]!, w[i + 1]!, s, e); i += 2 }
    if (i < n) add1(out, xs[i]!, w[i]!, s, e)
  }
}

/** What variance correction needs, all population statistics over one tensor. */
export interface AverageStats {
  /** Σ a_i·Var(x_i): the variance the corrected average should have. */
  target: number
  mean: number
  variance: number
}

/** out = Σ w[i]·xs[i] as `weightedSumInto`, plus the statistics of the inputs and of out, in the same pass. */
export function weightedSumWithStats (out: Float32Array, xs: readonly Float32Array[], w: Float64Array): AverageStats {
  const n = xs.length
  const len = out.length
  // [0, n): per-input sums; n: Σ_i a_i Σ_j x_ij²; n+1, n+2: sum and sum of squares of out.
  const stats = new Float64Array(n + 3)
  for (let s = 0; s < len; s += CHUNK) {
    const e = Math.min(len, s + CHUNK)
    out.fill(0, s, e)
    let i = 0
    for (; i + 4 <= n; i += 4) stat4(out, xs[i]!, xs[i + 1]!, xs[i + 2]!, xs[i + 3]!, w[i]!, w[i + 1]!, w[i + 2]!, w[i + 3]!, s, e, stats, i, n)
    if (i + 2 <= n) { stat2(out, xs[i]!, xs[i + 1]!, w[i]!, w[i + 1]!, s, e, stats, i, n); i += 2 }
    if (i < n) stat1(out, xs[i]!, w[i]!, s, e, stats, i, n)
    sumSquares(out, s, e, stats, n + 1)
  }
  // Var = E[x²] − E[x]²: in doubles over float32 values this loses nothing that matters unless
  // a tensor's mean exceeds its spread by ~1e6, which weight matrices never do.
  let target = stats[n]! / len
  for (let i = 0; i < n; i++) {
    const mu = stats[i]! / len
    target -= w[i]! * mu * mu
  }
  const mean = stats[n + 1]! / len
  const variance = stats[n + 2]! / len - mean * mean
  return { target: Math.max(0, target), mean, variance: Math.max(0, variance) }
}

/** out = out·scale + offset, in place. */
export function affineInPlace (out: Float32Array, scale: number, offset: number): void {
  for (let j = 0; j < out.length; j++) out[j] = out[j]! * scale + offset
}
