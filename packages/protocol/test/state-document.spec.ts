import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import type * as Y from 'yjs'
import {
  createSessionDoc, setConfig, getConfig, upsertMember, listMembers, setHead, getHead, listHeads, appendMetric,
  listMetrics, encodeState, encodeStateVector, applyRemoteUpdate, sameState, roots, touchMember, markMemberLeft,
  InvalidStateUpdateError, checkStateVector, METRICS_PER_PEER
} from '../src/state/index.js'
import type { Member, ModelHead } from '../src/state/index.js'

const member = (peerId: string, t = 1): Member => ({ peerId, role: 'trainer', backend: 'wasm', samples: 100, joinedAt: t, lastSeen: t })
const head = (peerId: string, version: number): ModelHead => ({ peerId, manifest: `bafk${peerId}${version}`, version, samples: 10, encoding: 'fp32', timestamp: version })

/** Exchange state both ways through state vectors, as the sync protocol does. */
function syncPair (a: Y.Doc, b: Y.Doc): void {
  const forB = encodeState(a, encodeStateVector(b))
  const forA = encodeState(b, encodeStateVector(a))
  applyRemoteUpdate(b, forB)
  applyRemoteUpdate(a, forA)
}

describe('session document', () => {
  it('stores config, members, heads and metrics as data', () => {
    const doc = createSessionDoc()
    expect(getConfig(doc)).toBeUndefined()
    setConfig(doc, { model: { preset: 'mnist-mlp' }, averaging: 'variance-corrected', fanOut: 2, selfWeight: 0.5, encoding: 'fp16' })
    expect(getConfig(doc)?.averaging).toBe('variance-corrected')
    upsertMember(doc, member('b'))
    upsertMember(doc, member('a'))
    expect(listMembers(doc).map(m => m.peerId)).toEqual(['a', 'b'])
    touchMember(doc, 'a', 50)
    expect(listMembers(doc)[0]?.lastSeen).toBe(50)
    markMemberLeft(doc, 'b', 60)
    expect(listMembers(doc)[1]?.leftAt).toBe(60)
    appendMetric(doc, { peerId: 'a', round: 1, loss: 0.5, accuracy: 0.9, bytesSent: 1, bytesReceived: 2, timestamp: 3 })
    expect(listMetrics(doc, 'a')).toHaveLength(1)
    expect(listMetrics(doc, 'b')).toHaveLength(0)
  })

  it('moves heads only forward, so a replayed announcement cannot roll a peer back', () => {
    const doc = createSessionDoc()
    expect(setHead(doc, head('a', 2))).toBe(true)
    expect(setHead(doc, head('a', 1))).toBe(false)
    expect(setHead(doc, head('a', 2))).toBe(false)
    expect(getHead(doc, 'a')?.version).toBe(2)
    setHead(doc, head('b', 5))
    expect(listHeads(doc).map(h => h.peerId)).toEqual(['b', 'a'])
  })

  it('skips malformed values written by another peer instead of trusting or throwing', () => {
    const doc = createSessionDoc()
    const r = roots(doc)
    r.members.set('x', 'not an object')
    r.members.set('y', { peerId: 'y', role: 'king', samples: 1, joinedAt: 1, lastSeen: 1 })
    r.members.set('z', { ...member('other') })
    r.heads.set('h', { peerId: 'h', manifest: 'c', version: Number.NaN, samples: 1, encoding: 'fp32', timestamp: 1 })
    r.metrics.push([{ peerId: 'a', round: 1, loss: 1, accuracy: 7, timestamp: 1 }, null])
    upsertMember(doc, member('ok'))
    expect(listMembers(doc).map(m => m.peerId)).toEqual(['ok'])
    expect(listHeads(doc)).toEqual([])
    expect(listMetrics(doc)).toEqual([])
  })

  it('keeps each peer\'s latest metrics only, and replicas that trimmed apart still converge', () => {
    const a = createSessionDoc()
    const b = createSessionDoc()
    const metric = (peerId: string, round: number) => ({ peerId, round, loss: 1, accuracy: 0.5, bytesSent: 0, bytesReceived: 0, timestamp: round })
    for (let round = 1; round <= 10; round++) {
      appendMetric(a, metric('pa', round), { keep: 3 })
      appendMetric(b, metric('pb', round), { keep: 4 })
      // exchange every other round, so each replica trims entries the other has and has not seen
      if (round % 2 === 0) {
        applyRemoteUpdate(a, encodeState(b, encodeStateVector(a)))
        applyRemoteUpdate(b, encodeState(a, encodeStateVector(b)))
      }
    }
    expect(sameState(a, b)).toBe(true)
    expect(listMetrics(a, 'pa').map(m => m.round)).toEqual([8, 9, 10])
    expect(listMetrics(a, 'pb').map(m => m.round)).toEqual([7, 8, 9, 10])
    const c = createSessionDoc()
    for (let round = 1; round <= METRICS_PER_PEER + 5; round++) appendMetric(c, metric('pc', round))
    expect(listMetrics(c)).toHaveLength(METRICS_PER_PEER)
    expect(listMetrics(c)[0]?.round).toBe(6)
  })

  it('keeps a trim in [0, 0.5) from another peer and drops one out of range, so every peer falls back alike', () => {
    const doc = createSessionDoc()
    const base = { model: {}, averaging: 'trimmed-mean', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' }
    for (const [trim, kept] of [[0.1, 0.1], [0, 0], [0.5, undefined], [-0.1, undefined], ['0.1', undefined], [Number.NaN, undefined]] as const) {
      for (const [k, v] of Object.entries({ ...base, trim })) roots(doc).config.set(k, v)
      expect(getConfig(doc)?.averaging).toBe('trimmed-mean')
      expect(getConfig(doc)?.trim).toBe(kept)
    }
  })

  it('replicas that diverged hold the identical document after exchanging state vectors', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 1, max: 20 })), { maxLength: 40 }),
      (ops) => {
        const left = createSessionDoc()
        const right = createSessionDoc()
        syncPair(left, right)
        for (const [onLeft, peer, v] of ops) {
          const doc = onLeft ? left : right
          if (v % 3 === 0) upsertMember(doc, member(peer, v))
          else if (v % 3 === 1) setHead(doc, head(peer, v))
          else appendMetric(doc, { peerId: peer, round: v, loss: 1 / v, accuracy: 0.5, bytesSent: v, bytesReceived: v, timestamp: v })
        }
        syncPair(left, right)
        expect(sameState(left, right)).toBe(true)
        expect(listHeads(left)).toEqual(listHeads(right))
        expect(listMetrics(left)).toEqual(listMetrics(right))
      }
    ), { numRuns: 60 })
  })

  it('rejects random bytes as an update with a typed error and leaves the document untouched', () => {
    const doc = createSessionDoc()
    upsertMember(doc, member('a'))
    const before = encodeState(doc)
    let tried = 0
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
      tried++
      try {
        applyRemoteUpdate(doc, bytes)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidStateUpdateError)
      }
      // a decodable-but-foreign update may add content; it must never remove ours
      expect(listMembers(doc).some(m => m.peerId === 'a')).toBe(true)
    }), { numRuns: 500 })
    expect(tried).toBe(500)
    expect(before.length).toBeGreaterThan(0)
  })

  it('rejects truncated real updates with a typed error', () => {
    const src = createSessionDoc()
    for (let i = 0; i < 10; i++) upsertMember(src, member(`p${i}`))
    const update = encodeState(src)
    for (let cut = 1; cut < update.length; cut += 3) {
      const doc = createSessionDoc()
      try {
        applyRemoteUpdate(doc, update.subarray(0, cut))
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidStateUpdateError)
        expect(listMembers(doc)).toEqual([])
      }
    }
  })

  it('rejects a malformed state vector with a typed error', () => {
    expect(() => { checkStateVector(new Uint8Array([0xff, 0xff, 0xff])) }).toThrow(InvalidStateUpdateError)
    checkStateVector(encodeStateVector(createSessionDoc()))
  })
})
