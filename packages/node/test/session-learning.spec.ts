import { describe, it, expect, beforeAll } from 'vitest'
import { mnistMlp } from '@murmur/protocol'
import type { Dataset } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '../src/data/index.js'
import { simulate } from '../src/sim/simulate.js'

let train: Dataset
let test: Dataset

beforeAll(async () => {
  await initNodeBackend()
  train = await loadMnist({ split: 'train', limit: 4000 })
  test = await loadMnist({ split: 'test', limit: 500 })
})

const model = mnistMlp({ localSteps: 10, batchSize: 32 })

describe('gossip learning over a real libp2p mesh (small)', () => {
  it('peers that never share data learn MNIST together, and variance correction keeps up with plain averaging', async () => {
    const run = async (rule: 'variance-corrected' | 'plain'): Promise<number[]> => {
      const { rounds } = await simulate({ peers: 4, topology: { kind: 'ring' }, rounds: 6, rule, partition: { kind: 'iid' }, train, test, model, fanOut: 1, seed: 3 })
      return rounds.map(r => r.meanAccuracy)
    }
    const vc = await run('variance-corrected')
    const plain = await run('plain')
    console.log(`mean accuracy per round: VC ${vc.map(a => (a * 100).toFixed(1)).join(' ')} | plain ${plain.map(a => (a * 100).toFixed(1)).join(' ')}`)
    const last = (xs: number[]): number => xs[xs.length - 1] ?? 0
    expect(last(vc)).toBeGreaterThan(0.6) // chance is 0.1
    expect(last(vc)).toBeGreaterThan(vc[0] ?? 1)
    expect(last(vc)).toBeGreaterThanOrEqual(last(plain) - 0.03)
  }, 240_000)

  it('keeps learning when half the data-holding peers drop out mid-training', async () => {
    const { rounds } = await simulate({
      peers: 6,
      topology: { kind: 'barabasi-albert', m: 2 },
      rounds: 6,
      rule: 'variance-corrected',
      partition: { kind: 'iid' },
      train,
      test,
      model,
      fanOut: 2,
      seed: 5,
      disruptions: [{ round: 3, kind: 'drop', peers: [3, 4, 5] }]
    })
    console.log(`with 3 of 6 peers dropped at round 3: ${rounds.map(r => `${r.live}:${(r.meanAccuracy * 100).toFixed(1)}`).join(' ')}`)
    expect(rounds[5]?.live).toBe(3)
    expect(rounds[5]?.meanAccuracy ?? 0).toBeGreaterThan(0.6)
  }, 240_000)
})
