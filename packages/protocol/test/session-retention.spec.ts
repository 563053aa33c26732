import { describe, it, expect } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { CID } from 'multiformats/cid'
import { Session } from '../src/session/session.js'
import { ROUNDS_KEPT, createSessionDoc, getHead, listHeads, listMetrics, sameState } from '../src/state/index.js'
import type { SessionConfig, SessionEncoding } from '../src/state/index.js'
import { Trainer } from '../src/train/index.js'
import { createMemoryNode, waitFor } from './helpers/mesh.js'
import { sessionFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'

// A long-running peer must not grow round after round: its store holds its own kept
// versions and nothing it fetched, no provider record is made per round, and a stopped
// session frees its model.

const fx = sessionFixture()

const NEVER = 600_000

/** Three peers, all connected, one session; every peer merges both others each round. */
async function triangle (encoding: SessionEncoding, keepVersions: number, pruneDepartedAfter = NEVER): Promise<Session[]> {
  fx.nodes = [await createMemoryNode(), await createMemoryNode(), await createMemoryNode()]
  const [a, b, c] = fx.nodes as [MeshNode, MeshNode, MeshNode]
  await Promise.all([b.dial(a.getMultiaddrs()), c.dial(a.getMultiaddrs()), c.dial(b.getMultiaddrs())])
  const config: SessionConfig = { model: tinyModel, averaging: 'plain', fanOut: 2, selfWeight: 0.5, encoding }
  fx.sessions = fx.nodes.map((node, i) => new Session({
    node,
    session: 'retention',
    doc: createSessionDoc(),
    config,
    pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => await Trainer.create(m, { seed: 40 + i }),
    train: tinyData(32, i * 50),
    test: tinyData(16, 999),
    seed: i,
    keepVersions,
    staleAfter: NEVER,
    pruneDepartedAfter,
    fetchTimeout: 20_000
  }))
  await Promise.all(fx.sessions.map(async s => { await s.join({ signal: AbortSignal.timeout(10_000) }) }))
  return fx.sessions
}

/** Every block a version's manifest names, the manifest included, as CID strings. */
async function versionBlocks (node: MeshNode, manifest: CID): Promise<string[]> {
  const { manifest: m } = await node.services.shards.fetchManifest(manifest)
  return [manifest.toString(), ...m.shards.map(bytes => CID.decode(bytes).toString())]
}

async function held (node: MeshNode): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const cid of node.services.shards.store.cids()) out.add(cid.toString())
  return out
}

/** Runs `rounds` rounds on every peer, the peers one after another so each sees the others' newest heads. */
async function rounds (all: Session[], n: number, merged: number[]): Promise<void> {
  for (let r = 0; r < n; r++) {
    for (const [i, s] of all.entries()) merged[i] = (merged[i] ?? 0) + (await s.step()).mergedWith.length
  }
}

describe('what a session keeps', () => {
  it('dense: each store holds its own newest kept versions only, however many rounds it merged', async () => {
    const keep = 2
    const all = await triangle('fp32', keep)
    const merged: number[] = []
    await rounds(all, 6, merged)
    for (const [i, node] of fx.nodes.entries()) {
      // most rounds merged both neighbours: their models were fetched
      expect(merged[i]).toBeGreaterThanOrEqual(6)
      const own = listHeads(all[i]!.doc).find(h => h.peerId === node.peerId.toString())
      expect(own?.version).toBe(6)
      const stored = await held(node)
      const blocksPerVersion = (await versionBlocks(node, CID.parse(own!.manifest))).length
      expect(stored.size).toBeLessThanOrEqual(keep * blocksPerVersion)
      // and what it holds is its own: the neighbours' heads are gone from its store
      for (const h of listHeads(all[i]!.doc)) {
        if (h.peerId === node.peerId.toString()) expect(stored.has(h.manifest)).toBe(true)
        else expect(stored.has(h.manifest)).toBe(false)
      }
    }
  }, 60_000)

  it('top-k: followers keep nothing of the chains they follow, and go on following them', async () => {
    const all = await triangle({ kind: 'topk', fraction: 0.25, values: 'fp16', keyframeEvery: 2 }, 1)
    const merged: number[] = []
    await rounds(all, 7, merged)
    for (const [i, node] of fx.nodes.entries()) {
      const stored = await held(node)
      const own = listHeads(all[i]!.doc).find(h => h.peerId === node.peerId.toString())
      const blocksPerVersion = (await versionBlocks(node, CID.parse(own!.manifest))).length
      // the publisher keeps 2 × keyframeEvery versions, each with the checkpoint beside it
      expect(stored.size).toBeLessThanOrEqual(2 * 2 * 2 * blocksPerVersion)
      for (const h of listHeads(all[i]!.doc)) {
        if (h.peerId !== node.peerId.toString()) expect(stored.has(h.manifest)).toBe(false)
      }
      expect(merged[i]).toBeGreaterThanOrEqual(6)
    }
  }, 60_000)

  it('makes no provider record for its versions unless asked to', async () => {
    const all = await triangle('fp32', 2)
    await rounds(all, 2, [])
    const own = fx.nodes.map(n => n.services.shards.stats)
    await Promise.all(fx.nodes.map(async n => { await n.services.shards.announced() }))
    // fetched blocks are the shard exchange's to announce; the session's own versions are not
    const announced = own.map(s => s.announced + s.announceFailures)
    const fetchedBlocks = own.map(s => s.fetched)
    for (const [i, n] of announced.entries()) expect(n).toBeLessThanOrEqual(fetchedBlocks[i]!)
  }, 60_000)

  it('the document keeps only the newest round of a member none of whose rounds arrived for pruneDepartedAfter', async () => {
    const all = await triangle('fp32', 2, 1500)
    await rounds(all, 3, [])
    const [a, b, c] = all as [Session, Session, Session]
    const gone = c.peerId
    await c.stop()
    expect(await waitFor(() => [a, b].every(s => listMetrics(s.doc, gone).length === 3), 10_000)).toBe(true)
    const last = getHead(c.doc, gone)
    expect(last?.version).toBe(3)
    // a round takes well under the 1.5 s: the live members see each other's logs move
    const until = Date.now() + 2500
    while (Date.now() < until) await rounds([a, b], 1, [])
    expect(await waitFor(() => sameState(a.doc, b.doc), 10_000)).toBe(true)
    for (const s of [a, b]) {
      expect(listMetrics(s.doc, gone).map(m => m.round)).toEqual([3])
      expect(getHead(s.doc, gone)).toEqual(last)
      // the live members' logs are whole (up to the window each keeps of its own)
      expect(listMetrics(s.doc, a.peerId)).toHaveLength(Math.min(a.rounds, ROUNDS_KEPT))
      expect(listMetrics(s.doc, b.peerId)).toHaveLength(Math.min(b.rounds, ROUNDS_KEPT))
    }
  }, 60_000)

  it('a stopped session frees its trainer, still reports its model, and a rerun goes on from it', async () => {
    const baseline = tf.memory().numTensors
    const all = await triangle('fp32', 2)
    await rounds(all, 2, [])
    expect(tf.memory().numTensors).toBeGreaterThan(baseline)
    const models = all.map(s => s.snapshot())
    await Promise.all(all.map(async s => { await s.stop() }))
    expect(tf.memory().numTensors).toBe(baseline)
    for (const [i, s] of all.entries()) expect(s.snapshot()).toEqual(models[i])
    // run again: a new trainer, holding the model the session stopped with
    const s = all[0]!
    await s.join({ signal: AbortSignal.timeout(10_000) })
    expect(s.snapshot()).toEqual(models[0])
  }, 60_000)
})
