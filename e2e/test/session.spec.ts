/**
 * Browsers as first-class peers: two Chromium pages and two Node agents join one session
 * through a `murmur relay`, the pages reach each other and an agent over direct WebRTC,
 * everyone learns MNIST, models cross between pages and agents, a closed page does not stop
 * the others, and a reopened page carries on from IndexedDB.
 */
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { collectConsole, launchChromium, serveVite, startAgents, startRelay } from '../src/index.js'
import type { TestAgents, TestRelay, ViteServer } from '../src/index.js'

interface PageState {
  phase: string
  peerId?: string
  backend?: { name: string, candidates: Array<{ name: string, msPerMatmul?: number, fallbackAdapter?: boolean, error?: string }>, cached: boolean }
  resumed?: { round: number, accuracy: number }
  rounds: Array<{ round: number, accuracy: number, mergedWith: string[], trainMs: number, fetchMs: number }>
  peers: Array<{ peerId: string, transport: string, direct: boolean }>
  errors: string[]
  times: { dataLoaded?: number, joined?: number, firstWebrtc?: number }
}

const SESSION = 'e2e-browsers'
const CHANCE = 0.1
const consoleLines: string[] = []
let relay: TestRelay
let agents: TestAgents
let vite: ViteServer
let browser: Browser
const contexts: BrowserContext[] = []
const pages: Page[] = []
let closedPage: PageState | undefined

const stateOf = async (page: Page): Promise<PageState> => await page.evaluate(() => {
  const s = (globalThis as unknown as { murmurTest: PageState & { leave?: unknown } }).murmurTest
  return JSON.parse(JSON.stringify({ ...s, leave: undefined })) as PageState
})

/** Poll a page until `check` holds; fail with the page's state and console when it does not. */
async function waitForPage (page: Page, what: string, check: (s: PageState) => boolean, ms = 45_000): Promise<PageState> {
  const end = Date.now() + ms
  let last: PageState | undefined
  while (Date.now() < end) {
    last = await stateOf(page)
    if (last.phase === 'failed') break
    if (check(last)) return last
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`page never got to: ${what}\nstate: ${JSON.stringify({ ...last, rounds: last?.rounds.slice(-3) })}\nconsole:\n${consoleLines.slice(-30).join('\n')}`)
}

