import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import * as Y from 'yjs'
import { inspectUpdate, dropPending } from '../src/mesh/state/dependencies.js'
import { PendingUpdates } from '../src/mesh/state/pending.js'
import { WriteBudget } from '../src/mesh/state/write-budget.js'
import { UpdateIntake } from '../src/mesh/state/intake.js'
import { isPresence, encodePresence } from '../src/mesh/state/presence.js'

// The engines behind state sync's defence against poisoned updates, alone: the dependency
// check must agree with Yjs exactly (an update it passes leaves no pending structs, one it
// holds would have), and the pending buffer must keep to its caps.

type Op = { doc: number, kind: 'set' | 'del' | 'push' | 'insert' | 'cut' | 'sync', a: number, b: number }

/** Three replicas edit a map, arrays nested in it and a shared list, syncing now and then. */
function history (ops: Op[]): Uint8Array[] {
  const docs = [1, 2, 3].map(client => { const d = new Y.Doc(); d.clientID = client; return d })
  const updates: Uint8Array[] = []
  for (const d of docs) d.on('update', (u: Uint8Array, origin: unknown) => { if (origin !== 'sync') updates.push(u) })
  for (const op of ops) {
    const d = docs[op.doc] as Y.Doc
    const map = d.getMap<unknown>('members')
    const list = d.getArray<number>('list')
    const key = `k${op.a % 4}`
    switch (op.kind) {
      case 'set': map.set(key, { v: op.b }); break
      case 'del': map.delete(key); break
      case 'push': {
        let arr = map.get(`arr${op.a % 2}`)
        if (!(arr instanceof Y.Array)) { arr = new Y.Array<number>(); map.set(`arr${op.a % 2}`, arr) }
        ;(arr as Y.Array<number>).push([op.b])
        break
      }
      case 'insert': list.insert(op.a % (list.length + 1), [op.b, op.b + 1]); break
      case 'cut': if (list.length > 0) { const at = op.a % list.length; list.delete(at, Math.min(list.length - at, 1 + op.b % 3)) } break
      case 'sync': {
        const other = docs[op.b % 3] as Y.Doc
        Y.applyUpdate(other, Y.encodeStateAsUpdate(d, Y.encodeStateVector(other)), 'sync')
        break
      }
    }
  }
  return updates
}

/** Would Yjs keep pending structs after applying `update` to a copy of `doc`? */
function yjsHoldsBack (doc: Y.Doc, update: Uint8Array): boolean {
  const copy = new Y.Doc()
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
  Y.applyUpdate(copy, update)
  return copy.store.pendingStructs != null || copy.store.pendingDs != null
}

const op = fc.record({
  doc: fc.nat({ max: 2 }),
  kind: fc.constantFrom('set', 'del', 'push', 'insert', 'cut', 'sync'),
  a: fc.nat({ max: 50 }),
  b: fc.nat({ max: 50 })
}) as fc.Arbitrary<Op>

describe('inspectUpdate', () => {
  it('passes exactly the updates Yjs applies without holding anything back', () => {
    let held = 0
    let clean = 0
    fc.assert(fc.property(fc.array(op, { minLength: 5, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 60 }), fc.boolean(), (ops, picks, merge) => {
      const updates = history(ops)
      if (updates.length === 0) return
      const receiver = new Y.Doc()
      for (const p of picks) {
        // one update, or a merge of a few (merges carry Skip structs over their gaps)
        const u = merge && p % 3 === 0
          ? Y.mergeUpdates([updates[p % updates.length] as Uint8Array, updates[(p * 7 + 1) % updates.length] as Uint8Array])
          : updates[p % updates.length] as Uint8Array
        const shape = inspectUpdate(receiver, u)
        expect(shape.missing == null).toBe(!yjsHoldsBack(receiver, u))
        if (shape.missing == null) { Y.applyUpdate(receiver, u); clean++ } else held++
        expect(receiver.store.pendingStructs).toBeNull()
      }
    }), { numRuns: 300, seed: 13 })
    // both kinds were exercised
    expect(held).toBeGreaterThan(100)
    expect(clean).toBeGreaterThan(100)
  })

  it('refuses bytes that are not an update', () => {
    expect(() => inspectUpdate(new Y.Doc(), Uint8Array.of(1, 2, 3, 4, 5))).toThrow(/malformed/)
  })

  it('dropPending takes out what Yjs held back, so encodeStateAsUpdate no longer hands it on', () => {
    const author = new Y.Doc()
    author.getMap('m').set('a', 1)
    const sv = Y.encodeStateVector(author)
    author.getMap('m').set('b', 'x'.repeat(10_000))
    const orphan = Y.encodeStateAsUpdate(author, sv)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, orphan)
    expect(Y.encodeStateAsUpdate(doc).length).toBeGreaterThan(10_000)
    expect(dropPending(doc)).toBeGreaterThan(10_000)
    expect(Y.encodeStateAsUpdate(doc).length).toBeLessThan(10)
  })
})

