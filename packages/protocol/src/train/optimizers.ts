/**
 * The optimisers a session may name: validating their settings as they arrive from other
 * peers, and building the tfjs optimiser. A setting the named optimiser does not use is an
 * error, not ignored: `{ name: 'sgd', momentum: 0.9 }` would otherwise train without momentum.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidModelConfigError } from './errors.js'
import type { OptimizerConfig, OptimizerName } from './types.js'

type Setting = Exclude<keyof OptimizerConfig, 'name' | 'learningRate'>

/** The settings each optimiser reads. */
const SETTINGS: Record<OptimizerName, readonly Setting[]> = {
  sgd: [],
  momentum: ['momentum', 'useNesterov'],
  adam: ['beta1', 'beta2', 'epsilon'],
  adamax: ['beta1', 'beta2', 'epsilon', 'decay'],
  rmsprop: ['decay', 'momentum', 'epsilon'],
  adagrad: [],
  adadelta: ['rho', 'epsilon']
}

/** Every optimiser name, in the order error messages list them. */
export const OPTIMIZER_NAMES = Object.keys(SETTINGS) as OptimizerName[]

/** Which values each setting may take. */
const RANGES: Record<Exclude<Setting, 'useNesterov'>, { ok: (v: number) => boolean, says: string }> = {
  momentum: { ok: v => v >= 0, says: 'a number ≥ 0' },
  beta1: { ok: v => v >= 0 && v < 1, says: 'a number in [0, 1)' },
  beta2: { ok: v => v >= 0 && v < 1, says: 'a number in [0, 1)' },
  epsilon: { ok: v => v > 0, says: 'a positive number' },
  rho: { ok: v => v >= 0 && v <= 1, says: 'a number in [0, 1]' },
  decay: { ok: v => v >= 0, says: 'a number ≥ 0' }
}

/** Validate an optimiser config from another peer; returns a clean copy. */
export function parseOptimizer (value: unknown): OptimizerConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidModelConfigError('optimizer must be an object { name, learningRate, … }')
  const fields = value as Record<string, unknown>
  const name = fields.name as OptimizerName
  if (!OPTIMIZER_NAMES.includes(name)) throw new InvalidModelConfigError(`optimizer.name must be one of ${OPTIMIZER_NAMES.join(', ')}, got ${String(fields.name)}`)
  const learningRate = fields.learningRate
  if (typeof learningRate !== 'number' || !(learningRate > 0) || !Number.isFinite(learningRate)) {
    throw new InvalidModelConfigError(`optimizer.learningRate must be a positive number, got ${String(learningRate)}`)
  }
  const out: OptimizerConfig = { name, learningRate }
  for (const [key, v] of Object.entries(fields)) {
    if (key === 'name' || key === 'learningRate' || v === undefined) continue
    const setting = key as Setting
    if (!SETTINGS[name].includes(setting)) {
      const users = OPTIMIZER_NAMES.filter(n => SETTINGS[n].includes(setting))
      throw new InvalidModelConfigError(users.length === 0
        ? `optimizer.${key} is not an optimiser setting`
        : `optimizer.${key} does not apply to ${name}; it is a setting of ${users.join(', ')}`)
    }
    if (setting === 'useNesterov') {
      if (typeof v !== 'boolean') throw new InvalidModelConfigError(`optimizer.useNesterov must be a boolean, got ${String(v)}`)
      out.useNesterov = v
      continue
    }
    const range = RANGES[setting]
    if (typeof v !== 'number' || !Number.isFinite(v) || !range.ok(v)) throw new InvalidModelConfigError(`optimizer.${key} must be ${range.says}, got ${String(v)}`)
    out[setting] = v
  }
  if (name === 'momentum' && out.momentum === undefined) throw new InvalidModelConfigError('optimizer.momentum is required for the momentum optimiser, e.g. 0.9')
  return out
}

/** A new tfjs optimiser for the config; unset settings take tfjs's defaults. */
export function makeOptimizer (config: OptimizerConfig): tf.Optimizer {
  const { learningRate: lr } = config
  switch (config.name) {
    case 'sgd': return tf.train.sgd(lr)
    case 'momentum': return tf.train.momentum(lr, config.momentum ?? 0.9, config.useNesterov ?? false)
    case 'adam': return tf.train.adam(lr, config.beta1, config.beta2, config.epsilon)
    case 'adamax': return tf.train.adamax(lr, config.beta1, config.beta2, config.epsilon, config.decay)
    case 'rmsprop': return tf.train.rmsprop(lr, config.decay, config.momentum, config.epsilon)
    case 'adagrad': return tf.train.adagrad(lr)
    case 'adadelta': return tf.train.adadelta(lr, config.rho, config.epsilon)
  }
}
