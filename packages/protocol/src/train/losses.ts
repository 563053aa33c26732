/**
 * Loss names a config may use, and the custom losses a peer registers. A name resolves to
 * what `model.compile` takes and to how the loss wants class-index targets, so the trainer
 * can shape in-memory targets without the user saying so.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidModelConfigError } from './errors.js'

/** A loss: per-sample (or per-element) losses, or their mean; the trainer takes the mean. */
export type LossFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor

/**
 * How a loss wants targets: `sparse` takes class indices with a trailing axis of 1,
 * `oneHot` takes rows shaped like the output (class indices are one-hot encoded for it),
 * `asIs` takes targets shaped like the output.
 */
export type TargetEncoding = 'sparse' | 'oneHot' | 'asIs'

/** Which family of default metrics a loss gets. */
export type LossFamily = 'categorical' | 'binary' | 'regression'

/** A loss name resolved on this peer. */
export interface ResolvedLoss {
  /** What `model.compile({ loss })` is given: tfjs-layers' own name, or a function. */
  compileAs: string | LossFunction
  targets: TargetEncoding
  family: LossFamily
}

/** tfjs-layers' losses by their compile names (its `lossesMap`). */
const LAYERS_LOSSES: Record<string, Omit<ResolvedLoss, 'compileAs'>> = {
  categoricalCrossentropy: { targets: 'oneHot', family: 'categorical' },
  sparseCategoricalCrossentropy: { targets: 'sparse', family: 'categorical' },
  binaryCrossentropy: { targets: 'asIs', family: 'binary' },
  categoricalHinge: { targets: 'oneHot', family: 'regression' },
  kullbackLeiblerDivergence: { targets: 'oneHot', family: 'regression' },
  meanSquaredError: { targets: 'asIs', family: 'regression' },
  meanAbsoluteError: { targets: 'asIs', family: 'regression' },
  meanAbsolutePercentageError: { targets: 'asIs', family: 'regression' },
  meanSquaredLogarithmicError: { targets: 'asIs', family: 'regression' },
  squaredHinge: { targets: 'asIs', family: 'regression' },
  hinge: { targets: 'asIs', family: 'regression' },
  logcosh: { targets: 'asIs', family: 'regression' },
  poisson: { targets: 'asIs', family: 'regression' },
  cosineProximity: { targets: 'asIs', family: 'regression' }
}

/** Short names tfjs-layers exports but `compile` does not accept. */
const ALIASES: Record<string, string> = {
  mse: 'meanSquaredError',
  mae: 'meanAbsoluteError',
  mape: 'meanAbsolutePercentageError',
  msle: 'meanSquaredLogarithmicError',
  kld: 'kullbackLeiblerDivergence',
  cosine: 'cosineProximity'
}

const NONE = tf.Reduction.NONE

/** tf.losses' functions of (labels, predictions), per element (no reduction), so the trainer takes the mean. */
const CORE_LOSSES: Record<string, LossFunction> = {
  huberLoss: (y, p) => tf.losses.huberLoss(y, p, undefined, undefined, NONE),
  absoluteDifference: (y, p) => tf.losses.absoluteDifference(y, p, undefined, NONE),
  logLoss: (y, p) => tf.losses.logLoss(y, p, undefined, undefined, NONE),
  hingeLoss: (y, p) => tf.losses.hingeLoss(y, p, undefined, NONE)
}

const registered = new Map<string, LossFunction>()
const layersFunctions = new Map<string, LossFunction>()

/** 'categorical_crossentropy' → 'categoricalCrossentropy', 'MSE' → 'meanSquaredError'. */
function canonicalName (name: string): string {
  const camel = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
  return ALIASES[camel.toLowerCase()] ?? camel
}

function builtIn (name: string): ResolvedLoss | undefined {
  const canonical = canonicalName(name)
  const layers = LAYERS_LOSSES[canonical]
  if (layers != null) return { compileAs: canonical, ...layers }
  const core = CORE_LOSSES[canonical]
  if (core != null) return { compileAs: core, targets: 'asIs', family: canonical === 'logLoss' ? 'binary' : 'regression' }
  return undefined
}

/**
 * Register a custom loss under a name configs can use. Every peer of a session must register
 * the same names before joining; a peer that lacks one refuses the config. Targets reach it
 * shaped like the model's output, as tfjs requires of any loss it is not told about.
 */
export function registerLoss (name: string, fn: LossFunction): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidModelConfigError('registerLoss needs a non-empty name')
  if (typeof fn !== 'function') throw new InvalidModelConfigError(`registerLoss("${name}") needs a function (yTrue, yPred) => tf.Tensor`)
  if (builtIn(name) != null) throw new InvalidModelConfigError(`loss "${name}" is already a tfjs loss; register yours under another name`)
  registered.set(name, fn)
}

/** Resolve a config's loss name on this peer; throws naming the loss when it is unknown. */
export function resolveLoss (name: string): ResolvedLoss {
  const custom = registered.get(name)
  if (custom != null) return { compileAs: custom, targets: 'asIs', family: 'regression' }
  const found = builtIn(name)
  if (found == null) throw new InvalidModelConfigError(`loss "${name}" is neither a tfjs loss nor registered with registerLoss on this peer`)
  return found
}

/**
 * The function a resolved loss computes, for evaluation outside `fit`. tfjs-layers hands out
 * its named losses only through `compile`, and a Sequential model hides the compiled list,
 * so a one-layer functional model is compiled once per name to read it.
 */
export function lossFunction (loss: ResolvedLoss): LossFunction {
  if (typeof loss.compileAs === 'function') return loss.compileAs
  const name = loss.compileAs
  let fn = layersFunctions.get(name)
  if (fn == null) {
    const input = tf.input({ shape: [1] })
    const probe = tf.model({ inputs: input, outputs: input })
    probe.compile({ optimizer: 'sgd', loss: name })
    fn = probe.lossFunctions[0] as LossFunction
    probe.dispose()
    layersFunctions.set(name, fn)
  }
  return fn
}
