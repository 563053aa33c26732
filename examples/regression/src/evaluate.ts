/** Scores of a valuer on held-out tracts. */
import * as tf from '@tensorflow/tfjs'
import type { Dataset } from '@murmur/protocol'

/** Errors in $1000s, and R²: the share of the values' variance the model explains (1 is perfect, 0 is no better than the mean). */
export interface ValuerScores {
  mae: number
  rmse: number
  r2: number
}

/** Predicted values of each row of `data`. */
export function predictValues (model: tf.LayersModel, data: Dataset): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor2d(data.xs, [data.count, data.inputShape[0] ?? 1])) as tf.Tensor).dataSync() as Float32Array)
}

/** Predict every held-out tract and compare with its value. */
export function scoreValuer (model: tf.LayersModel, test: Dataset): ValuerScores {
  const predicted = predictValues(model, test)
  const values = Array.from(test.ys)
  const mean = values.reduce((s, v) => s + v, 0) / values.length
  let abs = 0
  let sq = 0
  let total = 0
  values.forEach((v, i) => {
    const e = (predicted[i] ?? 0) - v
    abs += Math.abs(e)
    sq += e * e
    total += (v - mean) ** 2
  })
  return { mae: abs / values.length, rmse: Math.sqrt(sq / values.length), r2: 1 - sq / total }
}
