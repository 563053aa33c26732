/**
 * The disaster-relief demo as a user meets it: the built `murmur demo` command (relay,
 * three Node agents, the web app) and the app, built with Vite, opened in Debian Chromium.
 * The page joins as one more device, draws the mesh and the charts, and its knock-out
 * control removes an agent. Screenshots land in e2e/artifacts/.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { collectConsole, launchChromium } from '../src/index.js'

interface DemoPage {
  phase: string
  peerId?: string
  backend?: string
  rounds: number
  devices: Array<{ peerId: string, name: string, kind: 'phone' | 'edge', live: boolean, round: number, accuracy?: number }>
  errors: string[]
}

const APP = fileURLToPath(new URL('../../demos/disaster-relief/', import.meta.url))
const CLI = fileURLToPath(new URL('../../packages/node/dist/src/cli/index.js', import.meta.url))
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url))
const consoleLines: string[] = []
const demoOutput: string[] = []
let webRoot: string
let demo: ChildProcess
let url: string
let browser: Browser
let page: Page

const stateOf = async (): Promise<DemoPage> => await page.evaluate(() => JSON.parse(JSON.stringify((globalThis as unknown as { murmurDemo: unknown }).murmurDemo)) as DemoPage)

async function waitForPage (what: string, check: (s: DemoPage) => boolean, ms = 45_000): Promise<DemoPage> {
  const end = Date.now() + ms
  let last: DemoPage | undefined
  while (Date.now() < end) {
    last = await stateOf()
    if (last.phase === 'failed') break
    if (check(last)) return last
    await new Promise(resolve => setTimeout(resolve, 250))
  }
  throw new Error(`the demo page never got to: ${what}\nstate: ${JSON.stringify(last)}\nconsole:\n${consoleLines.slice(-20).join('\n')}\ndemo:\n${demoOutput.slice(-20).join('\n')}`)
}

beforeAll(async () => {
  // build the app from its current sources, into a folder of the test's own
  webRoot = await mkdtemp(join(tmpdir(), 'murmur-demo-dist-'))
  await build({ root: APP, logLevel: 'warn', build: { outDir: webRoot, emptyOutDir: true } })
  demo = spawn(process.execPath, [CLI, 'demo', '--agents', '3', '--port', '0', '--web-root', webRoot], { stdio: ['ignore', 'pipe', 'pipe'] })
  const found = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`murmur demo printed no URL in 60 s:\n${demoOutput.join('\n')}`)) }, 60_000)
    const onData = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') demoOutput.push(line)
        const m = /open (http:\/\/127\.0\.0\.1:\d+\/)/.exec(line)
        if (m != null) { clearTimeout(timer); resolve(m[1] as string) }
      }
    }
    demo.stdout?.on('data', onData)
    demo.stderr?.on('data', onData)
    demo.once('exit', code => { clearTimeout(timer); reject(new Error(`murmur demo exited with ${code}:\n${demoOutput.join('\n')}`)) })
  })
  url = found
  browser = await launchChromium()
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } })
  collectConsole(page, consoleLines, 'demo')
}, 110_000)

afterAll(async () => {
  await page?.evaluate(async () => { document.getElementById('btn-leave')?.click() }).catch(() => {})
  await browser?.close().catch(() => {})
  if (demo != null && demo.exitCode == null) {
    const exited = new Promise(resolve => { demo.once('exit', resolve) })
    demo.kill('SIGTERM')
    const timer = setTimeout(() => { demo.kill('SIGKILL') }, 10_000)
    await exited
    clearTimeout(timer)
  }
  if (webRoot != null) await rm(webRoot, { recursive: true, force: true })
}, 30_000)

describe('the disaster-relief demo', () => {
  it('loads in Chromium, joins as a phone and shows the mesh graph, the charts and every device', async () => {
    await page.goto(url)
    await expect(page.title()).resolves.toContain('After the towers fall')
    const s = await waitForPage('joined, trained a round, and sees three trained edge boxes', s =>
      s.phase === 'joined' && s.rounds >= 1 && s.devices.filter(d => d.kind === 'edge' && d.live && d.accuracy != null).length === 3, 100_000)
    expect(s.backend).toBe('wasm')
    const me = s.devices.find(d => d.peerId === s.peerId)
    expect(me?.kind).toBe('phone')

    // the graph: one shape per live device (three edge boxes, this phone) and lines between them
    const drawn = await page.evaluate(() => ({
      devices: [...document.querySelectorAll('#graph g.device')].map(g => g.getAttribute('data-peer')),
      edges: document.querySelectorAll('#graph line[data-edge]').length,
      rows: document.querySelectorAll('#peer-rows tr').length,
      // a chart has drawn once its canvas holds coloured pixels beyond the grid
      chartPixels: (() => {
        const c = document.getElementById('chart-acc') as HTMLCanvasElement
        const data = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray()
        let coloured = 0
        for (let i = 0; i < data.length; i += 4) if ((data[i + 3] as number) > 0 && Math.abs((data[i] as number) - (data[i + 2] as number)) > 60) coloured++
        return coloured
      })()
    }))
    expect(drawn.devices).toContain(s.peerId)
    expect(drawn.devices.length).toBeGreaterThanOrEqual(4)
    expect(drawn.edges).toBeGreaterThanOrEqual(3)
    expect(drawn.rows).toBeGreaterThanOrEqual(4)
    expect(drawn.chartPixels).toBeGreaterThan(50)
    await expect(page.locator('#stat-rule').textContent()).resolves.toBe('variance-corrected')
    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'demo.png'), fullPage: true })
  }, 120_000)

  it('knocks an edge box out: it leaves the graph and the demo server, and the page says so', async () => {
    const before = await stateOf()
    const victim = before.devices.find(d => d.kind === 'edge' && d.live)
    if (victim == null) throw new Error('no edge box to knock out')
    await page.click(`button[data-knockout="${victim.peerId}"]`)
    await waitForPage(`${victim.name} shown as offline`, s => s.devices.some(d => d.peerId === victim.peerId && !d.live), 20_000)
    const inGraph = await page.locator(`#graph g[data-peer="${victim.peerId}"]`).count()
    expect(inGraph).toBe(0)
    const server = await (await fetch(new URL('/api/state', url))).json() as { agents: Array<{ peerId: string }> }
    expect(server.agents.map(a => a.peerId)).not.toContain(victim.peerId)
    expect(server.agents).toHaveLength(2)
    // the page says so once the server confirms (it waits for the agent's node to stop)
    await page.waitForFunction((name) => document.getElementById('note')?.textContent?.includes(`${name} knocked out`) === true, victim.name, { timeout: 15_000 })
    await page.screenshot({ path: join(ARTIFACTS, 'demo-knocked-out.png'), fullPage: true })
  }, 40_000)
})
