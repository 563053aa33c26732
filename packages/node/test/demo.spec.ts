import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { datasetFromIdx, mnistMlp } from '@murmur/protocol'
import { startDemo } from '../src/demo/demo.js'
import type { RunningDemo } from '../src/demo/demo.js'
import { startDemoServer } from '../src/demo/server.js'
import type { DemoPageConfig, DemoState } from '../src/demo/server.js'
import { AddressInUseError } from '../src/errors.js'
import { waitFor } from './helpers.js'

// A real demo: relay and three agents on loopback training a small MLP, with the HTTP
// server the web app talks to. Requests go over real HTTP with fetch.

let demo: RunningDemo
let web: string
let base: string

beforeAll(async () => {
  web = await mkdtemp(join(tmpdir(), 'murmur-demo-web-'))
  await writeFile(join(web, 'index.html'), '<!doctype html><title>Murmur demo</title>')
  demo = await startDemo({
    agents: 3,
    trainSamples: 900,
    testSamples: 200,
    browserSamples: 100,
    port: 0,
    webRoot: web,
    roundDelay: 100,
    model: mnistMlp({ localSteps: 5, batchSize: 16 }),
    print: () => {}
  })
  base = demo.url ?? ''
}, 60_000)

afterAll(async () => {
  await demo?.stop()
  await rm(web, { recursive: true, force: true })
}, 30_000)

async function json<T> (path: string, init?: RequestInit): Promise<{ status: number, body: T }> {
  const res = await fetch(new URL(path, base), init)
  const text = await res.text()
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T }
}

async function state (): Promise<DemoState> {
  return (await json<DemoState>('/api/state')).body
}

const post = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })

