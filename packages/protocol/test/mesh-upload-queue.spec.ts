import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { UploadQueue } from '../src/mesh/upload-queue.js'

/** Queue `plan` (peer per response) behind a busy link; resolves with the order responses were released in. */
async function releaseOrder (plan: string[], bytes = 100): Promise<string[]> {
  // 100 bytes at 1 MB/s: a tenth of a millisecond each, so order is all that is measured. A
  // 50 ms response from another peer goes first, so every response of the plan is queued
  // before the link frees: on a loaded machine the plan's own takes may straddle a
  // millisecond, and a response that finds the link idle rightly goes out in arrival order.
  const q = new UploadQueue({ bytesPerSecond: 1_000_000, maxQueueMs: 60_000 })
  const order: string[] = []
  const busy = q.take('other', 50_000)
  await Promise.all([busy, ...plan.map(async peer => { await q.take(peer, bytes); order.push(peer) })])
  return order
}

describe('UploadQueue: a shaped uplink shared in turn', () => {
  it('serves a late peer next in turn, not after everything queued before it', async () => {
    const order = await releaseOrder([...Array(10).fill('greedy'), 'late'])
    // the ring alternates: greedy's first response, then late's
    expect(order.indexOf('late')).toBe(1)
    expect(order.filter(p => p === 'greedy')).toHaveLength(10)
  })

  it('keeps every requester within one response of the others while both wait (any arrival order)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 40 }),
      async plan => {
        const order = await releaseOrder(plan)
        expect(order.slice().sort()).toEqual(plan.slice().sort())
        const left = new Map<string, number>()
        for (const p of plan) left.set(p, (left.get(p) ?? 0) + 1)
        const served = new Map<string, number>()
        // every response waited for the link: they alternate between the waiting peers
        for (const p of order) {
          served.set(p, (served.get(p) ?? 0) + 1)
          left.set(p, (left.get(p) ?? 0) - 1)
          const waiting = [...left.entries()].filter(([, n]) => n > 0).map(([q]) => served.get(q) ?? 0)
          if (waiting.length > 0) expect((served.get(p) ?? 0) - Math.min(...waiting)).toBeLessThanOrEqual(1)
        }
      }
    ), { numRuns: 60 })
  })

  it('refuses a peer that already waits once the queue is full, never one with nothing queued', async () => {
    // 1 kB/s, 2 s of queue: 2000 bytes
    const q = new UploadQueue({ bytesPerSecond: 1000, maxQueueMs: 2000 })
    const abort = new AbortController()
    const pending: Array<Promise<void>> = []
    const enqueue = (peer: string, bytes: number): void => { pending.push(q.take(peer, bytes, abort.signal).catch(() => {})) }
    enqueue('a', 1000) // goes out at once
    expect(q.admit('a', 1000)).toBe(true)
    enqueue('a', 1000)
    expect(q.admit('a', 1000)).toBe(true)
    enqueue('a', 1000)
    expect(q.queued).toBe(2000)
    // full: a is refused, b (nothing queued) gets its place
    expect(q.admit('a', 1000)).toBe(false)
    expect(q.admit('b', 1000)).toBe(true)
    enqueue('b', 1000)
    expect(q.admit('b', 1000)).toBe(false)
    abort.abort()
    await Promise.all(pending)
    expect(q.queued).toBe(0)
  })

  it('drops an aborted response from the queue and rejects its wait', async () => {
    const q = new UploadQueue({ bytesPerSecond: 1000, maxQueueMs: 10_000 })
    const first = q.take('a', 500) // at once
    const abort = new AbortController()
    const second = q.take('b', 500, abort.signal)
    expect(q.queued).toBe(500)
    abort.abort(new Error('stream closed'))
    await expect(second).rejects.toThrow('stream closed')
    expect(q.queued).toBe(0)
    await first
    q.clear(new Error('stopped'))
  })

  it('rejects what waits when cleared, and a rate that is not positive', async () => {
    const q = new UploadQueue({ bytesPerSecond: 10, maxQueueMs: 10_000 })
    const first = q.take('a', 100)
    const waiting = q.take('a', 100)
    q.clear(new Error('shard exchange stopped'))
    await first
    await expect(waiting).rejects.toThrow('shard exchange stopped')
    expect(() => new UploadQueue({ bytesPerSecond: 0 })).toThrow(RangeError)
  })
})
