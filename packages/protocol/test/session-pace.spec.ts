import { describe, expect, it } from 'vitest'
import { DEFAULT_PACE, freshEnough, presentPeers, resolvePace, waitUntil } from '../src/session/pace.js'

describe('pacing rules', () => {
  it('takes the peer\'s pace over the session\'s over the defaults', () => {
    expect(resolvePace(undefined, undefined)).toEqual(DEFAULT_PACE)
    expect(resolvePace({ minPeers: 3, roundPeriod: 100 }, { roundPeriod: 0 })).toEqual({ ...DEFAULT_PACE, minPeers: 3, roundPeriod: 0 })
  })

  it('counts connected members that have not left, and peers with heads, once each', () => {
    const members = [{ peerId: 'me' }, { peerId: 'a' }, { peerId: 'b', leftAt: 5 }, { peerId: 'c' }]
    // c is a member but not connected; d has a head but is not (yet) in our member list
    expect(presentPeers('me', new Set(['a', 'b']), members, [{ peer: 'a' }, { peer: 'd' }]).sort()).toEqual(['a', 'd'])
    expect(presentPeers('me', new Set(), members, [])).toEqual([])
  })

  it('is fresh enough with k fresh neighbours, or all of them when fewer, and never waits for none', () => {
    const merged = new Map([['a', 3], ['b', 5]])
    const never = (): boolean => false
    expect(freshEnough([], merged, 2, never)).toBe(true)
    expect(freshEnough([{ peer: 'a', version: 3 }, { peer: 'b', version: 5 }], merged, 2, never)).toBe(false)
    expect(freshEnough([{ peer: 'a', version: 4 }, { peer: 'b', version: 5 }], merged, 1, never)).toBe(true)
    expect(freshEnough([{ peer: 'a', version: 4 }, { peer: 'b', version: 5 }], merged, 2, never)).toBe(false)
    // only one candidate: one fresh one is enough even for k = 2; a never-merged peer is fresh
    expect(freshEnough([{ peer: 'z', version: 0 }], merged, 2, never)).toBe(true)
    // a member that joined but has announced nothing yet is waited for, not run past
    expect(freshEnough([], merged, 1, never, ['new'])).toBe(false)
    expect(freshEnough([{ peer: 'a', version: 4 }], merged, 2, never, ['a', 'new'])).toBe(false)
    expect(freshEnough([{ peer: 'a', version: 4 }, { peer: 'new', version: 0 }], merged, 2, never, ['a', 'new'])).toBe(true)
    // a peer that left is not waited for
    expect(freshEnough([{ peer: 'a', version: 3 }, { peer: 'c', version: 9 }], merged, 2, p => p === 'a')).toBe(true)
  })

  it('waits until ready on a head event, or gives up after the bound', async () => {
    const heads = new EventTarget()
    let ok = false
    const started = Date.now()
    setTimeout(() => { ok = true; heads.dispatchEvent(new Event('head')) }, 30)
    expect(await waitUntil(heads, () => ok, 5000)).toBe(true)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(await waitUntil(heads, () => false, 100)).toBe(false)
  })
})
