/**
 * The example's claim, measured: three agencies that each know one kind of neighbourhood
 * value every kind better together than alone, close to one model trained on all tracts.
 */
import type { RoundMetrics } from '@murmur/node'
import { loadHousingData } from './data.js'
import type { HousingData } from './data.js'
import { TRAINING, buildValuer } from './model.js'
import { scoreValuer } from './evaluate.js'
import type { ValuerScores } from './evaluate.js'
import { trainLocally } from '@murmur/node'

/** The three figures, each the valuer's scores on the same held-out tracts. */
export interface RegressionComparison {
  /** Each agency's valuer after training together (lowest `lstat` band first). */
  merged: ValuerScores[]
  /** Each agency's valuer trained alone for the same rounds. */
  alone: ValuerScores[]
  /** One valuer trained on every training tract for the same rounds. */
  allData: ValuerScores
  rounds: number
  localSteps: number
  ms: { merged: number, alone: number, allData: number }
}

/** Options of `compareRegression`. */
export interface CompareOptions {
  /** @default 20 */
  rounds?: number
  onRound?: (label: string, metrics: RoundMetrics) => void
}

/** Run the session of three agencies, then the two baselines, and score every final valuer. */
export async function compareRegression (options: CompareOptions = {}): Promise<RegressionComparison> {
  const rounds = options.rounds ?? 20
  const data = loadHousingData()
  const run = async (label: string, shares: HousingData['shares']): Promise<{ scores: ValuerScores[], ms: number }> => {
    const model = buildValuer(data.scaling.meanValue)
    try {
      const result = await trainLocally({
        session: `houses-${label}-${Date.now()}`,
        shares,
        test: data.test,
        model,
        training: TRAINING,
        rounds,
        onRound: (peer, metrics) => options.onRound?.(`${label} ${peer}`, metrics)
      })
      const scores = result.models.map(m => scoreValuer(m, data.test))
      for (const m of result.models) m.dispose()
      return { scores, ms: result.ms }
    } finally {
      model.dispose()
    }
  }
  const merged = await run('together', data.shares)
  const alone = { scores: [] as ValuerScores[], ms: 0 }
  for (const [i, share] of data.shares.entries()) {
    const one = await run(`alone${i}`, [share])
    alone.scores.push(...one.scores)
    alone.ms += one.ms
  }
  const all = await run('all', [data.all])
  return {
    merged: merged.scores,
    alone: alone.scores,
    allData: all.scores[0] as ValuerScores,
    rounds,
    localSteps: TRAINING.localSteps ?? 0,
    ms: { merged: merged.ms, alone: alone.ms, allData: all.ms }
  }
}

/** Mean of one score over several valuers. */
export function meanOf (scores: ValuerScores[], key: keyof ValuerScores): number {
  return scores.reduce((s, x) => s + x[key], 0) / Math.max(1, scores.length)
}
