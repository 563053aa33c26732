import { describe, it, expect, beforeAll } from 'vitest'
import { mnistMlp } from '@murmur/protocol'
import type { AveragingRule, Dataset } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '../src/data/index.js'
import { simulate } from '../src/sim/simulate.js'
import type { ByzantineAttack } from '../src/sim/simulate.js'

let train: Dataset
let test: Dataset

beforeAll(async () => {
  await initNodeBackend()
  train = await loadMnist({ split: 'train', limit: 3000 })
  test = await loadMnist({ split: 'test', limit: 300 })
})

const model = mnistMlp({ localSteps: 10, batchSize: 32 })

// 6 peers, all connected, 2 of them Byzantine; each peer merges its own model with 4 others,
// so a median of 5 outvotes the 2 attackers even when it picks both
async function finalAccuracy (attack: ByzantineAttack, rule: AveragingRule): Promise<{ accuracy: number, bans: number }> {
  const { rounds } = await simulate({
    peers: 6, topology: { kind: 'complete' }, rounds: 4, rule, partition: { kind: 'iid' }, train, test, model, fanOut: 4, seed: 11,
    byzantine: { peers: [4, 5], attack }
  })
  const last = rounds[rounds.length - 1]
  return { accuracy: last?.meanAccuracy ?? 0, bans: last?.bans ?? 0 }
}

describe('Byzantine peers in a real libp2p mesh', () => {
  it('under a sign-flip attack by 2 of 6 peers the coordinate median still learns', async () => {
    const median = await finalAccuracy('sign-flip', 'median')
    const plain = await finalAccuracy('sign-flip', 'plain')
    console.log(`sign-flip: honest peers' mean accuracy after 4 rounds: median ${(median.accuracy * 100).toFixed(1)} % (${median.bans} bans), plain ${(plain.accuracy * 100).toFixed(1)} % (${plain.bans} bans)`)
    expect(median.accuracy).toBeGreaterThan(0.6) // chance is 0.1
  }, 240_000)

  it('under a scale attack by 2 of 6 peers the coordinate median still learns', async () => {
    const median = await finalAccuracy('scale', 'median')
    const plain = await finalAccuracy('scale', 'plain')
    console.log(`scale: honest peers' mean accuracy after 4 rounds: median ${(median.accuracy * 100).toFixed(1)} % (${median.bans} bans), plain ${(plain.accuracy * 100).toFixed(1)} % (${plain.bans} bans)`)
    expect(median.accuracy).toBeGreaterThan(0.6)
  }, 240_000)

  it('peers that keep publishing NaN models are refused every time, then banned and disconnected', async () => {
    const { accuracy, bans } = await finalAccuracy('nan', 'plain')
    console.log(`nan: accuracy ${(accuracy * 100).toFixed(1)} %, bans ${bans}`)
    // validation refuses NaN under any rule; scoring turns repeated refusals into bans
    expect(accuracy).toBeGreaterThan(0.6)
    expect(bans).toBeGreaterThan(0)
  }, 240_000)
})
