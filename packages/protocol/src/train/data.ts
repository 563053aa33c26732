/**
 * Fitting a user's data to the model: how an in-memory Dataset's rows become input and
 * target tensors for this model and loss (one-hot, class indices, reshaped values), and the
 * shape checks on batches that arrive already as tensors. Every refusal names the field.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidDatasetError, InvalidModelConfigError } from './errors.js'
import { checkDataset } from './partition.js'
import type { TargetEncoding } from './losses.js'
import type { Batch, Dataset } from './types.js'

/** A per-sample shape with free dimensions (variable sequence length) as null. */
type Pattern = ReadonlyArray<number | null>

/** What the data must fit: the model's one input and one output, and how its loss takes targets. */
export interface ModelSignature {
  input: Pattern
  output: Pattern
  targets: TargetEncoding
  loss: string
}

/** How an in-memory Dataset's rows become tensors for one model. */
export interface DatasetPlan {
  /** Per-sample input shape fed to the model. */
  x: number[]
  /** Per-sample target shape fed to the loss. */
  y: number[]
  /** `values`: targets as they are, reshaped; `oneHot`: class indices expanded to the output width. */
  ys: 'values' | 'oneHot'
  /** The model's output width (last output dimension). */
  width: number
}

const show = (shape: Pattern): string => `[${shape.map(d => d ?? 'any').join(', ')}]`
const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

/** Whether a concrete shape has the pattern's rank and agrees on every fixed dimension. */
function fits (shape: readonly number[], pattern: Pattern): boolean {
  return shape.length === pattern.length && pattern.every((d, i) => d === null || d === shape[i])
}

/** The model's input and output patterns; the trainer feeds one of each. */
export function modelSignature (model: tf.LayersModel, loss: string, targets: TargetEncoding): ModelSignature {
  const input = model.inputs[0]?.shape.slice(1)
  const output = model.outputs[0]?.shape.slice(1)
  if (input == null || output == null || output.length === 0) throw new InvalidModelConfigError('the model needs one input and one output with a feature axis')
  return { input, output, targets, loss }
}

function checkClassIndices (ys: Dataset['ys'], width: number): void {
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i] as number
    if (!Number.isInteger(v) || v < 0 || v >= width) {
      throw new InvalidDatasetError(`ys[${i}] is ${v}, not a class index below the model's output width ${width}`)
    }
  }
}

/**
 * Decide how a Dataset feeds this model, checking everything once: array lengths, sample
 * shape against the model's input, target shape against its output and loss, class indices
 * against the output width.
 */
export function planDataset (data: Dataset, sig: ModelSignature): DatasetPlan {
  checkDataset(data)
  const { input, output } = sig
  let x: number[]
  if (input.every(d => d !== null) && product(data.inputShape) === product(input as number[])) x = input as number[]
  else if (fits(data.inputShape, input)) x = [...data.inputShape]
  else throw new InvalidDatasetError(`inputShape ${show(data.inputShape)} does not fit the model's input ${show(input)}`)
  const t = data.targetShape
  const positions = output.slice(0, -1)
  const width = output[output.length - 1] ?? null
  const fixedOutput = output.every(d => d !== null)
  const refuse = (hint: string): never => {
    throw new InvalidDatasetError(`targetShape ${show(t)} does not fit the model's output ${show(output)} with loss ${sig.loss}: ${hint}`)
  }
  if (sig.targets === 'sparse') {
    if (width === null) return refuse('the output width must be fixed')
    if (fits(t, positions)) {
      checkClassIndices(data.ys, width)
      return { x, y: [...t, 1], ys: 'values', width }
    }
    if (fits(t, [...positions, 1])) {
      checkClassIndices(data.ys, width)
      return { x, y: [...t], ys: 'values', width }
    }
    return refuse('a sparse loss takes one class index per output position; for one-hot rows use categoricalCrossentropy')
  }
  if (fits(t, output)) return { x, y: [...t], ys: 'values', width: width ?? 1 }
  if (sig.targets === 'oneHot' && width !== null && width > 1 && fits(t, positions)) {
    checkClassIndices(data.ys, width)
    return { x, y: [...t, width], ys: 'oneHot', width }
  }
  if (fixedOutput && product(t) === product(output as number[])) return { x, y: output as number[], ys: 'values', width: width ?? 1 }
  return refuse(sig.targets === 'oneHot'
    ? 'give one class index per output position or one-hot rows'
    : 'targets must hold as many values per sample as the output')
}

