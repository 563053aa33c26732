/**
 * The example's claim, measured: three mailboxes that train one filter together sort mail
 * far better than each alone (two of them hold one kind of mail only), and close to a
 * filter trained on all the mail in one place.
 */
import type * as tf from '@tensorflow/tfjs'
import type { RoundMetrics } from '@murmur/node'
import { MAILBOXES, loadMailData } from './data.js'
import type { MailData } from './data.js'
import { TRAINING, buildSpamFilter } from './model.js'
import { scoreFilter } from './evaluate.js'
import type { FilterScores } from './evaluate.js'
import { trainLocally } from '@murmur/node'

/** The three figures, each the filter's scores on the same held-out mail. */
export interface TextComparison {
  /** Each mailbox's filter after training together (in `MAILBOXES` order). */
  merged: FilterScores[]
  /** Each mailbox's filter trained alone for the same rounds. */
  alone: FilterScores[]
  /** One filter trained on all the training mail for the same rounds. */
  allData: FilterScores
  /** The first mailbox's filter after training together, to sort new mail with (the caller disposes it). */
  filter: tf.LayersModel
  rounds: number
  localSteps: number
  ms: { load: number, merged: number, alone: number, allData: number }
}

/** Options of `compareText`. */
export interface CompareOptions {
  /** @default 15 */
  rounds?: number
  /** Already loaded mail (loading and tokenising takes a few seconds). */
  data?: MailData
  onRound?: (label: string, metrics: RoundMetrics) => void
}

/** Run the session of three mailboxes, then the two baselines, and score every final filter. */
export async function compareText (options: CompareOptions = {}): Promise<TextComparison> {
  const rounds = options.rounds ?? 15
  const loading = Date.now()
  const data = options.data ?? loadMailData()
  const load = Date.now() - loading
  const run = async (label: string, shares: MailData['shares'], keep = false): Promise<{ scores: FilterScores[], ms: number, kept?: tf.LayersModel }> => {
    const model = buildSpamFilter()
    try {
      const result = await trainLocally({
        session: `spam-${label}-${Date.now()}`,
        shares,
        test: data.test,
        model,
        training: TRAINING,
        rounds,
        onRound: (peer, metrics) => options.onRound?.(`${label} ${peer}`, metrics)
      })
      const scores = result.models.map(m => scoreFilter(m, data.test))
      const [first, ...rest] = result.models
      for (const m of keep ? rest : result.models) m.dispose()
      return { scores, ms: result.ms, ...(keep ? { kept: first } : {}) }
    } finally {
      model.dispose()
    }
  }
  const merged = await run('together', data.shares, true)
  const alone = { scores: [] as FilterScores[], ms: 0 }
  for (const [i, share] of data.shares.entries()) {
    const one = await run(`alone${i}`, [share])
    alone.scores.push(...one.scores)
    alone.ms += one.ms
  }
  const all = await run('all', [data.all])
  return {
    merged: merged.scores,
    alone: alone.scores,
    allData: all.scores[0] as FilterScores,
    filter: merged.kept as tf.LayersModel,
    rounds,
    localSteps: TRAINING.localSteps ?? 0,
    ms: { load, merged: merged.ms, alone: alone.ms, allData: all.ms }
  }
}

/** Mean of one score over several filters. */
export function meanOf (scores: FilterScores[], key: keyof FilterScores): number {
  return scores.reduce((s, x) => s + x[key], 0) / Math.max(1, scores.length)
}

/** The mailboxes' names, for printing. */
export const MAILBOX_NAMES = MAILBOXES.map(groups => groups.join('+'))
