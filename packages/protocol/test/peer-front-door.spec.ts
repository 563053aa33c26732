/**
 * The front door (`SessionPeer`) over real libp2p nodes on the memory transport: joining
 * never forks a session, a config a peer cannot use fails at once naming why, pacing keeps a
 * fast peer from running ahead alone, custom merge rules run, a shared (pretrained) initial
 * model reaches joiners, and the trained model comes out as a tfjs model.
 */
import { describe, expect, it } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { SessionPeer, SessionConfigConflictError, InvalidModelConfigError, RoundsFailingError, UnknownMergeRuleError, registerMergeRule } from '../src/index.js'
import type { ModelSnapshot } from '../src/index.js'
import { roots } from '../src/state/schema.js'
import { createMemoryNode } from './helpers/mesh.js'
import { peerFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'

const fx = peerFixture()

async function mesh (n: number): Promise<MeshNode[]> {
  const nodes = await Promise.all(Array.from({ length: n }, async () => createMemoryNode()))
  fx.nodes.push(...nodes)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) await nodes[i]!.dial(nodes[j]!.getMultiaddrs())
  return nodes
}

const quiet = { discover: false, scores: false as const }

function same (a: ModelSnapshot, b: ModelSnapshot): boolean {
  return a.tensors.every((t, i) => t.data.every((v, j) => v === b.tensors[i]!.data[j]))
}

