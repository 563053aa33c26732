/**
 * Token buckets keyed by peer: each peer may spend `burst` tokens at once and regains
 * `perSecond` tokens a second. Idle buckets are forgotten so the map stays bounded.
 */
export class PeerRateLimiter {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  private readonly perSecond: number
  private readonly burst: number
  private readonly maxPeers: number

  constructor (init: { perSecond: number, burst: number, maxPeers?: number }) {
    this.perSecond = init.perSecond
    this.burst = init.burst
    this.maxPeers = init.maxPeers ?? 4096
  }

  /** Spend `cost` tokens for `peer`; false when the peer is over its limit. */
  take (peer: string, cost = 1, now = Date.now()): boolean {
    let b = this.buckets.get(peer)
    if (b == null) {
      if (this.buckets.size >= this.maxPeers) this.evictIdle(now)
      b = { tokens: this.burst, at: now }
      this.buckets.set(peer, b)
    }
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) / 1000 * this.perSecond)
    b.at = now
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  /** Tokens `peer` could spend now, without spending any (a peer never seen has `burst`). */
  available (peer: string, now = Date.now()): number {
    const b = this.buckets.get(peer)
    if (b == null) return this.burst
    return Math.min(this.burst, b.tokens + (now - b.at) / 1000 * this.perSecond)
  }

  private evictIdle (now: number): void {
    const full = this.burst / this.perSecond * 1000
    for (const [peer, b] of this.buckets) {
      if (now - b.at >= full) this.buckets.delete(peer)
    }
    // every peer is active: drop the oldest entry rather than grow without bound
    if (this.buckets.size >= this.maxPeers) {
      const oldest = this.buckets.keys().next().value
      if (oldest != null) this.buckets.delete(oldest)
    }
  }
}
