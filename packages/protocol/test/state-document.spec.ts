import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import {
  createSessionDoc, setConfig, getConfig, upsertMember, listMembers, getMember, recordRound, getHead, listHeads,
  listMetrics, encodeState, encodeStateVector, applyRemoteUpdate, sameState, roots, markMemberLeft,
  InvalidStateUpdateError, checkStateVector, ROUNDS_KEPT, roundLogs, trimRounds
} from '../src/state/index.js'
import type { Member, ModelHead, RoundRecord } from '../src/state/index.js'

const member = (peerId: string, t = 1): Member => ({ peerId, role: 'trainer', backend: 'wasm', samples: 100, joinedAt: t, lastSeen: t })
const head = (peerId: string, version: number): ModelHead => ({ peerId, manifest: `bafk${peerId}${version}`, version, samples: 10, encoding: 'fp32', timestamp: version })
/** Round `version` of `peerId`: its head of that version and its metrics, written at `t`. */
const round = (peerId: string, version: number, t = version): RoundRecord => ({
  head: head(peerId, version),
  metrics: { peerId, round: version, loss: 1 / version, metrics: { accuracy: 0.5 }, accuracy: 0.5, bytesSent: version, bytesReceived: version, timestamp: t }
})

/** Yjs structs a replica holds (live and deleted items and GC runs): what its heap grows with. */
function structs (doc: Y.Doc): number {
  let n = 0
  for (const list of doc.store.clients.values()) n += list.length
  return n
}

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
    markMemberLeft(doc, 'b', 60)
    expect(listMembers(doc)[1]?.leftAt).toBe(60)
    recordRound(doc, round('a', 1, 50))
    expect(listMetrics(doc, 'a')).toEqual([round('a', 1, 50).metrics])
    expect(listMetrics(doc, 'b')).toHaveLength(0)
    expect(getHead(doc, 'a')).toEqual(head('a', 1))
    // a round is the member's newest sign of life: the member entry itself is not rewritten
    expect(getMember(doc, 'a')?.lastSeen).toBe(50)
    expect(roots(doc).members.get('a')).toEqual(member('a'))
  })

  it('records whichever metrics the session measures, by name, and drops what is not a finite, well-named number', () => {
    const doc = createSessionDoc()
    const base = round('r', 1, 10)
    recordRound(doc, { ...base, metrics: { ...base.metrics, accuracy: undefined, metrics: { mae: 0.25, rmse: 0.5, perplexity: Number.POSITIVE_INFINITY, 'not a name': 1 } } })
    const [entry] = listMetrics(doc, 'r')
    expect(entry?.metrics).toEqual({ mae: 0.25, rmse: 0.5 })
    expect(entry?.accuracy).toBeUndefined()
    // a record of the first layout (accuracy alone) still reads, as the accuracy metric
    recordRound(doc, round('old', 1, 10))
    expect(listMetrics(doc, 'old')[0]?.metrics?.accuracy).toBe(0.5)
  })

  it('moves heads only forward, so a replayed or reordered version cannot roll a peer back', () => {
    const doc = createSessionDoc()
    recordRound(doc, round('a', 2))
    recordRound(doc, round('a', 1))
    expect(getHead(doc, 'a')?.version).toBe(2)
    // the older round is still recorded: its metrics count, its head does not
    expect(listMetrics(doc, 'a').map(m => m.round)).toEqual([2, 1])
    expect(() => { recordRound(doc, { head: head('a', 3), metrics: round('b', 3).metrics }) }).toThrow(/one member's/)
    expect(getHead(doc, 'a')?.version).toBe(2)
    recordRound(doc, round('b', 5))
    expect(listHeads(doc).map(h => h.peerId)).toEqual(['b', 'a'])
    // a lower version written into the log by someone else does not become the head
    ;(roots(doc).rounds.get('b') as Y.Array<unknown>).push([{ ...round('b', 1).metrics, head: { ...head('b', 1), peerId: undefined } }])
    expect(getHead(doc, 'b')?.version).toBe(5)
    // nor does one too high to go on from (a restarted peer continues after its head)
    ;(roots(doc).rounds.get('b') as Y.Array<unknown>).push([{ ...round('b', 1).metrics, head: { ...head('b', Number.MAX_SAFE_INTEGER), peerId: undefined } }])
    expect(getHead(doc, 'b')?.version).toBe(5)
  })

  it('skips malformed values written by another peer instead of trusting or throwing', () => {
    const doc = createSessionDoc()
    const r = roots(doc)
    r.members.set('x', 'not an object')
    r.members.set('y', { peerId: 'y', role: 'king', samples: 1, joinedAt: 1, lastSeen: 1 })
    r.members.set('z', { ...member('other') })
    r.rounds.set('h', 'not a log')
    r.rounds.set('m', new Y.Map())
    const log = new Y.Array<unknown>()
    r.rounds.set('n', log)
    log.push([null, 7, { round: 1, loss: 1, accuracy: 0.5, timestamp: 1 }, { round: 1, loss: 1, accuracy: 0.5, timestamp: 1, head: { manifest: 'c', version: Number.NaN, samples: 1, encoding: 'fp32', timestamp: 1 } }])
    // a well-formed head whose metrics are not (a peer without data reports no loss): the head counts
    log.push([{ round: 2, loss: null, accuracy: 7, timestamp: 2, head: { manifest: 'c', version: 2, samples: 0, encoding: 'fp32', timestamp: 2 } }])
    upsertMember(doc, member('ok'))
    expect(listMembers(doc).map(m => m.peerId)).toEqual(['ok'])
    expect(listHeads(doc)).toEqual([{ peerId: 'n', manifest: 'c', version: 2, samples: 0, encoding: 'fp32', timestamp: 2 }])
    expect(listMetrics(doc)).toEqual([])
  })

  it('keeps each peer\'s latest rounds only, and replicas that trimmed apart still converge', () => {
    const a = createSessionDoc()
    const b = createSessionDoc()
    for (let v = 1; v <= 10; v++) {
      recordRound(a, round('pa', v), { keep: 3 })
      recordRound(b, round('pb', v), { keep: 4 })
      // exchange every other round, so each replica trims entries the other has and has not seen
      if (v % 2 === 0) {
        applyRemoteUpdate(a, encodeState(b, encodeStateVector(a)))
        applyRemoteUpdate(b, encodeState(a, encodeStateVector(b)))
      }
    }
    expect(sameState(a, b)).toBe(true)
    expect(listMetrics(a, 'pa').map(m => m.round)).toEqual([8, 9, 10])
    expect(listMetrics(a, 'pb').map(m => m.round)).toEqual([7, 8, 9, 10])
    expect(listMetrics(a).map(m => m.peerId)).toEqual(['pa', 'pa', 'pa', 'pb', 'pb', 'pb', 'pb'])
    const c = createSessionDoc()
    for (let v = 1; v <= ROUNDS_KEPT + 5; v++) recordRound(c, round('pc', v))
    expect(listMetrics(c)).toHaveLength(ROUNDS_KEPT)
    expect(listMetrics(c)[0]?.round).toBe(6)
  })

  it('stays the same size however many rounds its members trim: a replica\'s structs do not grow with rounds', () => {
    // every replica applies every member's round as it arrives, as gossip delivers it
    const sizeAfter = (rounds: number): { structs: number, bytes: number } => {
      const members = Array.from({ length: 5 }, () => createSessionDoc())
      const replica = createSessionDoc()
      members.forEach((m, i) => {
        m.on('update', (u: Uint8Array) => { applyRemoteUpdate(replica, u) })
        upsertMember(m, member(`p${i}`))
      })
      for (let v = 1; v <= rounds; v++) members.forEach((m, i) => { recordRound(m, round(`p${i}`, v), { keep: 20 }) })
      return { structs: structs(replica), bytes: encodeState(replica).length }
    }
    const short = sizeAfter(40)
    const long = sizeAfter(400)
    // per member: its member entry, its log, the deleted run and the live run behind it
    expect(long.structs).toBe(short.structs)
    expect(long.structs).toBe(5 * 4)
    // the encoding differs only in the clock numbers' varint lengths
    expect(long.bytes).toBeLessThan(short.bytes * 1.1)
  })

  it('trims a departed member\'s log to its newest round from any replica: concurrent trims converge and leave one deleted run', () => {
    const gone = createSessionDoc()
    const a = createSessionDoc()
    const b = createSessionDoc()
    gone.on('update', (u: Uint8Array) => { applyRemoteUpdate(a, u); applyRemoteUpdate(b, u) })
    for (let v = 1; v <= 50; v++) recordRound(gone, round('gone', v))
    const before = structs(a)
    trimRounds(a, 'gone')
    trimRounds(b, 'gone')
    syncPair(a, b)
    expect(sameState(a, b)).toBe(true)
    expect(listMetrics(a, 'gone').map(m => m.round)).toEqual([50])
    expect(getHead(a, 'gone')).toEqual(head('gone', 50))
    expect(roundLogs(a)).toEqual([{ peerId: 'gone', entries: 1, newest: 50 }])
    // its 49 trimmed entries are one struct: the live run split in two
    expect(structs(a)).toBe(before + 1)
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
          if (v % 2 === 0) upsertMember(doc, member(peer, v))
          else recordRound(doc, round(peer, (getHead(doc, peer)?.version ?? 0) + v))
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
