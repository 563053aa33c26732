/**
 * The example's claim, measured: three sites that train together detect events better
 * than each site alone, and close to a model trained on everyone's readings in one place.
 */
import type { RoundMetrics } from '@murmur/node'
import { SITES, loadSensorData } from './data.js'
import { TRAINING, buildDetector } from './model.js'
import { scoreDetector } from './evaluate.js'
import type { DetectorScores } from './evaluate.js'
import { trainLocally } from '@murmur/node'

/** The three figures, each the detector's scores on the same held-out readings. */
export interface TabularComparison {
  /** Each site's model after training together (in `SITES` order). */
  merged: DetectorScores[]
  /** Each site's model trained alone on its own readings for the same rounds. */
  alone: DetectorScores[]
  /** One model trained on every site's readings for the same rounds. */
  allData: DetectorScores
  rounds: number
  localSteps: number
  ms: { merged: number, alone: number, allData: number }
}

/** Options of `compareTabular`. */
export interface CompareOptions {
  /** @default 20 */
  rounds?: number
  onRound?: (label: string, metrics: RoundMetrics) => void
}

/** Run the session of three sites, then the two baselines, and score every final model. */
export async function compareTabular (options: CompareOptions = {}): Promise<TabularComparison> {
  const rounds = options.rounds ?? 20
  const data = loadSensorData()
  const run = async (label: string, shares: typeof data.shares): Promise<{ scores: DetectorScores[], ms: number }> => {
    const model = buildDetector()
    try {
      const result = await trainLocally({
        session: `sensor-${label}-${Date.now()}`,
        shares,
        test: data.test,
        model,
        training: TRAINING,
        rounds,
        onRound: (peer, metrics) => options.onRound?.(`${label} ${peer}`, metrics)
      })
      const scores = result.models.map(m => scoreDetector(m, data.test))
      for (const m of result.models) m.dispose()
      return { scores, ms: result.ms }
    } finally {
      model.dispose()
    }
  }
  const merged = await run('together', data.shares)
  const alone = { scores: [] as DetectorScores[], ms: 0 }
  for (const [i, share] of data.shares.entries()) {
    const one = await run(`alone${i}`, [share])
    alone.scores.push(...one.scores)
    alone.ms += one.ms
  }
  const all = await run('all', [data.all])
  return {
    merged: merged.scores,
    alone: alone.scores,
    allData: all.scores[0] as DetectorScores,
    rounds,
    localSteps: TRAINING.localSteps ?? 0,
    ms: { merged: merged.ms, alone: alone.ms, allData: all.ms }
  }
}

/** Mean of one score over several models. */
export function meanOf (scores: DetectorScores[], key: keyof DetectorScores): number {
  return scores.reduce((s, x) => s + x[key], 0) / Math.max(1, scores.length)
}

/** The sites' names, for printing. */
export const SITE_NAMES = SITES.map(motes => `motes ${motes.join('+')}`)

