/**
 * Heap one replica of a session document costs as a session runs: `agents` peers each write
 * their head and last-seen time every round and (unless `nometrics`) append a metrics entry,
 * as `Session.step` does. Ten replicas are built and the retained heap (after a forced GC)
 * is divided among them.
 *
 *   node dist/doc-growth.bench.js [rounds, default 50] [agents, default 30] [nometrics | uncapped]
 *
 * `uncapped` keeps every metrics entry (as before each peer kept only its latest 200).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { appendMetric, createSessionDoc, encodeState, setHead, touchMember, upsertMember } from '@murmur/protocol'
import type * as Y from 'yjs'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const rounds = Number(process.argv[2] ?? 50)
const agents = Number(process.argv[3] ?? 30)
const metrics = process.argv[4] !== 'nometrics'
const keep = process.argv[4] === 'uncapped' ? Number.POSITIVE_INFINITY : undefined
const REPLICAS = 10

gc()
const before = process.memoryUsage().heapUsed
const docs: Y.Doc[] = []
for (let d = 0; d < REPLICAS; d++) {
  const doc = createSessionDoc()
  for (let a = 0; a < agents; a++) upsertMember(doc, { peerId: `peer-${a}`, role: 'trainer', backend: 'wasm', samples: 100, joinedAt: 1, lastSeen: 1 })
  for (let r = 1; r <= rounds; r++) {
    for (let a = 0; a < agents; a++) {
      const now = Date.now()
      setHead(doc, { peerId: `peer-${a}`, manifest: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', version: r, samples: 100, encoding: 'fp32', timestamp: now })
      touchMember(doc, `peer-${a}`, now)
      if (metrics) appendMetric(doc, { peerId: `peer-${a}`, round: r, loss: 0.5, accuracy: 0.9, bytesSent: 1e6, bytesReceived: 1e6, timestamp: now }, { keep })
    }
  }
  docs.push(doc)
}
gc()
const perReplica = (process.memoryUsage().heapUsed - before) / REPLICAS
console.log(`${agents} agents x ${rounds} rounds${metrics ? (keep != null ? ' (metrics uncapped)' : '') : ' (no metrics log)'}: ${(perReplica / 2 ** 20).toFixed(2)} MiB of heap per replica, ${(encodeState(docs[0] as Y.Doc).length / 1024).toFixed(0)} KiB encoded`)
