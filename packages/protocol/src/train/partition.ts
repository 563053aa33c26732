/**
 * Splitting one labelled data set among simulated peers: IID, Dirichlet label skew, and
 * McMahan et al.'s label shards. Pure functions of (labels, arguments, seed) returning
 * index lists; every index lands in exactly one part and no part is empty. Labels are any
 * array of class indices, e.g. a Dataset's `ys` when its targetShape is []. Also the
 * checks and copies of in-memory data sets (`checkDataset`, `subset`).
 */
import { InvalidDatasetError, InvalidPartitionError } from './errors.js'
import { dirichlet, mulberry32, shuffleInPlace } from './random.js'
import type { Dataset } from './types.js'

function checkParts (count: number, parts: number): void {
  if (!Number.isInteger(parts) || parts < 1) throw new InvalidPartitionError(`parts must be a positive integer, got ${parts}`)
  if (parts > count) throw new InvalidPartitionError(`cannot split ${count} samples into ${parts} non-empty parts`)
}

function checkLabel (label: number, index: number): number {
  if (!Number.isInteger(label) || label < 0) throw new InvalidPartitionError(`label at ${index} is not a class index: ${label}`)
  return label
}

function range (n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/** Indices grouped by label, in data order; labels never seen get no entry. */
function byLabel (labels: ArrayLike<number>): Map<number, number[]> {
  const groups = new Map<number, number[]>()
  for (let i = 0; i < labels.length; i++) {
    const label = checkLabel(labels[i] as number, i)
    let group = groups.get(label)
    if (group == null) {
      group = []
      groups.set(label, group)
    }
    group.push(i)
  }
  return new Map([...groups.entries()].sort((a, b) => a[0] - b[0]))
}

/** Shuffle, then cut into `parts` runs whose sizes differ by at most one. */
export function partitionIid (labels: ArrayLike<number>, parts: number, seed: number): number[][] {
  checkParts(labels.length, parts)
  const order = shuffleInPlace(range(labels.length), mulberry32(seed))
  const out: number[][] = []
  for (let p = 0; p < parts; p++) {
    out.push(order.slice(Math.floor(p * order.length / parts), Math.floor((p + 1) * order.length / parts)))
  }
  return out
}

/**
 * Label skew: each class is spread over the parts by its own Dirichlet(alpha) draw. Small
 * alpha (0.1) gives each part a few dominant classes; large alpha (100) is close to IID.
 */
export function partitionDirichlet (labels: ArrayLike<number>, parts: number, alpha: number, seed: number): number[][] {
  checkParts(labels.length, parts)
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new InvalidPartitionError(`alpha must be a positive number, got ${alpha}`)
  const rng = mulberry32(seed)
  const out: number[][] = Array.from({ length: parts }, () => [])
  for (const indices of byLabel(labels).values()) {
    shuffleInPlace(indices, rng)
    const share = dirichlet(rng, alpha, parts)
    let start = 0
    let cumulative = 0
    for (let p = 0; p < parts; p++) {
      cumulative += share[p] as number
      const end = p === parts - 1 ? indices.length : Math.min(indices.length, Math.round(cumulative * indices.length))
      for (let i = start; i < end; i++) out[p]?.push(indices[i] as number)
      start = Math.max(start, end)
    }
  }
  // Tiny alpha can leave a part with nothing; move one sample from the largest part, so
  // every simulated peer holds data. Bounded: each pass fills one empty part.
  for (let p = 0; p < parts; p++) {
    const part = out[p] as number[]
    if (part.length > 0) continue
    let largest = 0
    for (let q = 1; q < parts; q++) if ((out[q] as number[]).length > (out[largest] as number[]).length) largest = q
    part.push((out[largest] as number[]).pop() as number)
  }
  return out
}

/**
 * The pathological non-IID split of McMahan et al.: sort by label, cut into
 * `parts × shardsPerPart` shards, deal `shardsPerPart` random shards to each part. Shards
 * are cut within one label (never across two), so a part holds at most `shardsPerPart`
 * labels; this needs at least as many shards as there are distinct labels.
 */
export function partitionLabelShards (labels: ArrayLike<number>, parts: number, shardsPerPart: number, seed: number): number[][] {
  checkParts(labels.length, parts)
  if (!Number.isInteger(shardsPerPart) || shardsPerPart < 1) {
    throw new InvalidPartitionError(`shardsPerPart must be a positive integer, got ${shardsPerPart}`)
  }
  const groups = [...byLabel(labels).values()]
  const totalShards = parts * shardsPerPart
  if (totalShards < groups.length) {
    throw new InvalidPartitionError(`${totalShards} shards cannot cover ${groups.length} labels; raise parts or shardsPerPart`)
  }
  if (totalShards > labels.length) {
    throw new InvalidPartitionError(`${totalShards} shards need at least as many samples, got ${labels.length}`)
  }
  // Give each label one shard, then each further shard to the label whose shards are
  // largest: shard sizes stay as even as label counts allow, and none is empty.
  const shardCounts = groups.map(() => 1)
  for (let given = groups.length; given < totalShards; given++) {
    let best = 0
    for (let g = 1; g < groups.length; g++) {
      const size = (groups[g] as number[]).length / (shardCounts[g] as number)
      if (size > (groups[best] as number[]).length / (shardCounts[best] as number)) best = g
    }
    shardCounts[best] = (shardCounts[best] as number) + 1
  }
  const shards: number[][] = []
  groups.forEach((indices, g) => {
    const n = shardCounts[g] as number
    for (let s = 0; s < n; s++) {
      shards.push(indices.slice(Math.floor(s * indices.length / n), Math.floor((s + 1) * indices.length / n)))
    }
  })
  const deal = shuffleInPlace(range(totalShards), mulberry32(seed))
  const out: number[][] = []
  for (let p = 0; p < parts; p++) {
    const part: number[] = []
    for (let s = 0; s < shardsPerPart; s++) {
      for (const i of shards[deal[p * shardsPerPart + s] as number] as number[]) part.push(i)
    }
    out.push(part)
  }
  return out
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

function checkShape (shape: unknown, field: string, allowEmpty: boolean): void {
  if (!Array.isArray(shape) || (!allowEmpty && shape.length === 0) || shape.some(d => !Number.isInteger(d) || d < 1)) {
    throw new InvalidDatasetError(`${field} must be ${allowEmpty ? 'an array of' : 'one or more'} positive integers, got ${JSON.stringify(shape)}`)
  }
}

/** Check that a data set's arrays agree with its declared count and shapes. */
export function checkDataset (data: Dataset): void {
  if (!Number.isInteger(data.count) || data.count < 0) throw new InvalidDatasetError(`count must be a non-negative integer, got ${data.count}`)
  checkShape(data.inputShape, 'inputShape', false)
  checkShape(data.targetShape, 'targetShape', true)
  if (!(data.xs instanceof Float32Array) && !(data.xs instanceof Int32Array)) {
    throw new InvalidDatasetError('xs must be a Float32Array (features) or an Int32Array (token ids)')
  }
  if (!(data.ys instanceof Float32Array) && !(data.ys instanceof Int32Array) && !(data.ys instanceof Uint8Array)) {
    throw new InvalidDatasetError('ys must be a Float32Array, Int32Array or Uint8Array')
  }
  const features = product(data.inputShape)
  if (data.xs.length !== data.count * features) {
    throw new InvalidDatasetError(`xs holds ${data.xs.length} values, expected count × prod(inputShape) = ${data.count} × ${features}`)
  }
  const targets = product(data.targetShape)
  if (data.ys.length !== data.count * targets) {
    throw new InvalidDatasetError(`ys holds ${data.ys.length} values, expected count × prod(targetShape) = ${data.count} × ${targets}`)
  }
}

/** A new data set holding copies of the chosen samples, in the given order, with the same array types. */
export function subset (data: Dataset, indices: ArrayLike<number>): Dataset {
  const features = product(data.inputShape)
  const targets = product(data.targetShape)
  const xs = new (data.xs.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(indices.length * features)
  const ys = new (data.ys.constructor as Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor)(indices.length * targets)
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i] as number
    if (!Number.isInteger(j) || j < 0 || j >= data.count) throw new InvalidDatasetError(`index ${j} is outside 0..${data.count - 1}`)
    xs.set(data.xs.subarray(j * features, (j + 1) * features), i * features)
    ys.set(data.ys.subarray(j * targets, (j + 1) * targets), i * targets)
  }
  return { xs, ys, count: indices.length, inputShape: [...data.inputShape], targetShape: [...data.targetShape] }
}