/**
 * Input and target tensors for the chosen samples; call inside tf.tidy. Int32 inputs stay
 * int32 (token ids for Embedding layers); targets are float32, as tfjs's losses take them.
 */
export function datasetBatch (data: Dataset, plan: DatasetPlan, indices: ArrayLike<number>): Batch {
  const n = indices.length
  const f = product(data.inputShape)
  const per = product(data.targetShape)
  // Fresh buffers each time: the cpu backend adopts the array it is given.
  const xs = data.xs instanceof Int32Array ? new Int32Array(n * f) : new Float32Array(n * f)
  const ys = new Float32Array(n * per)
  for (let i = 0; i < n; i++) {
    const j = indices[i] as number
    xs.set(data.xs.subarray(j * f, (j + 1) * f), i * f)
    for (let k = 0; k < per; k++) ys[i * per + k] = data.ys[j * per + k] as number
  }
  const x = tf.tensor(xs, [n, ...plan.x], xs instanceof Int32Array ? 'int32' : 'float32')
  const y = plan.ys === 'oneHot'
    ? tf.reshape(tf.oneHot(tf.tensor1d(Int32Array.from(ys), 'int32'), plan.width), [n, ...plan.y])
    : tf.tensor(ys, [n, ...plan.y], 'float32')
  return { xs: x, ys: y }
}

/**
 * Check a batch that arrived as tensors against the model, give its targets the trailing
 * axis a sparse loss wants if they lack it, and make them float32 as tfjs's losses take them
 * (its sparse crossentropy refuses int32). Returns the tensors to feed; any new one is the
 * caller's to dispose.
 */
export function fitBatch (batch: Batch, sig: ModelSignature): Batch {
  const { xs, ys } = batch
  if (xs == null || ys == null || !(xs instanceof tf.Tensor) || !(ys instanceof tf.Tensor)) {
    throw new InvalidDatasetError('a batch must be { xs: tf.Tensor, ys: tf.Tensor }')
  }
  if (!fits(xs.shape.slice(1), sig.input)) {
    throw new InvalidDatasetError(`batch xs of shape [${xs.shape.join(', ')}] does not fit the model's input [batch, ${show(sig.input).slice(1)}`)
  }
  if (ys.shape[0] !== xs.shape[0]) throw new InvalidDatasetError(`batch ys holds ${ys.shape[0]} samples, xs ${xs.shape[0]}`)
  const positions = sig.output.slice(0, -1)
  const wanted = sig.targets === 'sparse' ? [...positions, 1] : sig.output
  const per = ys.shape.slice(1)
  let shape: number[] | undefined
  if (fits(per, wanted)) shape = undefined
  else if ((sig.targets === 'sparse' && fits(per, positions)) || (per.length === 0 && fits([1], wanted))) shape = [...ys.shape, 1]
  else {
    const hint = sig.targets === 'sparse' ? 'class indices, one per output position' : 'targets shaped like the output (one-hot rows for a categorical loss)'
    throw new InvalidDatasetError(`batch ys of shape [${ys.shape.join(', ')}] does not fit the model's output [batch, ${show(sig.output).slice(1)} with loss ${sig.loss}: give ${hint}`)
  }
  if (shape == null && ys.dtype === 'float32') return batch
  return { xs, ys: tf.tidy(() => tf.reshape(ys.dtype === 'float32' ? ys : tf.cast(ys, 'float32'), shape ?? ys.shape)) }
}
