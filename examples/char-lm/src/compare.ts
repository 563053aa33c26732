/**
 * The example's claim, measured: three peers that each hold one page (3000 characters) of a different part
 * of the book model held-out chapters better together (lower perplexity) than each alone,
 * close to one model trained on all their pages.
 */
import type * as tf from '@tensorflow/tfjs'
import type { RoundMetrics } from '@murmur/node'
import { TRAINING, buildCharModel } from './model.js'
import { perplexity } from './generate.js'
import { loadCorpus } from './node.js'
import type { CorpusData, CorpusOptions } from './node.js'
import { trainLocally } from '@murmur/node'

/** The three figures: perplexity per character on the same held-out chapters (lower is better). */
export interface CharLmComparison {
  /** Each peer's model after training together. */
  merged: number[]
  /** Each peer's model trained alone on its pages for the same rounds. */
  alone: number[]
  /** One model trained on all the peers' pages for the same rounds. */
  allData: number
  /** The session's own `perplexity` metric in each merged peer's last round (the same model, measured by the session). */
  reported: number[]
  /** The first peer's model after training together, to generate with (the caller disposes it). */
  model: tf.LayersModel
  rounds: number
  localSteps: number
  ms: { merged: number, alone: number, allData: number }
}

/** Options of `compareCharLm`. */
export interface CompareOptions {
  /** @default 10 */
  rounds?: number
  corpus?: CorpusOptions
  onRound?: (label: string, metrics: RoundMetrics) => void
}

/** Run the session of three peers, then the two baselines, and measure every final model on the held-out chapters. */
export async function compareCharLm (options: CompareOptions = {}): Promise<CharLmComparison> {
  const rounds = options.rounds ?? 10
  const data = loadCorpus(options.corpus)
  const run = async (label: string, shares: CorpusData['shares'], keep = false): Promise<{ scores: number[], reported: number[], ms: number, kept?: tf.LayersModel }> => {
    const model = buildCharModel(options.corpus?.length != null ? { length: options.corpus.length } : {})
    try {
      const result = await trainLocally({
        session: `moby-${label}-${Date.now()}`,
        shares,
        test: data.test,
        model,
        training: TRAINING,
        rounds,
        onRound: (peer, metrics) => options.onRound?.(`${label} ${peer}`, metrics)
      })
      const scores = result.models.map(m => perplexity(m, data.test))
      const [first, ...rest] = result.models
      for (const m of keep ? rest : result.models) m.dispose()
      const reported = result.rounds.map(r => r[r.length - 1]?.metrics.perplexity ?? NaN)
      return { scores, reported, ms: result.ms, ...(keep ? { kept: first } : {}) }
    } finally {
      model.dispose()
    }
  }
  const merged = await run('together', data.shares, true)
  const alone = { scores: [] as number[], ms: 0 }
  for (const [i, share] of data.shares.entries()) {
    const one = await run(`alone${i}`, [share])
    alone.scores.push(...one.scores)
    alone.ms += one.ms
  }
  const all = await run('all', [data.all])
  return {
    merged: merged.scores,
    alone: alone.scores,
    allData: all.scores[0] ?? NaN,
    reported: merged.reported,
    model: merged.kept as tf.LayersModel,
    rounds,
    localSteps: TRAINING.localSteps ?? 0,
    ms: { merged: merged.ms, alone: alone.ms, allData: all.ms }
  }
}

/** Mean of several perplexities. */
export function mean (values: number[]): number {
  return values.reduce((s, x) => s + x, 0) / Math.max(1, values.length)
}
