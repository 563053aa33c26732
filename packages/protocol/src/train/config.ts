/**
 * Validating a model config as it arrives from another peer: every field checked, every
 * name (optimiser, loss, metrics) resolved on this peer, so a config this peer cannot train
 * fails here, with the field at fault, and not halfway through a round.
 */
import { InvalidModelConfigError } from './errors.js'
import { resolveLoss } from './losses.js'
import { BUILT_IN_METRICS, isKnownMetric } from './metrics.js'
import { parseOptimizer } from './optimizers.js'
import type { LayersTopology, ModelConfig, OptimizerStateAtMerge } from './types.js'

const OPTIMIZER_STATES: readonly OptimizerStateAtMerge[] = ['reset', 'keep']

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function positiveInteger (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidModelConfigError(`${field} must be a positive integer, got ${String(value)}`)
  }
  return value
}

function parseMetrics (value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidModelConfigError('metrics must be a non-empty array of metric names')
  return value.map((name: unknown, i) => {
    if (typeof name !== 'string' || !isKnownMetric(name)) {
      throw new InvalidModelConfigError(`metrics[${i}] ${JSON.stringify(name)} is not a built-in metric (${BUILT_IN_METRICS.join(', ')}) nor registered with registerMetric on this peer`)
    }
    return name
  })
}

/** Validate a model config that may come from another peer; returns a clean copy. */
export function parseModelConfig (value: unknown): ModelConfig {
  if (!isRecord(value)) throw new InvalidModelConfigError('model config must be an object')
  const { architecture, loss, metrics, optimizerState, seed } = value
  if (!isRecord(architecture) || typeof architecture.class_name !== 'string' || !isRecord(architecture.config)) {
    throw new InvalidModelConfigError('architecture must be tfjs layers JSON: { class_name, config }')
  }
  const optimizer = parseOptimizer(value.optimizer)
  if (typeof loss !== 'string' || loss.length === 0) throw new InvalidModelConfigError('loss must name a tfjs loss or one given to registerLoss')
  resolveLoss(loss)
  if (optimizerState !== undefined && !OPTIMIZER_STATES.includes(optimizerState as OptimizerStateAtMerge)) {
    throw new InvalidModelConfigError(`optimizerState must be one of ${OPTIMIZER_STATES.join(', ')}, got ${String(optimizerState)}`)
  }
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) {
    throw new InvalidModelConfigError(`seed must be an integer, got ${String(seed)}`)
  }
  const out: ModelConfig = {
    architecture: structuredClone(architecture) as LayersTopology,
    optimizer,
    batchSize: positiveInteger(value.batchSize, 'batchSize'),
    localSteps: positiveInteger(value.localSteps, 'localSteps'),
    loss
  }
  if (metrics !== undefined) out.metrics = parseMetrics(metrics)
  if (optimizerState !== undefined) out.optimizerState = optimizerState as OptimizerStateAtMerge
  if (seed !== undefined) out.seed = seed
  return out
}
