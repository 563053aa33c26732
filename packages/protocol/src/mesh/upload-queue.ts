/**
 * A shaped uplink shared fairly between the peers that download from us. With one token
 * bucket and first-come order, a peer that keeps many requests queued (or simply asked
 * first) takes the whole link while another waits until its requests time out, again and
 * again: with 16 peers fetching one model, one got no block in five minutes. Here every
 * requester has its own queue and the link serves them in turn (round robin, one response
 * each), and the queue is kept short: once it holds `maxQueueMs` of uploading, a request
 * is answered BUSY at once (ask another provider) unless its peer has nothing queued, so
 * every requester always holds a place.
 */

interface Waiter {
  bytes: number
  resolve: () => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/** Options of an `UploadQueue`. */
export interface UploadQueueInit {
  /** The uplink's rate. */
  bytesPerSecond: number
  /**
   * Uploading time the queue may hold before requests from peers that already have one
   * queued are refused (ms).
   * @default 2000
   */
  maxQueueMs?: number
}

/** Round-robin, rate-shaped upload slots, one queue per requesting peer. */
export class UploadQueue {
  private readonly rate: number
  private readonly maxQueuedBytes: number
  /** peer → its waiting responses, in arrival order; the map's order is the round-robin ring */
  private readonly queues = new Map<string, Waiter[]>()
  private queuedBytes = 0
  /** when the link is free to start the next response (ms since epoch) */
  private freeAt = 0
  private timer?: ReturnType<typeof setTimeout>

  constructor (init: UploadQueueInit) {
    if (!(init.bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${init.bytesPerSecond}`)
    this.rate = init.bytesPerSecond
    this.maxQueuedBytes = init.bytesPerSecond * (init.maxQueueMs ?? 2000) / 1000
  }

  /** Bytes waiting for the link. */
  get queued (): number {
    return this.queuedBytes
  }

  /** Whether a response of `bytes` to `peer` may wait for the link; false means answer BUSY. */
  admit (peer: string, bytes: number): boolean {
    if ((this.queues.get(peer)?.length ?? 0) === 0) return true
    return this.queuedBytes + bytes <= this.maxQueuedBytes
  }

  /**
   * Resolve when it is `peer`'s turn and the link has room for `bytes`; rejects if `signal`
   * aborts first (the response is then dropped from the queue).
   */
  async take (peer: string, bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, resolve, reject, signal }
      let queue = this.queues.get(peer)
      if (queue == null) {
        queue = []
        this.queues.set(peer, queue)
      }
      queue.push(waiter)
      this.queuedBytes += bytes
      if (signal != null) {
        waiter.onAbort = () => { this.remove(peer, waiter) }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.pump()
    })
  }

  /** Reject everything waiting (the service is stopping). */
  clear (reason: Error): void {
    clearTimeout(this.timer)
    this.timer = undefined
    for (const queue of this.queues.values()) {
      for (const w of queue) {
        if (w.onAbort != null) w.signal?.removeEventListener('abort', w.onAbort)
        w.reject(reason)
      }
    }
    this.queues.clear()
    this.queuedBytes = 0
  }

  private remove (peer: string, waiter: Waiter): void {
    const queue = this.queues.get(peer)
    const i = queue?.indexOf(waiter) ?? -1
    if (queue == null || i === -1) return
    queue.splice(i, 1)
    this.queuedBytes -= waiter.bytes
    if (queue.length === 0) this.queues.delete(peer)
    waiter.reject(waiter.signal?.reason instanceof Error ? waiter.signal.reason : new Error('upload aborted'))
  }

  /** Release the next response when the link is free: the peer at the head of the ring, which then goes to its back. */
  private pump (): void {
    if (this.timer != null) return
    const now = Date.now()
    if (this.freeAt > now) {
      this.timer = setTimeout(() => { this.timer = undefined; this.pump() }, this.freeAt - now)
      return
    }
    const next = this.queues.entries().next()
    if (next.done === true) return
    const [peer, queue] = next.value
    const waiter = queue.shift() as Waiter
    this.queues.delete(peer)
    if (queue.length > 0) this.queues.set(peer, queue) // to the back of the ring
    this.queuedBytes -= waiter.bytes
    if (waiter.onAbort != null) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    // the link is busy with these bytes for bytes / rate; an idle link starts from now
    this.freeAt = Math.max(this.freeAt, now) + waiter.bytes / this.rate * 1000
    waiter.resolve()
    if (this.queues.size > 0) this.pump()
  }
}
