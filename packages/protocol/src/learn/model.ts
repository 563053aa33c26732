import { varianceCorrectedAverage, weightedAverage } from './average.js'
import { normaliseWeights } from './check.js'
import { MergeInputError } from './errors.js'
import { DEFAULT_TRIM, coordinateMedian, trimmedMean } from './robust.js'
import { assertKnownRule, customMergeRule } from './rules.js'
import type { MergeOptions, ModelSnapshot, NamedTensor, TensorKind } from './types.js'

const NORM_VARIABLES = new Set(['gamma', 'beta', 'moving_mean', 'moving_variance'])

/**
 * The kind of a tfjs/Keras variable from its name, e.g. `dense_Dense1/kernel` → `weight`,
 * `…/bias` → `bias`, `…/gamma`, `beta`, `moving_mean`, `moving_variance` → `norm`. Anything
 * else (kernels, recurrent kernels, embeddings) is a `weight`.
 */
export function tensorKindFromName (name: string): TensorKind {
  const last = name.slice(name.lastIndexOf('/') + 1)
  // tfjs uniquifies repeated names with `_1`, TF adds `:0`; neither changes what it is.
  const base = last.replace(/:\d+$/, '').replace(/_\d+$/, '')
  if (base.endsWith('bias')) return 'bias'
  if (NORM_VARIABLES.has(base)) return 'norm'
  return 'weight'
}

/** A `MergeInputError` unless every model has the same tensor names and shapes in the same order. */
function checkSameLayout (models: readonly ModelSnapshot[]): void {
  const first = models[0]!
  for (let m = 1; m < models.length; m++) {
    const other = models[m]!
    if (other.tensors.length !== first.tensors.length) {
      throw new MergeInputError(`mergeModels: model ${m} has ${other.tensors.length} tensors, model 0 has ${first.tensors.length}`)
    }
    for (let t = 0; t < first.tensors.length; t++) {
      const a = first.tensors[t]!
      const b = other.tensors[t]!
      if (a.name !== b.name) {
        throw new MergeInputError(`mergeModels: tensor ${t} of model ${m} is "${b.name}", model 0 has "${a.name}"`)
      }
      if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
        throw new MergeInputError(`mergeModels: tensor "${a.name}" of model ${m} has shape [${b.shape.join(', ')}], model 0 has [${a.shape.join(', ')}]`)
      }
    }
  }
}

function mergeTensor (tensor: NamedTensor, inputs: Float32Array[], options: MergeOptions): Float32Array {
  switch (options.rule) {
    case 'plain':
      return weightedAverage(inputs, options.weights)
    case 'variance-corrected':
      return tensor.kind === 'weight'
        ? varianceCorrectedAverage(inputs, options.weights, { epsilon: options.epsilon })
        : weightedAverage(inputs, options.weights)
    case 'median':
      return coordinateMedian(inputs)
    case 'trimmed-mean':
      return trimmedMean(inputs, options.trim ?? DEFAULT_TRIM)
    default:
      throw new MergeInputError(`mergeModels: unknown rule "${String((options as { rule: unknown }).rule)}"`)
  }
}

/**
 * Merges whole models tensor by tensor with one rule. Variance correction rescales only
 * tensors of kind `weight`; biases and normalisation statistics are averaged plainly. The
 * robust rules apply to every tensor and ignore weights. Models must share names and shapes
 * (check untrusted ones with `validateModel` first). Returns a new snapshot; the kinds and
 * names of the first model are kept.
 */
export function mergeModels (models: readonly ModelSnapshot[], options: MergeOptions): ModelSnapshot {
  if (models == null || models.length === 0) throw new MergeInputError('mergeModels needs at least one model, got none')
  checkSameLayout(models)
  // Checked once here so a bad weight list is reported as such, not against the first tensor.
  const weights = normaliseWeights(options.weights, models.length, 'mergeModels')
  const first = models[0]!
  const custom = customMergeRule(options.rule)
  if (custom != null) return mergeWithCustomRule(custom, models, options, Array.from(weights))
  assertKnownRule(options.rule)
  const tensors = first.tensors.map((tensor, t) => {
    const inputs = models.map(m => m.tensors[t]!.data)
    let data: Float32Array
    try {
      data = mergeTensor(tensor, inputs, options)
    } catch (err) {
      if (err instanceof MergeInputError) throw new MergeInputError(`tensor "${tensor.name}": ${err.message}`)
      throw err
    }
    return { name: tensor.name, shape: [...tensor.shape], kind: tensor.kind, data }
  })
  return { tensors }
}

/** Run a registered rule and check it kept the model's layout. */
function mergeWithCustomRule (rule: NonNullable<ReturnType<typeof customMergeRule>>, models: readonly ModelSnapshot[], options: MergeOptions, weights: number[]): ModelSnapshot {
  const merged = rule(models, { weights, trim: options.trim ?? DEFAULT_TRIM })
  const first = models[0]!
  if (merged == null || !Array.isArray(merged.tensors)) throw new MergeInputError(`merge rule "${options.rule}" returned no model`)
  checkSameLayout([first, merged])
  for (const t of merged.tensors) {
    if (!(t.data instanceof Float32Array)) throw new MergeInputError(`merge rule "${options.rule}" returned ${t.name} without Float32Array data`)
    const size = t.shape.reduce((a, b) => a * b, 1)
    if (t.data.length !== size) throw new MergeInputError(`merge rule "${options.rule}" returned ${t.name} with ${t.data.length} values, its shape holds ${size}`)
  }
  return merged
}
