import { describe, it, expect } from 'vitest'
import { CID } from 'multiformats/cid'
import { FetchFailedError } from '../src/mesh/index.js'
import { headsTopic } from '../src/wire/index.js'
import { Session } from '../src/session/session.js'
import { createSessionDoc, getHead } from '../src/state/index.js'
import type { SessionConfig } from '../src/state/index.js'
import { Trainer } from '../src/train/index.js'
import { createMemoryNode, waitFor } from './helpers/mesh.js'
import { sessionFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'

const fx = sessionFixture()

/** Far beyond each test's own limit: a fetch that waited for it would fail the test. */
const NEVER = 600_000
const config: SessionConfig = { model: tinyModel, averaging: 'plain', fanOut: 1, selfWeight: 0.5, encoding: 'fp32' }

/**
 * Two peers; the second uploads at 16 bytes/s, so any fetch from it is still running
 * seconds later (its first answer waits on the throttle) when the test stops it.
 */
async function pairWithSlowServer (): Promise<{ a: MeshNode, b: MeshNode, sa: Session, sb: Session }> {
  const a = await createMemoryNode()
  const b = await createMemoryNode({ shards: { uploadBytesPerSecond: 16 } })
  fx.nodes = [a, b]
  await b.dial(a.getMultiaddrs())
  const make = (node: MeshNode, i: number): Session => new Session({
    node,
    session: 'gone',
    doc: createSessionDoc(),
    config,
    pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => await Trainer.create(m, { seed: 20 + i }),
    train: tinyData(32, i * 50),
    test: tinyData(16, 999),
    seed: i,
    staleAfter: NEVER,
    fetchTimeout: NEVER
  })
  fx.sessions = [make(a, 0), make(b, 1)]
  const [sa, sb] = fx.sessions as [Session, Session]
  await Promise.all(fx.sessions.map(async s => { await s.join({ signal: AbortSignal.timeout(10_000) }) }))
  return { a, b, sa, sb }
}

/** Stop `b` once it has begun answering a fetch (the answer is held up by its upload throttle). */
async function stopWhenServing (b: MeshNode): Promise<void> {
  expect(await waitFor(() => b.services.shards.stats.served > 0, 15_000, 20)).toBe(true)
  await b.stop()
}

describe('a provider that stops mid-fetch', () => {
  it('fails the fetch with FetchFailedError as soon as no provider is left, not at the stall timeout', async () => {
    const { a, b, sb } = await pairWithSlowServer()
    await sb.step()
    const head = getHead(sb.doc, b.peerId.toString())
    expect(head).toBeDefined()
    const fetching = a.services.shards.fetchModel(CID.parse(head?.manifest ?? ''), { providers: [b.peerId], stallTimeout: NEVER, signal: AbortSignal.timeout(NEVER) })
    const outcome = fetching.then(() => undefined, (err: Error) => err)
    await stopWhenServing(b)
    const err = await outcome
    expect(err).toBeInstanceOf(FetchFailedError)
    expect(err?.message).toMatch(/no provider left/)
  }, 30_000)

  it('lets the round go on without that neighbour\'s model', async () => {
    const { a, b, sa, sb } = await pairWithSlowServer()
    // the head is gossiped once: publish it only when the gossip mesh holds both peers
    expect(await waitFor(() => b.services.pubsub.getSubscribers(headsTopic('gone')).length > 0, 10_000)).toBe(true)
    await sb.step()
    expect(await waitFor(() => a.services.heads.heads('gone').has(b.peerId.toString()), 10_000)).toBe(true)
    const round = sa.step()
    await stopWhenServing(b)
    const metrics = await round
    expect(metrics.round).toBe(1)
    expect(metrics.mergedWith).toEqual([])
  }, 30_000)
})
