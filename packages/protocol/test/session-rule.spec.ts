import { describe, it, expect } from 'vitest'
import { Session } from '../src/session/session.js'
import { createSessionDoc, getConfig, setConfig } from '../src/state/index.js'
import type { AveragingRule, SessionConfig } from '../src/state/index.js'
import { Trainer } from '../src/train/index.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'
import { createMemoryNode, waitFor } from './helpers/mesh.js'
import { sessionFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'

const fx = sessionFixture()

describe('the averaging rule is read from the shared document every round', () => {
  it('a rule switched in one peer\'s document is the rule every peer merges with next, unless a peer overrides it', async () => {
    fx.nodes = await Promise.all(Array.from({ length: 3 }, async () => createMemoryNode()))
    const [a, b, c] = fx.nodes as [MeshNode, MeshNode, MeshNode]
    await Promise.all([b.dial(a.getMultiaddrs()), c.dial(a.getMultiaddrs()), c.dial(b.getMultiaddrs())])
    const config: SessionConfig = { model: tinyModel, averaging: 'plain', fanOut: 2, selfWeight: 0.5, encoding: 'fp32' }
    const docs = fx.nodes.map(() => createSessionDoc())
    fx.sessions = fx.nodes.map((node, i) => new Session({
      node,
      session: 'rule-switch',
      doc: docs[i],
      config: i === 0 ? config : undefined,
      // the third peer insists on its own rule whatever the document says
      ...(i === 2 ? { rule: 'trimmed-mean' as const } : {}),
      pace: { minPeers: 0, waitForNeighbours: 0 },
    trainer: async m => await Trainer.create(m, { seed: 10 + i }),
      train: tinyData(32, i * 100),
      test: tinyData(16, 999),
      seed: i,
      staleAfter: 600_000
    }))
    const rules: AveragingRule[][] = fx.sessions.map(() => [])
    const trims: number[] = []
    fx.sessions.forEach((s, i) => {
      s.addEventListener('merged', evt => {
        rules[i]?.push(evt.detail.rule)
        if (i === 2) trims.push(evt.detail.trim)
      })
    })
    await Promise.all(fx.sessions.map(async s => { await s.join({ signal: AbortSignal.timeout(20_000) }) }))

    // a round publishes each head; the next merges the others' (gossip needs a moment to form)
    const round = async (): Promise<void> => { await Promise.all(fx.sessions.map(async s => { await s.step() })) }
    await round()
    await waitFor(() => fx.nodes.every(n => n.services.heads.heads('rule-switch').size === 2), 10_000)
    await round()
    expect(rules.map(r => r.at(-1))).toEqual(['plain', 'plain', 'trimmed-mean'])

    setConfig(docs[0] as ReturnType<typeof createSessionDoc>, { ...config, averaging: 'median' })
    expect(await waitFor(() => docs.every(d => getConfig(d)?.averaging === 'median'), 10_000)).toBe(true)
    const before = rules.map(r => r.length)
    await round()
    // every peer merged this round, and with the rule the document now holds
    expect(rules.map((r, i) => r.length > (before[i] ?? 0))).toEqual([true, true, true])
    expect(rules.map(r => r.at(-1))).toEqual(['median', 'median', 'trimmed-mean'])

    // the trim is the session's too: set in the document, used by every trimmed-mean merge next round
    expect(trims.at(-1)).toBe(0.2)
    setConfig(docs[1] as ReturnType<typeof createSessionDoc>, { ...config, averaging: 'trimmed-mean', trim: 0.34 })
    expect(await waitFor(() => docs.every(d => getConfig(d)?.trim === 0.34), 10_000)).toBe(true)
    await round()
    expect(rules.map(r => r.at(-1))).toEqual(['trimmed-mean', 'trimmed-mean', 'trimmed-mean'])
    expect(trims.at(-1)).toBe(0.34)
    expect(() => { setConfig(docs[0] as ReturnType<typeof createSessionDoc>, { ...config, trim: 0.5 }) }).toThrow(/\[0, 0\.5\)/)
  }, 55_000)
})
