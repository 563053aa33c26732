import type { MurmurNode } from '../mesh/index.js'
import type { ModelSnapshot } from '../learn/index.js'
import type { Dataset } from '../train/index.js'
import type { AveragingRule } from '../state/index.js'

export type { MurmurNode }

/** What a session needs from a trainer; the train layer's `Trainer` satisfies it. */
export interface SessionTrainer {
  trainSteps(data: Dataset, steps: number): Promise<{ loss: number, samples: number }>
  evaluate(data: Dataset): Promise<{ loss: number, accuracy: number }> | { loss: number, accuracy: number }
  getSnapshot(): ModelSnapshot
  setSnapshot(snapshot: ModelSnapshot): void
  /** Free what the trainer holds (tfjs tensors); the session calls it when it stops. */
  dispose?(): void
}

/** Numbers one round produced, as emitted in `round` and `metrics` events. */
export interface RoundMetrics {
  round: number
  loss: number
  /** Accuracy on the peer's own held-out data after the merge. */
  accuracy: number
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
  error: CustomEvent<Error>
}
