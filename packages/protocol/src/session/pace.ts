/**
 * Pacing without a barrier: when a peer may start, and how long it waits after a round for
 * neighbours' newer models. Pure functions over what the session knows, so the rules can be
 * tested without a network; `waitUntil` is the one wait they share.
 */
import type { SessionPace } from '../state/index.js'

/** Pacing when neither the session nor the peer says otherwise. */
export const DEFAULT_PACE: Required<SessionPace> = { minPeers: 1, startTimeout: 10_000, waitForNeighbours: 2000, roundPeriod: 0 }

/** The pacing in force: the peer's over the session's over the defaults. */
export function resolvePace (session: SessionPace | undefined, peer: SessionPace | undefined): Required<SessionPace> {
  return { ...DEFAULT_PACE, ...session, ...peer }
}

/**
 * Members present for `minPeers`: directly connected and in the document's member list (written
 * when they joined, not left), or with a head we could merge. Counting only peers that announced
 * a model would deadlock two peers that each wait for the other's first head.
 */
export function presentPeers (self: string, connected: ReadonlySet<string>, members: ReadonlyArray<{ peerId: string, leftAt?: number }>, candidates: ReadonlyArray<{ peer: string }>): string[] {
  const present = new Set<string>()
  for (const m of members) if (m.leftAt == null && m.peerId !== self && connected.has(m.peerId)) present.add(m.peerId)
  for (const c of candidates) present.add(c.peer)
  return [...present]
}

/**
 * Whether enough neighbours have a model newer than the one last merged from them: `k`, or as
 * many as are present — candidates with a head, and `present` members connected that have not
 * announced one yet (a peer that just joined is waited for, not run past). Nobody present: do
 * not wait. Members that left on purpose publish no newer model and are not waited for.
 */
export function freshEnough (candidates: ReadonlyArray<{ peer: string, version: number }>, merged: ReadonlyMap<string, number>, k: number, skip: (peer: string) => boolean, present: ReadonlyArray<string> = []): boolean {
  const live = candidates.filter(c => !skip(c.peer))
  const waitingFor = new Set([...live.map(c => c.peer), ...present.filter(p => !skip(p))])
  if (waitingFor.size === 0) return true
  const fresh = live.filter(c => (merged.get(c.peer) ?? -1) < c.version).length
  return fresh >= Math.min(k, waitingFor.size)
}

/** Resolve true once `ready()` holds (checked on each `head` event and every 250 ms), false after `ms`. */
export async function waitUntil (heads: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>, ready: () => boolean, ms: number): Promise<boolean> {
  if (ready()) return true
  return await new Promise<boolean>(resolve => {
    const finish = (ok: boolean): void => {
      clearTimeout(timer)
      clearInterval(tick)
      heads.removeEventListener('head', check)
      resolve(ok)
    }
    const check = (): void => { if (ready()) finish(true) }
    const timer = setTimeout(() => { finish(ready()) }, ms)
    // document heads and connections change without a gossip event
    const tick = setInterval(check, 250)
    heads.addEventListener('head', check)
  })
}
