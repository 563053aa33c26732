import { PeerRateLimiter } from '../rate-limit.js'
import { WRITE_BUDGET } from './constants.js'

/** Options of `WriteBudget` (defaults: `WRITE_BUDGET`). */
export interface WriteBudgetInit {
  bytesPerMinute?: number
  structsPerMinute?: number
}

/**
 * How much one peer may write into our replicas: bytes and structs per minute, each a token
 * bucket holding one minute's worth. A write is charged to both or to neither.
 */
export class WriteBudget {
  private readonly bytes: PeerRateLimiter
  private readonly structs: PeerRateLimiter

  constructor (init: WriteBudgetInit = {}) {
    const bytesPerMinute = init.bytesPerMinute ?? WRITE_BUDGET.bytesPerMinute
    const structsPerMinute = init.structsPerMinute ?? WRITE_BUDGET.structsPerMinute
    this.bytes = new PeerRateLimiter({ perSecond: bytesPerMinute / 60, burst: bytesPerMinute })
    this.structs = new PeerRateLimiter({ perSecond: structsPerMinute / 60, burst: structsPerMinute })
  }

  /** Charge `peer` for a write of `bytes` bytes adding `structs` structs; false (nothing charged) when over. */
  take (peer: string, bytes: number, structs: number, now = Date.now()): boolean {
    if (this.bytes.available(peer, now) < bytes || this.structs.available(peer, now) < structs) return false
    this.bytes.take(peer, bytes, now)
    this.structs.take(peer, structs, now)
    return true
  }
}
