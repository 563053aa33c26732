import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { buildTopology, neighbours, isConnected, byDegree, parseTopology } from '../src/sim/topology.js'

describe('simulation topologies', () => {
  it('builds complete graphs and rings of the right size', () => {
    expect(buildTopology({ kind: 'complete' }, 5)).toHaveLength(10)
    expect(buildTopology({ kind: 'ring' }, 6)).toHaveLength(6)
    expect(neighbours(buildTopology({ kind: 'ring' }, 6), 6).every(l => l.length === 2)).toBe(true)
  })

  it('random regular graphs are simple, connected and regular', () => {
    fc.assert(fc.property(fc.integer({ min: 6, max: 40 }), fc.integer({ min: 2, max: 5 }), fc.integer(), (n, d, seed) => {
      fc.pre((n * d) % 2 === 0 && d < n)
      const e = buildTopology({ kind: 'random-regular', degree: d }, n, seed)
      expect(neighbours(e, n).every(l => l.length === d && new Set(l).size === d)).toBe(true)
      expect(isConnected(e, n)).toBe(true)
    }), { numRuns: 40 })
  })

  it('Barabási–Albert graphs have (n-m-1)·m + clique edges and grow hubs', () => {
    const n = 32
    const m = 2
    const e = buildTopology({ kind: 'barabasi-albert', m }, n, 3)
    expect(e).toHaveLength((n - m - 1) * m + (m + 1) * m / 2)
    expect(isConnected(e, n)).toBe(true)
    const deg = neighbours(e, n).map(l => l.length)
    const hub = byDegree(e, n)[0] as number
    expect(deg[hub]).toBeGreaterThan(2 * m)
    expect(new Set(e.map(([a, b]) => `${a}-${b}`)).size).toBe(e.length)
  })

  it('parses CLI names and refuses unknown ones clearly', () => {
    expect(parseTopology('ba:2')).toEqual({ kind: 'barabasi-albert', m: 2 })
    expect(parseTopology('regular:4')).toEqual({ kind: 'random-regular', degree: 4 })
    expect(() => parseTopology('star')).toThrow(/unknown topology "star"/)
  })
})
