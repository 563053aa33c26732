/** Scores of a detector on held-out readings: events are rare (under 1 %), so accuracy says little and F1 says more. */
import * as tf from '@tensorflow/tfjs'
import type { Dataset } from '@murmur/protocol'

/** Precision, recall and F1 on the event class, and plain accuracy, at a 0.5 threshold. */
export interface DetectorScores {
  f1: number
  precision: number
  recall: number
  accuracy: number
}

/** Predict every held-out reading and count hits. */
export function scoreDetector (model: tf.LayersModel, test: Dataset): DetectorScores {
  const predicted = tf.tidy(() => {
    const xs = tf.tensor2d(test.xs, [test.count, test.inputShape[0] ?? 1])
    return (model.predict(xs) as tf.Tensor).dataSync()
  })
  let tp = 0
  let fp = 0
  let fn = 0
  let correct = 0
  for (let i = 0; i < test.count; i++) {
    const event = (test.ys[i] ?? 0) > 0.5
    const flagged = (predicted[i] ?? 0) > 0.5
    if (event === flagged) correct++
    if (event && flagged) tp++
    if (!event && flagged) fp++
    if (event && !flagged) fn++
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp)
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
  const f1 = precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall)
  return { f1, precision, recall, accuracy: correct / test.count }
}
