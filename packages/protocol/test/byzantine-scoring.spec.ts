import { describe, it, expect, afterEach } from 'vitest'
import * as fc from 'fast-check'
import { PeerScores, enforceBans } from '../src/session/index.js'
import type { Offence } from '../src/session/index.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

const OFFENCES: Offence[] = ['invalid-model', 'bad-content', 'refused-state', 'non-member']

describe('peer scoring', () => {
  it('repeated invalid models ban a peer once, for the ban length, then it starts again from 0', () => {
    let now = 0
    const scores = new PeerScores({ now: () => now, banMs: 60_000 })
    const banned: string[] = []
    scores.addEventListener('banned', (e) => banned.push(e.detail.peer))
    for (let i = 0; i < 2; i++) scores.penalize('bad', 'invalid-model')
    expect(scores.isBanned('bad')).toBe(false)
    for (let i = 0; i < 5; i++) scores.penalize('bad', 'invalid-model')
    expect(scores.isBanned('bad')).toBe(true)
    expect(banned).toEqual(['bad'])
    // banned peers sink below gossipsub's graylist threshold (-80) at the default weight of 10
    expect(scores.gossipScore('bad') * 10).toBeLessThanOrEqual(-80)
    expect(scores.isBanned('good')).toBe(false)
    now += 60_000
    expect(scores.isBanned('bad')).toBe(false)
    expect(scores.score('bad')).toBe(0)
  })

  it('good behaviour cannot be banked: an attacker with a long clean record is banned as fast as a new one', () => {
    const scores = new PeerScores({ now: () => 0 })
    for (let i = 0; i < 1000; i++) scores.reward('patient')
    let n = 0
    while (!scores.isBanned('patient') && n < 100) { scores.penalize('patient', 'invalid-model'); n++ }
    let m = 0
    while (!scores.isBanned('fresh') && m < 100) { scores.penalize('fresh', 'invalid-model'); m++ }
    expect(n - m).toBeLessThanOrEqual(2)
  })

  it('scores stay in [threshold − worst penalty, maxScore] and decay towards 0', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ offence: fc.option(fc.constantFrom(...OFFENCES)), dt: fc.integer({ min: 0, max: 120_000 }) }), { maxLength: 60 }),
      (events) => {
        let now = 0
        const scores = new PeerScores({ now: () => now })
        for (const e of events) {
          now += e.dt
          const before = scores.score('p')
          if (e.offence == null) scores.reward('p')
          else scores.penalize('p', e.offence)
          const s = scores.score('p')
          expect(s).toBeLessThanOrEqual(5)
          expect(s).toBeGreaterThanOrEqual(-15)
          if (!scores.isBanned('p') && e.offence != null) expect(s).toBeLessThan(before + 1e-9)
        }
        if (!scores.isBanned('p')) {
          const s = Math.abs(scores.score('p'))
          now += 600_000
          expect(Math.abs(scores.score('p'))).toBeLessThanOrEqual(s / 2 + 1e-9)
        }
      }
    ), { numRuns: 200 })
  })

  it('a banned peer is disconnected, its re-dials fail, and gossipsub graylists it', async () => {
    const scores = new PeerScores({ banMs: 60_000 })
    const a = await createMemoryNode({ appSpecificScore: scores.gossipScore })
    const b = await createMemoryNode()
    nodes = [a, b]
    const stop = enforceBans(a, scores)
    try {
      await b.dial(a.getMultiaddrs())
      expect(a.getConnections(b.peerId).length).toBeGreaterThan(0)
      for (let i = 0; i < 3; i++) scores.penalize(b.peerId.toString(), 'bad-content')
      expect(scores.isBanned(b.peerId.toString())).toBe(true)
      expect(await waitFor(() => a.getConnections(b.peerId).length === 0, 10_000)).toBe(true)
      // it dials back, in; and we dial it, out: neither connection survives
      await b.dial(a.getMultiaddrs()).catch(() => {})
      await a.dial(b.getMultiaddrs()).catch(() => {})
      expect(await waitFor(() => a.getConnections(b.peerId).length === 0, 10_000)).toBe(true)
      expect(scores.gossipScore(b.peerId.toString()) * 10).toBeLessThanOrEqual(-80)
    } finally {
      stop()
    }
  }, 30_000)
})