describe('PendingUpdates', () => {
  const need = new Map([[1, 5]])
  const bytes = (n: number): Uint8Array => new Uint8Array(n)

  it('keeps each author under its caps, dropping its oldest first', () => {
    const p = new PendingUpdates({ perPeerBytes: 100, perPeerUpdates: 3, totalBytes: 1000, maxAgeMs: 1000 })
    expect(p.hold('a', bytes(40), need, 0).held).toBe(true)
    expect(p.hold('b', bytes(40), need, 1).held).toBe(true)
    expect(p.hold('a', bytes(40), need, 2).dropped).toHaveLength(0)
    const third = p.hold('a', bytes(40), need, 3)
    expect(third.dropped.map(e => [e.author, e.at])).toEqual([['a', 0]])
    expect(p.bytesOf('a')).toBe(80)
    expect(p.bytesOf('b')).toBe(40)
    // an update larger than one author may have held is not held at all
    expect(p.hold('a', bytes(101), need, 4)).toEqual({ held: false, dropped: [] })
    // count cap
    p.hold('a', bytes(1), need, 5)
    expect(p.hold('a', bytes(1), need, 6).dropped).toHaveLength(1)
    expect(p.heldFrom('a', p.nextSeq).length).toBeLessThanOrEqual(3)
  })

  it('keeps the total under its cap, dropping the oldest of anyone, and expires entries', () => {
    const p = new PendingUpdates({ perPeerBytes: 100, perPeerUpdates: 10, totalBytes: 250, maxAgeMs: 1000 })
    for (let i = 0; i < 10; i++) p.hold(`peer-${i}`, bytes(60), need, i)
    expect(p.bytes).toBeLessThanOrEqual(250)
    expect(p.size).toBe(4)
    expect(p.heldFrom('peer-9', p.nextSeq)).toHaveLength(1)
    expect(p.heldFrom('peer-0', p.nextSeq)).toHaveLength(0)
    expect(p.expire(1007).map(e => e.author)).toEqual(['peer-6'])
    expect(p.expire(5000)).toHaveLength(3)
    expect(p.bytes).toBe(0)
  })
})

describe('UpdateIntake', () => {
  function orphanPair (): { first: Uint8Array, second: Uint8Array } {
    const author = new Y.Doc()
    const updates: Uint8Array[] = []
    author.on('update', (u: Uint8Array) => updates.push(u))
    author.getMap('members').set('first', 1)
    author.getMap('members').set('second', 2)
    return { first: updates[0] as Uint8Array, second: updates[1] as Uint8Array }
  }

  it('holds an update until what it builds on arrives, then applies it', () => {
    const doc = new Y.Doc()
    const intake = new UpdateIntake(doc, { budget: new WriteBudget() })
    const { first, second } = orphanPair()
    const verdict = intake.judgeGossip('author', second)
    expect(verdict.kind).toBe('wait')
    expect(intake.pendingBytes).toBe(second.length)
    expect(doc.getMap('members').get('second')).toBeUndefined()
    expect(intake.judgeGossip('author', first).kind).toBe('apply')
    const unblocked = intake.applyGossip(first)
    expect(unblocked).toHaveLength(1)
    expect(doc.getMap('members').toJSON()).toEqual({ first: 1, second: 2 })
    expect(intake.pendingBytes).toBe(0)
  })

  it('refuses what is too large or over the author\'s budget, and settles what an author could not supply', () => {
    const doc = new Y.Doc()
    const intake = new UpdateIntake(doc, { budget: new WriteBudget({ bytesPerMinute: 1500, structsPerMinute: 100 }), maxGossipUpdate: 1000 })
    const big = new Y.Doc()
    big.getMap('m').set('x', 'y'.repeat(1500))
    expect(intake.judgeGossip('a', Y.encodeStateAsUpdate(big))).toEqual({ kind: 'refused', reason: 'oversized', reject: true })
    const mid = new Y.Doc()
    mid.getMap('m').set('x', 'y'.repeat(900))
    const u = Y.encodeStateAsUpdate(mid)
    expect(intake.judgeGossip('a', u, 0).kind).toBe('apply')
    expect(intake.judgeGossip('a', u, 0)).toEqual({ kind: 'refused', reason: 'over-budget', reject: false })
    // a minute later the bucket has refilled
    expect(intake.judgeGossip('a', u, 60_000).kind).toBe('apply')
    const { second } = orphanPair()
    const mark = intake.mark
    expect(intake.judgeGossip('b', second, 60_000).kind).toBe('wait')
    expect(intake.settle('b', mark)).toHaveLength(0) // held after the exchange began
    expect(intake.settle('b', intake.mark)).toHaveLength(1)
    expect(intake.pendingUpdates).toBe(0)
  })

  it('drops pending structs a document brought from before', () => {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, orphanPair().second)
    expect(doc.store.pendingStructs).not.toBeNull()
    const intake = new UpdateIntake(doc, { budget: new WriteBudget() })
    expect(doc.store.pendingStructs).toBeNull()
    expect(intake.pendingBytes).toBe(0)
  })
})

describe('presence beacons', () => {
  it('accept our own beacon and nothing but a plausible decimal clock', () => {
    const now = 1_767_225_600_000
    expect(isPresence(encodePresence(now), now)).toBe(true)
    const text = (s: string): Uint8Array => new TextEncoder().encode(s)
    for (const bad of ['', '0', '-1', ' 1767225600000', '1767225600000\n', '1.7e12', '01767225600000', 'abc', String(now + 11 * 60_000), String(now - 11 * 60_000), '9'.repeat(17)]) {
      expect(isPresence(text(bad), now), bad).toBe(false)
    }
  })
})
