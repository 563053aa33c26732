/** What a node has learnt about one peer as a shard provider, kept across fetches. */
export interface ProviderRecord {
  /** Smoothed round-trip time in ms (ping or first response), undefined until measured. */
  rtt?: number
  /** Smoothed throughput in bytes/ms over past transfers, undefined until measured. */
  throughput?: number
  /** Shards served and verified. */
  served: number
  /** Requests that timed out or failed. */
  failures: number
  /** Shards that failed their hash check: one is enough to drop the peer from a fetch. */
  bad: number
}

const ALPHA = 0.3

/**
 * Per-peer RTT and throughput history, used to rank providers the way Dragonfly ranks
 * parents: expected time to deliver one shard = RTT + shard size / throughput.
 */
export class ProviderStats {
  private readonly records = new Map<string, ProviderRecord>()
  private readonly maxPeers: number

  constructor (maxPeers = 1024) {
    this.maxPeers = maxPeers
  }

  /** The record for `peer` (a fresh one when never seen). */
  get (peer: string): ProviderRecord {
    let r = this.records.get(peer)
    if (r == null) {
      if (this.records.size >= this.maxPeers) {
        const oldest = this.records.keys().next().value
        if (oldest != null) this.records.delete(oldest)
      }
      r = { served: 0, failures: 0, bad: 0 }
      this.records.set(peer, r)
    }
    return r
  }

  /** Record a ping or first-byte RTT. */
  recordRtt (peer: string, ms: number): void {
    const r = this.get(peer)
    r.rtt = r.rtt == null ? ms : r.rtt * (1 - ALPHA) + ms * ALPHA
  }

  /** Record a verified transfer of `bytes` that took `ms`. */
  recordTransfer (peer: string, bytes: number, ms: number): void {
    const r = this.get(peer)
    const t = bytes / Math.max(ms, 0.05)
    r.throughput = r.throughput == null ? t : r.throughput * (1 - ALPHA) + t * ALPHA
    r.served++
  }

  /** Record a failed or timed-out request. */
  recordFailure (peer: string): void {
    this.get(peer).failures++
  }

  /** Record a shard that failed verification. */
  recordBad (peer: string): void {
    this.get(peer).bad++
  }

  /** Expected ms for `peer` to deliver `bytes`; unknown peers get optimistic defaults so they are tried. */
  expectedMs (peer: string, bytes: number): number {
    const r = this.records.get(peer)
    const rtt = r?.rtt ?? 20
    const throughput = r?.throughput ?? 50_000 // 50 MB/s until measured
    return rtt + bytes / throughput + (r?.failures ?? 0) * 5
  }

  /** A copy of every record, for status output. */
  snapshot (): Record<string, ProviderRecord> {
    return Object.fromEntries([...this.records].map(([k, v]) => [k, { ...v }]))
  }
}
