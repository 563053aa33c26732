/** Scores of a spam filter on held-out mail. */
import * as tf from '@tensorflow/tfjs'
import type { Dataset } from '@murmur/protocol'

/** Accuracy over all held-out mail, and the share of spam and of ham it gets right. */
export interface FilterScores {
  accuracy: number
  spamCaught: number
  hamKept: number
}

/** P(spam) of each message of `test`. */
export function spamProbability (model: tf.LayersModel, test: Dataset): Float32Array {
  return tf.tidy(() => {
    const xs = tf.tensor2d(test.xs, [test.count, test.inputShape[0] ?? 1])
    return (model.predict(xs) as tf.Tensor).dataSync() as Float32Array
  })
}

/** Predict every held-out message and count what the filter got right, at a 0.5 threshold. */
export function scoreFilter (model: tf.LayersModel, test: Dataset): FilterScores {
  const p = spamProbability(model, test)
  let correct = 0
  let spam = 0
  let caught = 0
  let kept = 0
  for (let i = 0; i < test.count; i++) {
    const isSpam = (test.ys[i] ?? 0) > 0.5
    const flagged = (p[i] ?? 0) > 0.5
    if (isSpam === flagged) correct++
    if (isSpam) { spam++; if (flagged) caught++ } else if (!flagged) kept++
  }
  return { accuracy: correct / test.count, spamCaught: spam === 0 ? 0 : caught / spam, hamKept: test.count === spam ? 0 : kept / (test.count - spam) }
}
