import type { MurmurNode } from '../mesh/index.js'
import type { ModelSnapshot } from '../learn/index.js'
import type { TrainingData } from '../train/index.js'
import type { AveragingRule } from '../state/index.js'

export type { MurmurNode }

/** What a session needs from a trainer; the train layer's `Trainer` satisfies it. */
export interface SessionTrainer {
  trainSteps(data: TrainingData, steps: number): Promise<{ loss: number, samples: number }>
  evaluate(data: TrainingData): Promise<{ loss: number, metrics: Record<string, number> }>
  getSnapshot(): ModelSnapshot
  setSnapshot(snapshot: ModelSnapshot): void
  /** Called after a merge replaced the weights (the optimiser's state policy lives here). */
  afterMerge?(): void
  /** Free what the trainer holds (tfjs tensors); the session calls it when it stops. */
  dispose?(): void
}

/** Numbers one round produced, as emitted in `round` and `metrics` events. */
export interface RoundMetrics {
  round: number
  /** Mean training loss of the round's local steps (NaN for a peer without data). */
  loss: number
  /** The session's metrics on this peer's held-out data after the merge (e.g. accuracy, mae, rmse, perplexity). */
  metrics: Record<string, number>
  /** `metrics.accuracy` where the session measures accuracy, else NaN. */
  accuracy: number
  /** Loss on the held-out data after the merge (NaN without held-out data). */
  evalLoss: number
  /** Peers whose models were merged this round. */
  mergedWith: string[]
  /** Candidate models refused by validation this round. */
  rejected: number
  bytesSent: number
  bytesReceived: number
  /** ms spent training, fetching and merging this round. */
  trainMs: number
  fetchMs: number
  mergeMs: number
}

/** Events a session emits. */
export interface SessionEvents {
  round: CustomEvent<RoundMetrics>
  merged: CustomEvent<{ round: number, peers: string[], rule: AveragingRule, /** what `trimmed-mean` cut from each side */ trim: number }>
  metrics: CustomEvent<RoundMetrics>
  'peer:join': CustomEvent<{ peerId: string }>
  'peer:leave': CustomEvent<{ peerId: string }>
  /** The wait before the first round ended: `ready` peers had announced a model of the `wanted`; `waited` when it timed out. */
  ready: CustomEvent<{ ready: number, wanted: number, waited: boolean }>
  /** The checkpoint's model was loaded; rounds go on from `round`. `metrics`: the restored model on the held-out data now; `saved`: those saved with it. */
  resume: CustomEvent<{ round: number, metrics: Record<string, number>, saved: Record<string, number> }>
  /** The checkpoint could not be used (the reason); training starts from fresh weights. */
  'resume-failed': CustomEvent<{ reason: string }>
  error: CustomEvent<Error>
}
