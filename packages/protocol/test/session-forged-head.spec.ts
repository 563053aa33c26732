import { describe, it, expect } from 'vitest'
import * as Y from 'yjs'
import { Session } from '../src/session/session.js'
import { createSessionDoc, getHead, listMetrics, roots } from '../src/state/index.js'
import type { SessionConfig } from '../src/state/index.js'
import { Trainer } from '../src/train/index.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'
import { createMemoryNode, waitFor } from './helpers/mesh.js'
import { sessionFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'

const fx = sessionFixture()
const SESSION = 'forged-head'
// a well-formed CID no peer holds
const NOWHERE = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

describe('a head forged into another member\'s round log', () => {
  it('neither stops that member recording its rounds nor turns its neighbours away from its signed heads', async () => {
    fx.nodes = await Promise.all(Array.from({ length: 2 }, async () => createMemoryNode()))
    const [a, b] = fx.nodes as [MeshNode, MeshNode]
    await b.dial(a.getMultiaddrs())
    const config: SessionConfig = { model: tinyModel, averaging: 'plain', fanOut: 1, selfWeight: 0.5, encoding: 'fp32' }
    const docs = fx.nodes.map(() => createSessionDoc())
    fx.sessions = fx.nodes.map((node, i) => new Session({
      node,
      session: SESSION,
      doc: docs[i],
      config: i === 0 ? config : undefined,
      pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => await Trainer.create(m, { seed: 20 + i }),
      train: tinyData(32, i * 100),
      test: tinyData(16, 999),
      seed: i,
      fetchTimeout: 5000,
      staleAfter: 600_000
    }))
    const [sa, sb] = fx.sessions as [Session, Session]
    await Promise.all(fx.sessions.map(async s => { await s.join({ signal: AbortSignal.timeout(20_000) }) }))
    const round = async (): Promise<Array<Awaited<ReturnType<Session['step']>>>> => await Promise.all(fx.sessions.map(async s => await s.step()))
    await round()
    await waitFor(() => fx.nodes.every(n => n.services.heads.heads(SESSION).size === 1), 10_000)
    expect(await waitFor(() => roots(docs[1] as Y.Doc).rounds.get(sa.peerId) instanceof Y.Array, 10_000)).toBe(true)

    // another member writes an entry with a far higher version into a's log, naming a model nobody holds
    const forged = { round: 1, loss: 1, accuracy: 0.1, bytesSent: 0, bytesReceived: 0, timestamp: Date.now(), head: { manifest: NOWHERE, version: 1e12, samples: 1, encoding: 'fp32', timestamp: Date.now() } }
    ;(roots(docs[1] as Y.Doc).rounds.get(sa.peerId) as Y.Array<unknown>).push([forged])
    expect(await waitFor(() => getHead(docs[0] as Y.Doc, sa.peerId)?.version === 1e12, 10_000)).toBe(true)

    const recorded = listMetrics(docs[0] as Y.Doc, sa.peerId).length
    const [ma, mb] = await round()
    // a's round still lands in the document (its record is not refused as stale) ...
    expect(listMetrics(docs[0] as Y.Doc, sa.peerId).length).toBe(recorded + 1)
    expect(ma?.round).toBe(2)
    // ... and b merges a's model from a's signed announcement, not the forged document head
    expect(mb?.mergedWith).toEqual([sa.peerId])
    expect(sb.rounds).toBe(2)
  }, 55_000)
})