describe('joining never forks a session', () => {
  it('a peer that brings a different model is refused with SessionConfigConflictError, and the session keeps its config', async () => {
    const [a, b] = await mesh(2)
    const creator = await SessionPeer.start({ ...quiet, node: a!, session: 's1', model: tinyModel, create: true, train: tinyData(64, 0), autoRun: false })
    fx.peers.push(creator)
    const other = { ...tinyModel, localSteps: 7 }
    await expect(SessionPeer.start({ ...quiet, node: b!, session: 's1', model: other, create: true, train: tinyData(64, 5), autoRun: false, joinTimeout: 10_000 }))
      .rejects.toSatisfy((err: Error) => err instanceof SessionConfigConflictError && /localSteps/.test(err.message))
    // the refused peer wrote nothing: the creator's document still holds its own model
    expect((roots(creator.doc).config.get('model') as { localSteps: number }).localSteps).toBe(tinyModel.localSteps)
  }, 30_000)

  it('a joiner that brings the same model waits for the members instead of writing its own config first', async () => {
    const [a, b] = await mesh(2)
    const creator = await SessionPeer.start({ ...quiet, node: a!, session: 's2', model: tinyModel, create: { fanOut: 1 }, train: tinyData(64, 0), autoRun: false })
    fx.peers.push(creator)
    const joiner = await SessionPeer.start({ ...quiet, node: b!, session: 's2', model: tinyModel, create: { fanOut: 3 }, train: tinyData(64, 5), autoRun: false })
    fx.peers.push(joiner)
    // one config: the creator's settings, not the joiner's
    expect(roots(joiner.doc).config.get('fanOut')).toBe(1)
    expect(roots(creator.doc).config.get('fanOut')).toBe(1)
  }, 30_000)

  it('a session config this peer cannot build fails the join at once, naming the field, not after the join timeout', async () => {
    const [a, b] = await mesh(2)
    const creator = await SessionPeer.start({ ...quiet, node: a!, session: 's3', model: tinyModel, create: true, train: tinyData(64, 0), autoRun: false })
    fx.peers.push(creator)
    creator.doc.transact(() => { roots(creator.doc).config.set('model', { ...tinyModel, optimizer: { name: 'nesterov-warp', learningRate: 0.1 } }) })
    const started = Date.now()
    await expect(SessionPeer.start({ ...quiet, node: b!, session: 's3', train: tinyData(64, 5), autoRun: false, joinTimeout: 20_000 }))
      .rejects.toSatisfy((err: Error) => err instanceof InvalidModelConfigError && /optimizer\.name/.test(err.message))
    expect(Date.now() - started).toBeLessThan(10_000)
  }, 30_000)

  it('a rule this peer has not registered fails the join with UnknownMergeRuleError', async () => {
    const [a] = await mesh(1)
    await expect(SessionPeer.start({ ...quiet, node: a!, session: 's4', model: tinyModel, create: { averaging: 'not-registered-anywhere' }, train: tinyData(64, 0), autoRun: false, createAfter: 0 }))
      .rejects.toSatisfy((err: Error) => err instanceof UnknownMergeRuleError && /registerMergeRule\("not-registered-anywhere"/.test(err.message))
  }, 30_000)
})

describe('custom merge rules', () => {
  it('a registered rule is what every peer merges with', async () => {
    const calls: number[] = []
    // keeps the peer's own model: after a merge the weights are exactly the trained ones
    registerMergeRule('test-keep-own', (models, context) => {
      calls.push(models.length)
      expect(context.weights.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6)
      return models[0]!
    })
    const [a, b] = await mesh(2)
    const p1 = await SessionPeer.start({ ...quiet, node: a!, session: 'r1', model: tinyModel, create: { averaging: 'test-keep-own' }, train: tinyData(64, 0), autoRun: false, pace: { minPeers: 0, waitForNeighbours: 2000 } })
    const p2 = await SessionPeer.start({ ...quiet, node: b!, session: 'r1', train: tinyData(64, 5), autoRun: false, pace: { minPeers: 0, waitForNeighbours: 2000 } })
    fx.peers.push(p1, p2)
    await Promise.all([p1.step(), p2.step()])
    const [m1] = await Promise.all([p1.step(), p2.step()])
    expect(m1.mergedWith).toEqual([p2.peerId])
    expect(calls.length).toBeGreaterThan(0)
    expect(calls.every(n => n === 2)).toBe(true)
  }, 30_000)
})

describe('pacing', () => {
  async function race (pace: { minPeers: number, waitForNeighbours: number }): Promise<{ fastRounds: number, slowRounds: number, merged: number }> {
    const [a, b] = await mesh(2)
    const fast = await SessionPeer.start({ ...quiet, node: a!, session: `pace-${pace.waitForNeighbours}`, model: tinyModel, create: true, train: tinyData(64, 0), maxRounds: 30, pace })
    // the slow peer is slow by its own pace: 400 ms a round
    const slow = await SessionPeer.start({ ...quiet, node: b!, session: `pace-${pace.waitForNeighbours}`, train: tinyData(64, 5), maxRounds: 30, pace: { ...pace, roundPeriod: 400 } })
    fx.peers.push(fast, slow)
    let merged = 0
    fast.addEventListener('round', evt => { if (evt.detail.mergedWith.length > 0) merged++ })
    await fast.done
    const out = { fastRounds: fast.rounds, slowRounds: slow.rounds, merged }
    await slow.leave()
    return out
  }

  it('a fast peer waits (bounded) for its neighbour\'s newer model instead of running all its rounds alone', async () => {
    const paced = await race({ minPeers: 1, waitForNeighbours: 3000 })
    // it kept in step: when it finished, the slow peer was close behind, and nearly every round merged
    expect(paced.slowRounds).toBeGreaterThanOrEqual(paced.fastRounds - 3)
    expect(paced.merged).toBeGreaterThanOrEqual(25)
    const unpaced = await race({ minPeers: 0, waitForNeighbours: 0 })
    // without pacing the fast peer is done while the slow one has barely started
    expect(unpaced.slowRounds).toBeLessThan(paced.slowRounds)
  }, 60_000)
})

describe('a round that keeps failing', () => {
  it('stops the loop after a few failed rounds with RoundsFailingError, so done resolves', async () => {
    const [a] = await mesh(1)
    const peer = await SessionPeer.start({
      ...quiet,
      node: a!,
      session: 'failing',
      model: tinyModel,
      create: true,
      createAfter: 0,
      train: tinyData(32, 0),
      pace: { minPeers: 0 },
      // a trainer that cannot train here, as a backend without a kernel the model needs
      wrapTrainer: trainer => ({ ...trainer, getSnapshot: () => trainer.getSnapshot(), setSnapshot: s => { trainer.setSnapshot(s) }, evaluate: async d => await trainer.evaluate(d), trainSteps: async () => { throw new Error('no kernel for this op') } })
    })
    fx.peers.push(peer)
    const errors: Error[] = []
    peer.addEventListener('error', evt => { errors.push(evt.detail) })
    await peer.done
    expect(errors.at(-1)).toBeInstanceOf(RoundsFailingError)
    expect(errors.at(-1)?.message).toMatch(/no kernel for this op/)
    expect(peer.rounds).toBe(0)
  }, 30_000)
})

describe('a model in, a model out', () => {
  it('a creator\'s model object (pretrained weights) is where every joiner starts, and the trained model comes out as a tf.LayersModel', async () => {
    const [a, b] = await mesh(2)
    const pretrained = tf.sequential({
      name: 'tiny',
      layers: [
        tf.layers.dense({ name: 'd1', units: 4, activation: 'relu', inputShape: [8] }),
        tf.layers.dense({ name: 'd2', units: 2, activation: 'softmax' })
      ]
    })
    // recognisable weights, as if loaded from a pretrained checkpoint
    pretrained.setWeights(pretrained.getWeights().map((w, i) => tf.fill(w.shape, 0.01 * (i + 1))))
    const creator = await SessionPeer.start({ ...quiet, node: a!, session: 'm1', model: pretrained, training: { loss: 'categoricalCrossentropy', optimizer: { name: 'sgd', learningRate: 0.1 }, batchSize: 8, localSteps: 1 }, create: true, train: tinyData(64, 0), autoRun: false })
    const joiner = await SessionPeer.start({ ...quiet, node: b!, session: 'm1', train: tinyData(64, 5), autoRun: false })
    fx.peers.push(creator, joiner)
    expect(same(joiner.snapshot(), creator.snapshot())).toBe(true)
    expect(joiner.snapshot().tensors[0]!.data[0]).toBeCloseTo(0.01, 6)

    await Promise.all([creator.step(), joiner.step()])
    const model = await joiner.model()
    const x = tf.tensor2d(tinyData(4, 9).xs, [4, 8])
    const y = model.predict(x) as tf.Tensor
    expect(y.shape).toEqual([4, 2])
    let saved: tf.io.ModelArtifacts | undefined
    await joiner.save(tf.io.withSaveHandler(async artifacts => { saved = artifacts; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } } }))
    expect(saved?.weightData).toBeDefined()
    await joiner.leave()
    // after leaving, the model it left with still comes out
    const after = await joiner.model()
    const y2 = after.predict(x) as tf.Tensor
    expect(Array.from(await y2.data())).toEqual(Array.from(await y.data()))
    tf.dispose([x, y, y2]); model.dispose(); after.dispose(); pretrained.dispose()
  }, 30_000)
})