async function waitFor (what: string, check: () => boolean, ms = 45_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

function pageUrl (i: number, create: boolean): string {
  const q = new URLSearchParams({ session: SESSION, bootstrap: relay.ws, offset: String(i * 2000), count: '2000', testCount: '500', storage: `page-${i}`, ...(create ? { create: '1' } : {}) })
  return `${vite.url}?${q.toString()}`
}

async function openPage (i: number, create: boolean): Promise<Page> {
  contexts[i] ??= await browser.newContext()
  const page = await (contexts[i] as BrowserContext).newPage()
  collectConsole(page, consoleLines, `page ${i}`)
  await page.goto(pageUrl(i, create))
  pages[i] = page
  return page
}

const agentIds = (): string[] => agents.agents.map(a => a.peerId)
const lastAccuracy = (s: PageState): number => s.rounds.at(-1)?.accuracy ?? 0

beforeAll(async () => {
  relay = await startRelay()
  agents = await startAgents({
    bootstrap: relay.tcp,
    session: SESSION,
    count: 2,
    trainPerAgent: 2000
  })
  vite = await serveVite(fileURLToPath(new URL('../pages/session/', import.meta.url)))
  browser = await launchChromium()
})

afterAll(async () => {
  for (const page of pages) await page?.evaluate(async () => { await (globalThis as unknown as { murmurTest: { leave?: () => Promise<void> } }).murmurTest.leave?.() }).catch(() => {})
  await browser?.close().catch(() => {})
  await agents?.stop().catch(() => {})
  await vite?.close().catch(() => {})
  await relay?.stop().catch(() => {})
})

describe('browser peers in a Murmur session', () => {
  it('two pages join through the relay and reach each other and an agent over direct WebRTC', async () => {
    // the first page creates the session: agents wait for its config
    await openPage(0, true)
    await openPage(1, false)
    const joined = await Promise.all(pages.map(async (p, i) => await waitForPage(p, `page ${i} joined`, s => s.phase === 'joined')))
    const ids = joined.map(s => s.peerId as string)
    const direct = (s: PageState, peer: string): boolean => s.peers.some(v => v.peerId === peer && v.transport === 'webrtc' && v.direct)
    const [a, b] = await Promise.all(pages.map(async (p, i) => await waitForPage(p, `page ${i} has direct WebRTC to the other page and an agent`, s =>
      direct(s, ids[1 - i] as string) && agentIds().some(id => direct(s, id)))))
    if (a == null || b == null) throw new Error('unreachable')
    expect(a.peers.some(v => v.peerId === relay.peerId && v.transport === 'websockets')).toBe(true)
    for (const [i, s] of [a, b].entries()) {
      console.log(`page ${i} ${s.peerId}: backend ${s.backend?.name} (${s.backend?.candidates.map(c => `${c.name} ${c.msPerMatmul?.toFixed(1) ?? c.error}${c.fallbackAdapter === true ? ' fallback' : ''}`).join(', ')}); data ${s.times.dataLoaded?.toFixed(0)} ms, joined ${s.times.joined?.toFixed(0)} ms, first WebRTC ${s.times.firstWebrtc?.toFixed(0)} ms after navigation`)
      console.log(`page ${i} connections: ${s.peers.map(v => `${v.peerId === relay.peerId ? 'relay' : agentIds().includes(v.peerId) ? `agent ${agentIds().indexOf(v.peerId)}` : 'page'}=${v.transport}`).join(', ')}`)
    }
  })

  it('every page and agent learns well above chance, and models cross between pages and agents', async () => {
    const states = await Promise.all(pages.map(async (p, i) => await waitForPage(p, `page ${i} above 70 % after merging with an agent`, s =>
      lastAccuracy(s) > 0.7 && s.rounds.some(r => r.mergedWith.some(id => agentIds().includes(id))))))
    const pageIds = states.map(s => s.peerId as string)
    // an agent fetched a page's shards: it merged a page's model
    await waitFor('an agent merged a page model', () => agents.agents.some(a => a.rounds.some(r => r.mergedWith.some(id => pageIds.includes(id)))))
    await waitFor('every agent above 70 %', () => agents.agents.every(a => (a.rounds.at(-1)?.accuracy ?? 0) > 0.7))
    for (const [i, s] of states.entries()) {
      expect(lastAccuracy(s)).toBeGreaterThan(CHANCE + 0.5)
      console.log(`page ${i}: round ${s.rounds.at(-1)?.round}, accuracy ${(lastAccuracy(s) * 100).toFixed(1)} %, merged with agents in ${s.rounds.filter(r => r.mergedWith.some(id => agentIds().includes(id))).length} rounds, with the other page in ${s.rounds.filter(r => r.mergedWith.some(id => pageIds.includes(id))).length}`)
    }
    for (const [i, a] of agents.agents.entries()) {
      const mean = (k: 'trainMs' | 'fetchMs'): string => (a.rounds.reduce((n, r) => n + r[k], 0) / Math.max(1, a.rounds.length)).toFixed(0)
      console.log(`agent ${i}: round ${a.rounds.at(-1)?.round}, accuracy ${((a.rounds.at(-1)?.accuracy ?? 0) * 100).toFixed(1)} %, merged page models in ${a.rounds.filter(r => r.mergedWith.some(id => pageIds.includes(id))).length} rounds; mean train ${mean('trainMs')} ms, fetch ${mean('fetchMs')} ms per round`)
    }
  })

  it('a page closed mid-training leaves the others learning', async () => {
    const closed = pages[1] as Page
    const before = await stateOf(closed)
    closedPage = before
    await closed.close()
    const survivor = pages[0] as Page
    const at = (await stateOf(survivor)).rounds.length
    const agentRounds = agents.agents.map(a => a.rounds.length)
    const s = await waitForPage(survivor, 'page 0 three more rounds', x => x.rounds.length >= at + 3)
    await waitFor('agents two more rounds', () => agents.agents.every((a, i) => a.rounds.length >= (agentRounds[i] ?? 0) + 2))
    expect(lastAccuracy(s)).toBeGreaterThan(0.7)
    expect(before.rounds.length).toBeGreaterThan(0)
    console.log(`after page 1 closed: page 0 ${s.rounds.length - at} more rounds (accuracy ${(lastAccuracy(s) * 100).toFixed(1)} %), agents ${agents.agents.map((a, i) => a.rounds.length - (agentRounds[i] ?? 0)).join(' and ')} more; fetch ms of page 0's rounds since: ${s.rounds.slice(at).map(r => r.fetchMs).join(', ')}`)
  })

  it('a reopened page resumes from IndexedDB: same peer id, its round and its model', async () => {
    const reopened = await openPage(1, false)
    const s = await waitForPage(reopened, 'page 1 resumed and trained a round', x => x.phase === 'joined' && x.rounds.length > 0)
    const other = await stateOf(pages[0] as Page)
    expect(s.peerId).toBe(closedPage?.peerId)
    expect(s.peerId).not.toBe(other.peerId)
    // it saves after every round, so it resumes from its last round before the close (or the one in flight)
    expect(s.resumed?.round).toBeGreaterThanOrEqual(closedPage?.rounds.at(-1)?.round ?? Infinity)
    expect(s.resumed).toBeDefined()
    expect(s.resumed?.round).toBeGreaterThan(0)
    // a fresh model scores about 10 %: only the restored one starts well above chance
    expect(s.resumed?.accuracy).toBeGreaterThan(0.6)
    expect(s.rounds[0]?.round).toBe((s.resumed?.round ?? 0) + 1)
    console.log(`page 1 resumed at round ${s.resumed?.round} with ${((s.resumed?.accuracy ?? 0) * 100).toFixed(1)} % before training; joined ${s.times.joined?.toFixed(0)} ms after navigation`)
  })
})
