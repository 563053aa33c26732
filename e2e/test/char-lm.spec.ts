/**
 * The language-model example across a browser and Node: a Node agent creates the char-lm
 * session with its GRU model and trains on one chapter of Moby-Dick; a Chromium page joins
 * with another chapter's text, builds the session's model from its config (starting from the
 * creator's weights), and both learn together: perplexity falls, each merges the other's
 * model, and the page samples text from what it learnt.
 */
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { joinSession } from '@murmur/node'
import type { NodeSessionPeer, RoundMetrics } from '@murmur/node'
import { TRAINING, VOCAB_SIZE, buildCharModel, loadChapters, loadCorpus } from '@murmur/example-char-lm'
import { collectConsole, launchChromium, serveVite, startRelay } from '../src/index.js'
import type { TestRelay, ViteServer } from '../src/index.js'

interface LmState {
  phase: string
  peerId?: string
  rounds: Array<{ round: number, perplexity: number, mergedWith: string[] }>
  errors: string[]
  sample?: string
}

const SESSION = 'e2e-char-lm'
const ROUNDS = 6
const consoleLines: string[] = []
let relay: TestRelay
let vite: ViteServer
let browser: Browser
let page: Page
let agent: NodeSessionPeer | undefined
const agentRounds: RoundMetrics[] = []

const stateOf = async (): Promise<LmState> => await page.evaluate(() => JSON.parse(JSON.stringify((globalThis as unknown as { murmurLm: { state: unknown } }).murmurLm.state)) as LmState)

beforeAll(async () => {
  relay = await startRelay()
  vite = await serveVite(fileURLToPath(new URL('../pages/char-lm/', import.meta.url)))
  browser = await launchChromium()
  page = await browser.newPage()
  collectConsole(page, consoleLines)
  await page.goto(vite.url)
  await page.waitForFunction(() => (globalThis as unknown as { murmurLm?: { state: { phase: string } } }).murmurLm?.state.phase === 'ready', undefined, { timeout: 60_000 })
}, 120_000)

afterAll(async () => {
  await page?.evaluate(async () => { await (globalThis as unknown as { murmurLm: { leave: () => Promise<void> } }).murmurLm.leave() }).catch(() => {})
  await browser?.close().catch(() => {})
  await agent?.leave().catch(() => {})
  await vite?.close().catch(() => {})
  await relay?.stop().catch(() => {})
})

describe('a character-level language model across a page and a Node agent', () => {
  it('both learn together, merge each other\'s models, and the page generates text', async () => {
    const corpus = loadCorpus({ charsPerPeer: 2000, testChars: 800 })
    agent = await joinSession({
      bootstrap: [relay.tcp],
      session: SESSION,
      model: buildCharModel({ units: 32 }),
      training: TRAINING,
      create: { fanOut: 1 },
      train: corpus.shares[0]!,
      test: corpus.test,
      maxRounds: ROUNDS,
      // the page joins a few seconds later: wait for it before the first round
      pace: { minPeers: 1, startTimeout: 60_000 }
    })
    agent.addEventListener('round', evt => { agentRounds.push(evt.detail) })
    // the page brings another chapter's text and a held-out passage, as raw text
    const chapters = loadChapters()
    const text = chapters.find(c => c.chapter === '32')?.text.slice(0, 2000) ?? ''
    const testText = chapters.find(c => c.chapter === '58')?.text.slice(0, 800) ?? ''
    expect(text.length).toBe(2000)
    await page.evaluate(async (o) => { await (globalThis as unknown as { murmurLm: { start: (o: unknown) => Promise<void> } }).murmurLm.start(o) }, { bootstrap: relay.ws, session: SESSION, text, testText, rounds: ROUNDS })
    const started = Date.now()
    let state = await stateOf()
    while (state.phase !== 'done' && state.phase !== 'failed' && Date.now() - started < 150_000) {
      await new Promise(resolve => setTimeout(resolve, 500))
      state = await stateOf()
    }
    await agent.done
    const context = `page: ${JSON.stringify(state)}\nagent: ${JSON.stringify(agentRounds.map(r => ({ round: r.round, ppl: r.metrics.perplexity, merged: r.mergedWith })))}\nconsole:\n${consoleLines.slice(-20).join('\n')}`
    expect(state.phase, context).toBe('done')
    expect(state.rounds).toHaveLength(ROUNDS)
    // models crossed both ways
    expect(state.rounds.some(r => r.mergedWith.length > 0), context).toBe(true)
    expect(agentRounds.some(r => r.mergedWith.includes(state.peerId ?? '')), context).toBe(true)
    // they learnt: a model that knows nothing has perplexity VOCAB_SIZE (every character alike)
    const pagePpl = state.rounds.at(-1)?.perplexity ?? Number.NaN
    const agentPpl = agentRounds.at(-1)?.metrics.perplexity ?? Number.NaN
    expect(pagePpl, context).toBeLessThan(VOCAB_SIZE * 0.6)
    expect(agentPpl, context).toBeLessThan(VOCAB_SIZE * 0.6)
    expect(state.rounds.at(-1)!.perplexity).toBeLessThan(state.rounds[0]!.perplexity)
    // and the page's trained model writes text
    expect(state.sample?.length ?? 0).toBeGreaterThan(10)
    console.log(`char-lm e2e: page perplexity ${state.rounds.map(r => r.perplexity.toFixed(1)).join(' → ')}; agent ${agentRounds.map(r => (r.metrics.perplexity ?? NaN).toFixed(1)).join(' → ')}; page sample "${state.sample ?? ''}"`)
  }, 240_000)
})
