/**
 * The training flags of `murmur agent`, parsed without loading libp2p or tfjs, so a bad
 * command line is answered at once.
 */
import { UsageError } from '../errors.js'

/** Data sets an agent can train on. */
export const AGENT_DATASETS = ['mnist', 'fashion-mnist'] as const
/** One of `AGENT_DATASETS`. */
export type AgentDataset = typeof AGENT_DATASETS[number]

/** Parse `i/n` (0 ≤ i < n) as given to `--partition`; throws `UsageError`. */
export function parsePartition (text: string): { index: number, count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim())
  if (match == null) throw new UsageError(`--partition must be i/n with whole numbers (e.g. 0/3), got "${text}"`)
  const index = Number(match[1])
  const count = Number(match[2])
  if (count < 1) throw new UsageError(`--partition ${text}: n must be at least 1`)
  if (index >= count) throw new UsageError(`--partition ${text}: i must be below n (parts are numbered 0 to ${count - 1})`)
  return { index, count }
}

/** Parse `iid` or `dirichlet:<alpha>` as given to `--partition-kind`; throws `UsageError`. */
export function parsePartitionKind (text: string): 'iid' | { dirichlet: number } {
  if (text === 'iid') return 'iid'
  const match = /^dirichlet:(.+)$/.exec(text)
  const alpha = match != null ? Number(match[1]) : Number.NaN
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new UsageError(`--partition-kind must be iid or dirichlet:<alpha> with alpha > 0 (e.g. dirichlet:0.5), got "${text}"`)
  return { dirichlet: alpha }
}