describe('murmur demo server', () => {
  it('serves the web app and tells each page how to join: the relay over WebSockets and its own data slice', async () => {
    const page = await fetch(base)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('Murmur demo')

    const first = await json<DemoPageConfig>('/config.json')
    const second = await json<DemoPageConfig>('/config.json')
    expect(first.status).toBe(200)
    expect(first.body.session).toBe('disaster-relief-demo')
    expect(first.body.bootstrap.length).toBeGreaterThan(0)
    for (const addr of first.body.bootstrap) expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/ws/p2p/${first.body.relay}$`))
    expect(first.body.rules).toContain('variance-corrected')
    expect(second.body.slice.offset).not.toBe(first.body.slice.offset)
    expect(first.body.testCount).toBe(200)
  })

  it('hands out a page\'s slice of MNIST as IDX files the protocol parses', async () => {
    const { slice } = (await json<DemoPageConfig>('/config.json')).body
    const [images, labels] = await Promise.all(['images', 'labels'].map(async kind => {
      const res = await fetch(new URL(`/data/train/${kind}?offset=${slice.offset}&count=${slice.count}`, base))
      expect(res.status).toBe(200)
      return new Uint8Array(await res.arrayBuffer())
    }))
    const data = datasetFromIdx(images as Uint8Array, labels as Uint8Array, { numClasses: 10 })
    expect(data.count).toBe(slice.count)
    expect(data.inputShape).toEqual([784])
    expect(Math.max(...data.xs)).toBe(1)

    const bad = await json<{ error: string }>('/data/train/images?offset=-3')
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatch(/offset must be a non-negative integer, got "-3"/)
    const past = await json<{ error: string }>('/data/test/labels?offset=150&count=100')
    expect(past.status).toBe(400)
    expect(past.body.error).toMatch(/past the 200 samples/)
  })

  it('lists the agents, which connect to each other and train', async () => {
    const trained = await waitFor(async () => {
      const s = await state()
      return s.agents.length === 3 && s.agents.every(a => a.round >= 1 && a.accuracy != null) ? s : undefined
    }, 45_000, 250)
    expect(trained).toBeDefined()
    const s = trained as DemoState
    const ids = s.agents.map(a => a.peerId)
    expect(new Set(s.agents.map(a => a.name))).toEqual(new Set(['edge-1', 'edge-2', 'edge-3']))
    for (const a of s.agents) {
      expect(a.kind).toBe('node')
      expect(a.wsAddrs.some(w => w.includes('/ws/p2p/'))).toBe(true)
      const direct = a.links.filter(l => l.direct && ids.includes(l.peer)).map(l => l.peer)
      expect(direct.length).toBeGreaterThan(0)
      expect(a.links.some(l => l.peer === s.relay)).toBe(true)
    }
    expect(s.rule).toBe('variance-corrected')
    expect(s.islands).toBeNull()
  }, 60_000)

  it('knocks an agent out and adds one that syncs the session and trains', async () => {
    const before = await state()
    const victim = before.agents[1]?.peerId ?? ''
    const removed = await json<{ removed: string }>(`/api/agents/${victim}`, { method: 'DELETE' })
    expect(removed).toEqual({ status: 200, body: { removed: victim } })
    const after = await state()
    expect(after.agents.map(a => a.peerId)).not.toContain(victim)
    expect(after.agents).toHaveLength(2)

    const again = await json<{ error: string }>(`/api/agents/${victim}`, { method: 'DELETE' })
    expect(again.status).toBe(404)
    expect(again.body.error).toContain(`no running agent ${victim}`)

    const added = await json<{ peerId: string, name: string }>('/api/agents', { method: 'POST' })
    expect(added.status).toBe(201)
    expect(added.body.name).toBe('edge-4')
    const trains = await waitFor(async () => (await state()).agents.find(a => a.peerId === added.body.peerId && a.round >= 1), 45_000, 250)
    expect(trains?.accuracy).toBeTypeOf('number')
    expect((await state()).agents).toHaveLength(3)
  }, 60_000)

  it('switches the averaging rule in the shared document, which reaches the other agents', async () => {
    const res = await json<{ rule: string }>('/api/rule', post({ rule: 'plain' }))
    expect(res).toEqual({ status: 200, body: { rule: 'plain' } })
    // the state reads the first agent's document; knock that agent out and read the next one's
    const first = (await state()).agents[0]?.peerId ?? ''
    await json(`/api/agents/${first}`, { method: 'DELETE' })
    expect(await waitFor(async () => (await state()).rule === 'plain', 10_000, 200)).toBe(true)
    expect((await state()).agents.map(a => a.peerId)).not.toContain(first)
  }, 30_000)

  it('cuts the mesh into islands and heals it', async () => {
    const before = await state()
    const [a, b] = before.agents.map(x => x.peerId) as [string, string]
    const cut = await json<{ islands: string[][] }>('/api/partition', post({ islands: [[a], [b]] }))
    expect(cut).toEqual({ status: 200, body: { islands: [[a], [b]] } })
    const split = await waitFor(async () => {
      const s = await state()
      return s.agents.every(x => !x.links.some(l => l.peer === (x.peerId === a ? b : a))) ? s : undefined
    }, 10_000, 200)
    expect(split?.islands).toEqual([[a], [b]])
    expect(split?.agents.find(x => x.peerId === a)?.island).toBe(0)

    expect(await json('/api/heal', { method: 'POST' })).toEqual({ status: 200, body: { islands: null } })
    const healed = await waitFor(async () => {
      const s = await state()
      return s.islands == null && s.agents.find(x => x.peerId === a)?.links.some(l => l.peer === b && l.direct) === true
    }, 10_000, 200)
    expect(healed).toBe(true)
  }, 30_000)

  it('answers bad requests with 400 (or 404/405) and a message saying what was wrong', async () => {
    const rule = await json<{ error: string }>('/api/rule', post({ rule: 'majority-vote' }))
    expect(rule.status).toBe(400)
    expect(rule.body.error).toMatch(/expected \{"rule": one of "variance-corrected", "plain", "median", "trimmed-mean"\}, got "majority-vote"/)

    const notJson = await json<{ error: string }>('/api/rule', post('{rule: plain'))
    expect(notJson.status).toBe(400)
    expect(notJson.body.error).toMatch(/request body is not a JSON object/)

    const oneIsland = await json<{ error: string }>('/api/partition', post({ islands: [['x']] }))
    expect(oneIsland.status).toBe(400)
    expect(oneIsland.body.error).toMatch(/at least two non-empty lists of peer ids/)

    const wrongMethod = await json<{ error: string }>('/api/agents', { method: 'GET' })
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.body.error).toBe('use POST here, not GET')

    const unknown = await json<{ error: string }>('/api/launch-missiles', { method: 'POST' })
    expect(unknown.status).toBe(404)

    const report = await json<{ error: string }>('/api/browsers/someone', { method: 'PUT', body: '{"links": 3}' })
    expect(report.status).toBe(400)

    const outside = await fetch(new URL('/..%2F..%2Fetc%2Fpasswd', base))
    expect(await outside.text()).not.toContain('root:')
  })

  it('keeps what a page reports about itself so other tabs can draw its links', async () => {
    const agent = (await state()).agents[0]?.peerId ?? ''
    const put = await fetch(new URL('/api/browsers/12D3KooWpage', base), { method: 'PUT', body: JSON.stringify({ backend: 'wasm', links: [{ peer: agent, transport: 'ws', direct: true }, { bogus: 1 }], mergedWith: [agent] }) })
    expect(put.status).toBe(204)
    const page = (await state()).browsers.find(b => b.peerId === '12D3KooWpage')
    expect(page).toMatchObject({ kind: 'browser', backend: 'wasm', links: [{ peer: agent, transport: 'ws', direct: true }], mergedWith: [agent] })

    // another tab's knock-out control flags the page, which leaves on its next poll
    expect(await json('/api/browsers/12D3KooWpage', { method: 'DELETE' })).toEqual({ status: 202, body: { knockedOut: '12D3KooWpage' } })
    expect((await state()).browsers.find(b => b.peerId === '12D3KooWpage')?.knockedOut).toBe(true)
    const unknown = await json<{ error: string }>('/api/browsers/12D3KooWnobody', { method: 'DELETE' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toMatch(/no browser tab 12D3KooWnobody has reported/)
  })

  it('says a busy port is busy, and says how to build a missing web app', async () => {
    const port = Number(new URL(base).port)
    const fleet = demo.fleet
    const busy = startDemoServer({ fleet, session: 's', relayAddrs: [], browserTrain: demo.train, browserSamples: 10, test: demo.test, webRoot: web, port })
    await expect(busy).rejects.toThrow(AddressInUseError)
    await expect(busy).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use`)

    const bare = await startDemoServer({ fleet, session: 's', relayAddrs: [], browserTrain: demo.train, browserSamples: 10, test: demo.test, webRoot: join(web, 'missing'), port: 0 })
    try {
      const res = await fetch(bare.url)
      expect(res.status).toBe(503)
      expect(await res.text()).toContain("Run 'npm run build'")
    } finally {
      await bare.stop()
    }
  })
})
