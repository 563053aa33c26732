/**
 * Metrics a session reports, built in and registered. Each one gives a batch's sum and the
 * count it is a sum over, so evaluation over many batches is exact: a mean over every sample
 * (or token), and rmse and perplexity taken from that mean, never a mean of per-batch values.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidDatasetError, InvalidModelConfigError } from './errors.js'
import type { LossFamily } from './losses.js'

/** A custom metric: its mean over the batch, as a scalar. */
export type MetricFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor

/** A metric as evaluation uses it. */
export interface MetricDefinition {
  /** The batch's sum and how many values it sums; call inside tf.tidy. */
  batch: (yTrue: tf.Tensor, yPred: tf.Tensor) => { sum: tf.Scalar, count: number }
  /** The reported value from the mean over the whole evaluated set. */
  finish: (mean: number) => number
}

const EPSILON = 1e-7

function sameShape (a: tf.Tensor, b: tf.Tensor): boolean {
  return a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i])
}

/** An element-wise metric over targets shaped like the predictions. */
function elementwise (name: string, values: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor, finish = (m: number) => m): MetricDefinition {
  return {
    batch: (yTrue, yPred) => {
      if (!sameShape(yTrue, yPred)) {
        throw new InvalidDatasetError(`metric ${name} needs targets shaped like the model's output [${yPred.shape.join(', ')}], got [${yTrue.shape.join(', ')}]; it is a metric for regression or one-hot targets`)
      }
      const v = values(yTrue, yPred)
      return { sum: tf.sum(v), count: v.size }
    },
    finish
  }
}

/** Class indices (int32) of each position, from one-hot or sparse targets, shaped like argMax(yPred). */
function targetClasses (yTrue: tf.Tensor, yPred: tf.Tensor, metric: string): tf.Tensor {
  if (sameShape(yTrue, yPred)) return tf.argMax(yTrue, -1)
  const positions = yPred.shape.slice(0, -1)
  if (yTrue.rank === yPred.rank && yTrue.shape[yTrue.rank - 1] === 1) return tf.cast(tf.reshape(yTrue, positions), 'int32')
  throw new InvalidDatasetError(`metric ${metric}: targets [${yTrue.shape.join(', ')}] are neither one-hot rows nor class indices for output [${yPred.shape.join(', ')}]`)
}

const binaryHits = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor => tf.equal(tf.greater(yTrue, 0.5), tf.greater(yPred, 0.5))

const BUILT_IN: Record<string, MetricDefinition> = {
  accuracy: {
    batch: (yTrue, yPred) => {
      // A single sigmoid output is a binary classifier: accuracy means binary accuracy there.
      const hits = yPred.shape[yPred.rank - 1] === 1
        ? binaryHits(yTrue, yPred)
        : tf.equal(targetClasses(yTrue, yPred, 'accuracy'), tf.argMax(yPred, -1))
      return { sum: tf.sum(tf.cast(hits, 'float32')), count: hits.size }
    },
    finish: m => m
  },
  binaryAccuracy: elementwise('binaryAccuracy', (y, p) => tf.cast(binaryHits(y, p), 'float32')),
  mae: elementwise('mae', (y, p) => tf.abs(tf.sub(y, p))),
  mse: elementwise('mse', (y, p) => tf.square(tf.sub(y, p))),
  rmse: elementwise('rmse', (y, p) => tf.square(tf.sub(y, p)), Math.sqrt),
  perplexity: {
    // exp(mean cross-entropy per position), from probabilities as tfjs's crossentropy losses take them.
    batch: (yTrue, yPred) => {
      const p = tf.clipByValue(yPred, EPSILON, 1 - EPSILON)
      let nll: tf.Tensor
      if (yPred.shape[yPred.rank - 1] === 1) {
        nll = tf.neg(tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p)))))
      } else {
        const width = yPred.shape[yPred.rank - 1] as number
        const oneHot = sameShape(yTrue, yPred) ? yTrue : tf.oneHot(targetClasses(yTrue, yPred, 'perplexity'), width)
        nll = tf.neg(tf.sum(tf.mul(oneHot, tf.log(p)), -1))
      }
      return { sum: tf.sum(nll), count: nll.size }
    },
    finish: Math.exp
  }
}

const registered = new Map<string, MetricFunction>()

/**
 * Register a custom metric under a name configs can use; it returns the batch mean as a
 * scalar and evaluation weights it by the batch's sample count. Targets reach it as the loss
 * gets them. Every peer must register the same names before joining.
 */
export function registerMetric (name: string, fn: MetricFunction): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidModelConfigError('registerMetric needs a non-empty name')
  if (typeof fn !== 'function') throw new InvalidModelConfigError(`registerMetric("${name}") needs a function (yTrue, yPred) => tf.Scalar`)
  if (name in BUILT_IN) throw new InvalidModelConfigError(`metric "${name}" is built in; register yours under another name`)
  registered.set(name, fn)
}

/** Whether this peer knows the metric. */
export function isKnownMetric (name: string): boolean {
  return Object.hasOwn(BUILT_IN, name) || registered.has(name)
}

/** The metric a name stands for on this peer. */
export function resolveMetric (name: string): MetricDefinition {
  const builtIn = Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : undefined
  if (builtIn != null) return builtIn
  const fn = registered.get(name)
  if (fn == null) throw new InvalidModelConfigError(`metric "${name}" is neither built in (${Object.keys(BUILT_IN).join(', ')}) nor registered with registerMetric on this peer`)
  return {
    batch: (yTrue, yPred) => {
      const n = yPred.shape[0] ?? 1
      return { sum: tf.mul(tf.mean(fn(yTrue, yPred)), n), count: n }
    },
    finish: m => m
  }
}

/** The metrics a loss reports when the config names none. */
export function defaultMetrics (family: LossFamily): string[] {
  if (family === 'categorical') return ['accuracy']
  if (family === 'binary') return ['binaryAccuracy']
  return ['mae', 'rmse']
}

/** The built-in metric names, for error messages. */
export const BUILT_IN_METRICS: readonly string[] = Object.keys(BUILT_IN)
