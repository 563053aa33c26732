/**
 * Moving a model's weights in and out of tfjs as named Float32Arrays, the form the
 * averaging math and the shard encoder work on.
 */
import * as tf from '@tensorflow/tfjs'
import { SnapshotMismatchError } from './errors.js'
import type { ModelSnapshot, NamedTensor } from './types.js'

const NORM_NAMES = new Set(['moving_mean', 'moving_variance', 'gamma', 'beta'])

/**
 * What a weight is, from its tfjs name: kernels and embeddings are `weight` (merges rescale
 * them), normalisation parameters and statistics are `norm`, and biases, like anything
 * unrecognised, are `bias` (plain averaging is the safe default).
 */
export function tensorKind (name: string): NamedTensor['kind'] {
  const last = name.slice(name.lastIndexOf('/') + 1)
  if (last.endsWith('kernel') || last === 'embeddings') return 'weight'
  if (NORM_NAMES.has(last)) return 'norm'
  return 'bias'
}

function sameShape (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i])
}

/** Copies of every weight, trainable and not, in the model's weight order. */
export function readSnapshot (model: tf.LayersModel): ModelSnapshot {
  return {
    tensors: model.weights.map(w => {
      const values = w.read().dataSync()
      // Copy: some backends hand out their live buffer, which later training would mutate.
      const data = values instanceof Float32Array ? values.slice() : Float32Array.from(values as ArrayLike<number>)
      return { name: w.originalName, shape: w.shape.map(d => d ?? 1), kind: tensorKind(w.originalName), data }
    })
  }
}

/** Load a snapshot into the model after checking it names every weight with the right shape. */
export function writeSnapshot (model: tf.LayersModel, snapshot: ModelSnapshot): void {
  const byName = new Map<string, NamedTensor>()
  for (const t of snapshot.tensors) {
    if (byName.has(t.name)) throw new SnapshotMismatchError(`snapshot holds ${t.name} twice`)
    byName.set(t.name, t)
  }
  const weights = model.weights
  for (const w of weights) {
    const t = byName.get(w.originalName)
    if (t == null) throw new SnapshotMismatchError(`snapshot lacks ${w.originalName}`)
    const shape = w.shape.map(d => d ?? 1)
    if (!sameShape(t.shape, shape)) {
      throw new SnapshotMismatchError(`${t.name} has shape [${t.shape.join(', ')}], the model expects [${shape.join(', ')}]`)
    }
    const size = shape.reduce((a, b) => a * b, 1)
    if (!(t.data instanceof Float32Array) || t.data.length !== size) {
      throw new SnapshotMismatchError(`${t.name} must hold ${size} float32 values`)
    }
  }
  if (byName.size !== weights.length) {
    const known = new Set(weights.map(w => w.originalName))
    const extra = [...byName.keys()].filter(n => !known.has(n))
    throw new SnapshotMismatchError(`snapshot holds tensors the model lacks: ${extra.join(', ')}`)
  }
  // Checked everything first, so a bad snapshot never leaves the model half-written.
  tf.tidy(() => {
    for (const w of weights) {
      const t = byName.get(w.originalName) as NamedTensor
      // Copy: the cpu backend would otherwise adopt the caller's array, which merges reuse.
      w.write(tf.tensor(t.data.slice(), t.shape, 'float32'))
    }
  })
}
