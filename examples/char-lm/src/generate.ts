/** Sampling text from a trained model, and scoring it on held-out text; tfjs only, so a page can use it too. */
import * as tf from '@tensorflow/tfjs'
import type { Dataset } from '@murmur/protocol'
import { VOCAB_SIZE, contextWindow, decodeIds, encodeText } from './corpus.js'

/** Options of `generate`. */
export interface GenerateOptions {
  /** Below 1 sharper, above 1 more surprising. @default 0.7 */
  temperature?: number
  /** Seeds the sampling, so a sample can be reproduced. @default 1 */
  seed?: number
}

/** A small seeded generator (mulberry32). */
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Continue `prompt` by `n` characters, each drawn from the model's prediction after the last `length` characters. */
export function generate (model: tf.LayersModel, prompt: string, n: number, options: GenerateOptions = {}): string {
  const length = model.inputs[0]?.shape[1] ?? 16
  const temperature = options.temperature ?? 0.7
  const rand = random(options.seed ?? 1)
  const ids = [...encodeText(prompt)]
  for (let i = 0; i < n; i++) {
    const probs = tf.tidy(() => {
      const out = model.predict(tf.tensor2d(contextWindow(ids, length), [1, length], 'int32')) as tf.Tensor
      return out.slice([0, length - 1, 0], [1, 1, VOCAB_SIZE]).dataSync()
    })
    // temperature reshapes the distribution; id 0 ("other") is never written
    const weights = Array.from(probs, (p, id) => id === 0 ? 0 : Math.pow(Math.max(p, 1e-12), 1 / temperature))
    const total = weights.reduce((s, w) => s + w, 0)
    let r = rand() * total
    let next = weights.length - 1
    for (let id = 0; id < weights.length; id++) {
      r -= weights[id] ?? 0
      if (r <= 0) { next = id; break }
    }
    ids.push(next)
  }
  return decodeIds(ids)
}

/** exp(mean negative log-likelihood per character) of the model on windows of held-out text. */
export function perplexity (model: tf.LayersModel, data: Dataset, batchSize = 256): number {
  const length = data.inputShape[0] ?? 1
  let nll = 0
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start)
    nll += tf.tidy(() => {
      const xs = tf.tensor2d(data.xs.subarray(start * length, (start + n) * length), [n, length], 'int32')
      const ys = tf.tensor2d(data.ys.subarray(start * length, (start + n) * length), [n, length], 'int32')
      const p = (model.predict(xs) as tf.Tensor).clipByValue(1e-7, 1 - 1e-7)
      return tf.neg(tf.sum(tf.mul(tf.oneHot(ys, VOCAB_SIZE), tf.log(p)))).dataSync()[0] ?? 0
    })
  }
  return Math.exp(nll / (data.count * length))
}
