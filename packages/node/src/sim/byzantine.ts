import { mergeModels } from '@murmur/protocol'
import type { ModelSnapshot, SessionTrainer } from '@murmur/protocol'

/** How a Byzantine peer corrupts the model it publishes. */
export type ByzantineAttack = 'sign-flip' | 'scale' | 'noise' | 'nan' | 'stale' | 'within-norm'

/**
 * Peers that publish an attacked model instead of their own each round. The attackers are
 * omniscient and collude (the threat model of "A Little Is Enough" and of Fang et al.): each
 * round they read the honest peers' current models and aim at their mean μ.
 *
 * `factor`: sign-flip publishes −factor·μ (default 4), scale factor·μ (default 8); both stay
 * inside `validateModel`'s default limit (10× a tensor's norm from the receiver's model), so
 * only the merge rule stands in the way. within-norm is the strongest flip that limit lets
 * through: μ moved against itself by factor × the limit (default 0.8, i.e. −7·μ), which alone
 * cancels the receiver's own half in a plain average. Noise adds Gaussian noise of factor ×
 * each tensor's standard deviation (default 3); nan fills every value with NaN; stale keeps
 * publishing the peer's initial model.
 */
export interface ByzantineSpec {
  peers: number[]
  attack: ByzantineAttack
  factor?: number
}

// validateModel's default maxNormRatio: the attacker sizes within-norm to stay under it
const VALIDATION_LIMIT = 10

/** The plain mean of models: what omniscient attackers aim at. */
export function consensusOf (models: readonly ModelSnapshot[]): ModelSnapshot {
  return mergeModels(models, { rule: 'plain' })
}

function flipFactor (spec: ByzantineSpec): number {
  if (spec.attack === 'sign-flip') return -(spec.factor ?? 4)
  if (spec.attack === 'scale') return spec.factor ?? 8
  return 1 - (spec.factor ?? 0.8) * VALIDATION_LIMIT
}

/** The model a Byzantine peer publishes in place of `honest` (the honest consensus it aims at). */
export function attackSnapshot (honest: ModelSnapshot, spec: ByzantineSpec, initial: ModelSnapshot, rng: () => number): ModelSnapshot {
  if (spec.attack === 'stale') return initial
  return {
    tensors: honest.tensors.map(t => {
      const data = new Float32Array(t.data.length)
      if (spec.attack === 'nan') {
        data.fill(Number.NaN)
      } else if (spec.attack === 'noise') {
        let m = 0
        for (const v of t.data) m += v
        m /= Math.max(1, t.data.length)
        let q = 0
        for (const v of t.data) q += (v - m) * (v - m)
        const sd = (spec.factor ?? 3) * Math.sqrt(q / Math.max(1, t.data.length))
        for (let j = 0; j < data.length; j++) {
          // Box–Muller from the seeded generator, so runs repeat
          const g = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
          data[j] = t.data[j]! + sd * g
        }
      } else {
        const f = flipFactor(spec)
        for (let j = 0; j < data.length; j++) data[j] = f * t.data[j]!
      }
      return { ...t, data }
    })
  }
}

/**
 * The trainer of a Byzantine peer: it shows the session an attack on the honest peers'
 * current consensus, read through `honestModels`, not on a model of its own. An attacker that
 * merged its own attacked model back in would diverge round after round until validation
 * refused it on norm alone, and the merge rule would never be tested. It does not train, and
 * it ignores what the session merges into it.
 */
export function byzantineTrainer (inner: SessionTrainer, spec: ByzantineSpec, rng: () => number, honestModels: () => ModelSnapshot[]): SessionTrainer {
  const initial = inner.getSnapshot()
  return {
    trainSteps: async () => ({ loss: Number.NaN, samples: 0 }),
    evaluate: (data) => inner.evaluate(data),
    getSnapshot: () => {
      const honest = honestModels()
      return attackSnapshot(honest.length > 0 ? consensusOf(honest) : initial, spec, initial, rng)
    },
    setSnapshot: () => {}
  }
}
