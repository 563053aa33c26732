import { describe, expect, it } from 'vitest'
import { compareCharLm, generate, mean } from '../src/index.js'

// Measured on 2 shared cores (10 rounds x 10 steps, four runs): merged peers' mean perplexity
// 9.45-9.48, each peer alone 11.44 (it memorises its one page), all pages in one model 9.12; a
// model that knows nothing scores VOCAB_SIZE = 39. With merges that keep the peer's own model
// (a custom rule) the "merged" peers scored 12.02: the margin fails a session that does not merge.
const MARGIN = 0.8

describe('char-lm example: Moby-Dick across three peers', () => {
  it('peers that train together model held-out chapters better than each alone', async () => {
    const r = await compareCharLm()
    try {
      const merged = mean(r.merged)
      const alone = mean(r.alone)
      console.log(`char-lm perplexity: merged peers ${merged.toFixed(2)} | lone peer ${alone.toFixed(2)} | all data ${r.allData.toFixed(2)} (${r.rounds} rounds x ${r.localSteps} steps; ${JSON.stringify(r.ms)} ms)`)
      expect(merged).toBeLessThan(alone - MARGIN)
      // the model a peer hands out is the one the session measured in its last round
      for (const [i, reported] of r.reported.entries()) expect(reported).toBeCloseTo(r.merged[i] ?? NaN, 2)
      const sample = generate(r.model, 'call me ishmael. ', 80)
      console.log(`sample: ${sample}`)
      expect(sample.startsWith('call me ishmael. ')).toBe(true)
      expect(sample.length).toBe('call me ishmael. '.length + 80)
    } finally {
      r.model.dispose()
    }
  }, 150_000)
})
