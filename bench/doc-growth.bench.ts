/**
 * Heap one replica of a session document costs as a session runs. `agents` members, each
 * with its own document (its own Yjs client, as on the wire), run `rounds` rounds; five
 * replicas apply every update as gossip would deliver it, and the retained heap (after a
 * forced GC) is divided among them.
 *
 *   node dist/doc-growth.bench.js [rounds, default 200] [agents, default 30] [legacy]
 *
 * By default each member writes what `Session.step` writes: one `recordRound` per round.
 * `legacy` writes what it wrote before, as the baseline: the head and the member entry
 * overwritten, and a metrics entry appended to a log shared by all members, the member's
 * oldest beyond 200 deleted (three writes per round, interleaved in the shared log).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type * as Y from 'yjs'
import { applyRemoteUpdate, createSessionDoc, encodeState, recordRound, ROUNDS_KEPT, upsertMember } from '@murmur/protocol'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const rounds = Number(process.argv[2] ?? 200)
const agents = Number(process.argv[3] ?? 30)
const legacy = process.argv[4] === 'legacy'
const REPLICAS = 5
const MANIFEST = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

/** The pre-`recordRound` layout, kept here only as the baseline. */
function legacyRound (doc: Y.Doc, peerId: string, r: number, now: number): void {
  doc.getMap('heads').set(peerId, { peerId, manifest: MANIFEST, version: r, samples: 100, encoding: 'fp32', timestamp: now })
  doc.getMap('members').set(peerId, { peerId, role: 'trainer', backend: 'wasm', samples: 100, joinedAt: 1, lastSeen: now })
  doc.transact(() => {
    const log = doc.getArray<{ peerId: string }>('metrics')
    log.push([{ peerId, round: r, loss: 0.5, accuracy: 0.9, bytesSent: 1e6, bytesReceived: 1e6, timestamp: now } as unknown as { peerId: string }])
    const mine: number[] = []
    log.forEach((v, i) => { if (v.peerId === peerId) mine.push(i) })
    for (let k = mine.length - ROUNDS_KEPT - 1; k >= 0; k--) log.delete(mine[k] as number, 1)
  })
}

gc()
const before = process.memoryUsage().heapUsed
const replicas = Array.from({ length: REPLICAS }, () => createSessionDoc())
const members = Array.from({ length: agents }, () => createSessionDoc())
for (const m of members) m.on('update', (u: Uint8Array) => { for (const r of replicas) applyRemoteUpdate(r, u) })
members.forEach((m, a) => { upsertMember(m, { peerId: `peer-${a}`, role: 'trainer', backend: 'wasm', samples: 100, joinedAt: 1, lastSeen: 1 }) })
for (let r = 1; r <= rounds; r++) {
  members.forEach((m, a) => {
    const peerId = `peer-${a}`
    const now = Date.now()
    if (legacy) legacyRound(m, peerId, r, now)
    else {
      recordRound(m, {
        head: { peerId, manifest: MANIFEST, version: r, samples: 100, encoding: 'fp32', timestamp: now },
        metrics: { peerId, round: r, loss: 0.5, accuracy: 0.9, bytesSent: 1e6, bytesReceived: 1e6, timestamp: now }
      })
    }
  })
}
for (const m of members) m.destroy()
members.length = 0
gc()
const perReplica = (process.memoryUsage().heapUsed - before) / REPLICAS
let structs = 0
for (const list of (replicas[0] as Y.Doc).store.clients.values()) structs += list.length
console.log(`${agents} agents x ${rounds} rounds${legacy ? ' (legacy layout)' : ''}: ${(perReplica / 2 ** 20).toFixed(2)} MiB of heap per replica, ${structs} Yjs structs, ${(encodeState(replicas[0] as Y.Doc).length / 1024).toFixed(0)} KiB encoded`)
