/**
 * Murmur's one seeded random source. Everything that must be reproducible (weight
 * initialisation, batch order, data partitions) draws from here, never from Math.random,
 * so two runs with the same seed agree on every platform and tfjs backend.
 */

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number

/** Mulberry32: a tiny, fast 32-bit PRNG; plenty for sampling, not for cryptography. */
export function mulberry32 (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Mix a seed with labels into a new 32-bit seed, so independent streams never overlap by accident. */
export function deriveSeed (seed: number, ...parts: Array<number | string>): number {
  // FNV-1a over the seed and the parts, then a murmur3 finaliser to spread the bits.
  let h = 0x811C9DC5 ^ (seed >>> 0)
  const feed = (byte: number): void => {
    h ^= byte & 0xFF
    h = Math.imul(h, 0x01000193)
  }
  for (const part of parts) {
    const text = typeof part === 'number' ? `#${part}` : `$${part}`
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      feed(c)
      feed(c >>> 8)
    }
    feed(0)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85EBCA6B)
  h ^= h >>> 13
  h = Math.imul(h, 0xC2B2AE35)
  h ^= h >>> 16
  return h >>> 0
}

/** A uniformly random integer in [0, n). */
export function randomInt (rng: Rng, n: number): number {
  return Math.floor(rng() * n)
}

/** Fisher–Yates shuffle in place; returns the same array. */
export function shuffleInPlace<T extends { length: number, [i: number]: number }> (array: T, rng: Rng): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1)
    const tmp = array[i] as number
    array[i] = array[j] as number
    array[j] = tmp
  }
  return array
}

/** A standard normal sample (Box–Muller). */
export function normal (rng: Rng): number {
  let u = rng()
  while (u <= Number.EPSILON) u = rng()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng())
}

/** A Gamma(shape, 1) sample (Marsaglia–Tsang, with the boost for shape < 1). */
export function gamma (rng: Rng, shape: number): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`)
  if (shape < 1) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a); underflows to 0 for tiny a, which callers handle.
    return gamma(rng, shape + 1) * Math.pow(rng(), 1 / shape)
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  // Acceptance rate is above 95 %; the bound only guards against a broken rng.
  for (let attempt = 0; attempt < 10_000; attempt++) {
    let x: number
    let v: number
    do {
      x = normal(rng)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = rng()
    if (u < 1 - 0.0331 * x * x * x * x) return d * v
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
  return d
}

/** A sample from the symmetric Dirichlet(alpha, …, alpha) over k parts. */
export function dirichlet (rng: Rng, alpha: number, k: number): Float64Array {
  const out = new Float64Array(k)
  let sum = 0
  for (let i = 0; i < k; i++) {
    const g = gamma(rng, alpha)
    out[i] = g
    sum += g
  }
  if (!(sum > 0)) {
    // Every draw underflowed (alpha far below 1): the limit puts all mass on one part.
    out.fill(0)
    out[randomInt(rng, k)] = 1
    return out
  }
  for (let i = 0; i < k; i++) out[i] = (out[i] as number) / sum
  return out
}
