import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'

/** How one hostile input ended, from the side that sent it. */
export type StreamEnd = 'refused' | 'reset' | 'closed' | 'timeout'

/** What came back for one input sent on a raw stream. */
export interface Exchange {
  end: StreamEnd
  /** Every byte the remote sent before the stream ended. */
  bytes: Uint8Array
}

/** Options of `exchange`. */
export interface ExchangeOptions {
  /** Give up (and abort the stream) after this long; the remote has then kept it open. */
  timeoutMs: number
  /** Pause between chunks (slowloris); the total stays bounded by `timeoutMs`. */
  gapMs?: number
  /** Close our writable end after the last chunk (true) or leave it open (false). */
  closeWrite?: boolean
}

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => new Promise(resolve => {
  const t = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
})

/**
 * Open a stream, write `chunks` as they are (no framing added), read whatever comes back
 * and report how the stream ended. Never throws: every way a hostile exchange can end is
 * an outcome to count.
 */
export async function exchange (open: () => Promise<Stream>, chunks: Uint8Array[], options: ExchangeOptions): Promise<Exchange> {
  let stream: Stream
  try {
    stream = await open()
  } catch {
    return { end: 'refused', bytes: new Uint8Array() }
  }
  const received = new Uint8ArrayList()
  const deadline = new AbortController()
  const timer = setTimeout(() => { deadline.abort() }, options.timeoutMs)
  const read = (async (): Promise<StreamEnd> => {
    try {
      for await (const chunk of stream) received.append(chunk)
      return 'closed'
    } catch {
      return deadline.signal.aborted ? 'timeout' : 'reset'
    }
  })()
  const write = (async (): Promise<void> => {
    try {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0 && options.gapMs != null) await sleep(options.gapMs, deadline.signal)
        if (deadline.signal.aborted || stream.writeStatus !== 'writable') return
        if (!stream.send(chunk)) await stream.onDrain({ signal: deadline.signal })
      }
      if (options.closeWrite !== false) await stream.close({ signal: deadline.signal })
    } catch {
      // the remote reset the stream while we wrote: the read side reports it
    }
  })()
  const timedOut = new Promise<StreamEnd>(resolve => {
    deadline.signal.addEventListener('abort', () => { resolve('timeout') }, { once: true })
  })
  const end = await Promise.race([read, timedOut])
  clearTimeout(timer)
  if (end === 'timeout') stream.abort(new Error('fuzz exchange timed out'))
  await write
  return { end, bytes: received.subarray() }
}

/** Length-prefix `bytes` the way `@libp2p/utils` framing does (unsigned varint). */
export function frame (bytes: Uint8Array): Uint8Array {
  return concat(varint(bytes.length), bytes)
}

/** Split what a peer answered into its length-prefixed frames; a torn tail is dropped. */
export function unframe (bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let o = 0
  while (o < bytes.length) {
    let len = 0
    let scale = 1
    let b: number
    do {
      if (o >= bytes.length || scale > 2 ** 35) return out
      b = bytes[o++] as number
      len += (b & 0x7f) * scale
      scale *= 0x80
    } while (b >= 0x80)
    if (o + len > bytes.length) return out
    out.push(bytes.subarray(o, o + len))
    o += len
  }
  return out
}

/** An unsigned LEB128 varint, written by hand so tests can also build illegal ones. */
export function varint (n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) { out.push((v % 0x80) | 0x80); v = Math.floor(v / 0x80) }
  out.push(v)
  return Uint8Array.from(out)
}

/** A small seeded generator (mulberry32), so a failing run can be replayed from its seed. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `n` random bytes from `rand`. */
export function randomBytes (rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256)
  return out
}

/** Ways `mutate` damages a valid message. */
export const MUTATIONS = ['flip', 'truncate', 'extend', 'delete', 'duplicate', 'splice'] as const

/** One random mutation of a valid message: bit flips, truncation, junk appended, a slice removed or repeated. */
export function mutate (bytes: Uint8Array, rand: () => number): { kind: typeof MUTATIONS[number], bytes: Uint8Array } {
  const kind = MUTATIONS[Math.floor(rand() * MUTATIONS.length)] ?? 'flip'
  const at = Math.floor(rand() * Math.max(1, bytes.length))
  const len = 1 + Math.floor(rand() * Math.min(16, Math.max(1, bytes.length - at)))
  switch (kind) {
    case 'flip': {
      const out = bytes.slice()
      const flips = 1 + Math.floor(rand() * 4)
      for (let i = 0; i < flips && out.length > 0; i++) {
        const j = Math.floor(rand() * out.length)
        out[j] = (out[j] ?? 0) ^ (1 << Math.floor(rand() * 8))
      }
      return { kind, bytes: out }
    }
    case 'truncate': return { kind, bytes: bytes.slice(0, at) }
    case 'extend': return { kind, bytes: concat(bytes, randomBytes(rand, len)) }
    case 'delete': return { kind, bytes: concat(bytes.slice(0, at), bytes.slice(at + len)) }
    case 'duplicate': return { kind, bytes: concat(bytes.slice(0, at + len), bytes.slice(at)) }
    case 'splice': return { kind, bytes: concat(bytes.slice(0, at), randomBytes(rand, len), bytes.slice(at + len)) }
  }
}

/** Join byte arrays. */
export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** Counts of what each handler answered to each class of input, printed as one table. */
export class OutcomeTable {
  private readonly rows = new Map<string, Map<string, number>>()

  /** Count one input sent to `handler` that ended as `outcome`. */
  record (handler: string, outcome: string, n = 1): void {
    let row = this.rows.get(handler)
    if (row == null) { row = new Map(); this.rows.set(handler, row) }
    row.set(outcome, (row.get(outcome) ?? 0) + n)
  }

  /** Inputs sent to `handler` (every outcome, or one). */
  count (handler: string, outcome?: string): number {
    const row = this.rows.get(handler)
    if (row == null) return 0
    if (outcome != null) return row.get(outcome) ?? 0
    let n = 0
    for (const v of row.values()) n += v
    return n
  }

  /** Every handler's total, for assertions and summaries. */
  totals (): Record<string, number> {
    return Object.fromEntries([...this.rows.keys()].map(h => [h, this.count(h)]))
  }

  /** A Markdown table: one row per handler, one column per outcome seen anywhere. */
  format (): string {
    const outcomes = [...new Set([...this.rows.values()].flatMap(r => [...r.keys()]))].sort()
    const lines = [
      `| handler | inputs | ${outcomes.join(' | ')} |`,
      `|---|---:|${outcomes.map(() => '---:').join('|')}|`
    ]
    for (const [handler, row] of [...this.rows].sort(([a], [b]) => a < b ? -1 : 1)) {
      lines.push(`| ${handler} | ${this.count(handler)} | ${outcomes.map(o => String(row.get(o) ?? 0)).join(' | ')} |`)
    }
    return lines.join('\n')
  }
}

/**
 * Record every unhandled rejection and uncaught exception while hostile input flows, so a
 * test can fail on them even when they surface far from the code that sent the input.
 */
export function watchProcess (): { failures: unknown[], dispose(): void } {
  const failures: unknown[] = []
  const onFailure = (err: unknown): void => { failures.push(err) }
  process.on('unhandledRejection', onFailure)
  process.on('uncaughtException', onFailure)
  return {
    failures,
    dispose: () => {
      process.off('unhandledRejection', onFailure)
      process.off('uncaughtException', onFailure)
    }
  }
}

/** Run `task` over `items` with at most `limit` in flight. */
export async function inParallel<T> (items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await task(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
