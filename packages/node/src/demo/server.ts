/**
 * The demo's web server on loopback: the built web app as static files, `/config.json`
 * (how a page joins: the relay's WebSocket address, the session, its data slice), each
 * page's slice of MNIST as IDX files, and a small JSON control API over the Node agents.
 * Learning never passes through it: pages and agents train and merge over libp2p.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { encodeIdx, MurmurError } from '@murmur/protocol'
import type { AveragingRule, Dataset } from '@murmur/protocol'
import type { AgentView, DemoFleet, LinkView } from './fleet.js'
import { AddressInUseError } from '../errors.js'

/** Averaging rules the demo's switch offers (every rule a session can choose). */
export const DEMO_RULES: readonly AveragingRule[] = ['variance-corrected', 'plain', 'median', 'trimmed-mean']

/** What `/config.json` tells a page. */
export interface DemoPageConfig {
  session: string
  /** The relay's WebSocket addresses with `/p2p/<id>`: what a browser dials first. */
  bootstrap: string[]
  relay: string
  /** This page's own training slice (IDX at `/data/train/{images,labels}?offset=&count=`). */
  slice: { offset: number, count: number }
  /** Size of the shared held-out set at `/data/test/{images,labels}`. */
  testCount: number
  rules: readonly AveragingRule[]
}

/** What a page reports of itself, so every tab can draw links it cannot see. */
export interface BrowserView {
  peerId: string
  kind: 'browser'
  backend: string
  links: LinkView[]
  mergedWith: string[]
  /** When the server last heard from the page (ms since the epoch). */
  seen: number
  /** Set when a control asked this page to leave (it does on its next poll). */
  knockedOut?: boolean
}

/** `GET /api/state`: the Node agents, the pages' reports, islands and the rule. */
export interface DemoState {
  session: string
  relay: string
  rule: AveragingRule
  islands: string[][] | null
  agents: AgentView[]
  browsers: BrowserView[]
}

/** Options of `startDemoServer`. */
export interface DemoServerOptions {
  fleet: DemoFleet
  session: string
  relayAddrs: string[]
  /** Data pages train on; page k gets its own slice of `browserSamples` images. */
  browserTrain: Dataset
  browserSamples: number
  test: Dataset
  /** The built web app (`demos/disaster-relief/dist`); absent means a page saying how to build it. */
  webRoot: string
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 8080 */
  port?: number
}

/** A running demo server. */
export interface DemoServer {
  /** `http://127.0.0.1:<port>/` */
  url: string
  port: number
  stop(): Promise<void>
}

/** A request the API cannot act on; answered with 400 and this message. */
export class DemoRequestError extends MurmurError {
  readonly status: number
  constructor (message: string, status = 400) {
    super(message, 'ERR_DEMO_REQUEST')
    this.name = 'DemoRequestError'
    this.status = status
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.ico': 'image/x-icon',
  '.map': 'application/json'
}
const MAX_BODY = 64 * 1024
/** A page that has not reported for this long is dropped from the state (ms). */
const BROWSER_TTL = 15_000

/** Start the demo's HTTP server; a busy port throws `AddressInUseError` before anything else starts. */
export async function startDemoServer (options: DemoServerOptions): Promise<DemoServer> {
  const host = options.host ?? '127.0.0.1'
  const browsers = new Map<string, BrowserView>()
  let pages = 0
  const root = resolve(options.webRoot)

  const api = async (req: IncomingMessage, path: string): Promise<{ status: number, body: unknown }> => {
    const method = req.method ?? 'GET'
    const { fleet } = options
    if (path === '/api/state') {
      only(method, 'GET')
      const now = Date.now()
      for (const [id, b] of browsers) if (now - b.seen > BROWSER_TTL) browsers.delete(id)
      const state: DemoState = { session: options.session, relay: relayId(options.relayAddrs), rule: fleet.rule(), islands: fleet.partitionState(), agents: fleet.list(), browsers: [...browsers.values()] }
      return { status: 200, body: state }
    }
    if (path === '/api/agents') {
      only(method, 'POST')
      return { status: 201, body: await fleet.add() }
    }
    const agent = /^\/api\/agents\/([^/]+)$/.exec(path)
    if (agent != null) {
      only(method, 'DELETE')
      const peer = decodeURIComponent(agent[1] as string)
      if (!(await fleet.remove(peer))) throw new DemoRequestError(`no running agent ${peer}; GET /api/state lists them`, 404)
      return { status: 200, body: { removed: peer } }
    }
    if (path === '/api/partition') {
      only(method, 'POST')
      const islands = (await readJson(req) as { islands?: unknown }).islands
      if (!Array.isArray(islands) || islands.length < 2 || !islands.every(i => Array.isArray(i) && i.length > 0 && i.every(p => typeof p === 'string'))) {
        throw new DemoRequestError('expected {"islands": [["<peer id>", ...], ["<peer id>", ...]]}: at least two non-empty lists of peer ids')
      }
      await fleet.partition(islands as string[][])
      return { status: 200, body: { islands: fleet.partitionState() } }
    }
    if (path === '/api/heal') {
      only(method, 'POST')
      await fleet.heal()
      return { status: 200, body: { islands: null } }
    }
    if (path === '/api/rule') {
      only(method, 'POST')
      const rule = (await readJson(req) as { rule?: unknown }).rule
      if (typeof rule !== 'string' || !DEMO_RULES.includes(rule as AveragingRule)) {
        throw new DemoRequestError(`expected {"rule": one of ${DEMO_RULES.map(r => `"${r}"`).join(', ')}}, got ${JSON.stringify(rule) ?? 'nothing'}`)
      }
      fleet.setRule(rule as AveragingRule)
      return { status: 200, body: { rule } }
    }
    const report = /^\/api\/browsers\/([^/]+)$/.exec(path)
    if (report != null && method === 'DELETE') {
      // another tab's page is knocked out by leaving: it sees the flag on its next poll
      const peerId = decodeURIComponent(report[1] as string)
      const page = browsers.get(peerId)
      if (page == null) throw new DemoRequestError(`no browser tab ${peerId} has reported in the last ${BROWSER_TTL / 1000} s`, 404)
      page.knockedOut = true
      return { status: 202, body: { knockedOut: peerId } }
    }
    if (report != null) {
      only(method, 'PUT')
      const body = await readJson(req) as Partial<BrowserView>
      const peerId = decodeURIComponent(report[1] as string)
      if (!Array.isArray(body.links) || !Array.isArray(body.mergedWith)) throw new DemoRequestError('expected {"backend": "...", "links": [...], "mergedWith": [...]}')
      const links = body.links.filter(isLink).slice(0, 256)
      const knockedOut = browsers.get(peerId)?.knockedOut
      browsers.set(peerId, { peerId, kind: 'browser', backend: String(body.backend ?? 'unknown').slice(0, 32), links, mergedWith: body.mergedWith.filter(p => typeof p === 'string').slice(0, 64), seen: Date.now(), ...(knockedOut === true ? { knockedOut } : {}) })
      return { status: 204, body: undefined }
    }
    throw new DemoRequestError(`no API route ${path}`, 404)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname
    try {
      if (path.startsWith('/api/')) {
        const { status, body } = await api(req, path)
        send(res, status, body)
      } else if (path === '/config.json') {
        only(req.method ?? 'GET', 'GET')
        const count = options.browserSamples
        const slots = Math.max(1, Math.floor(options.browserTrain.count / count))
        const config: DemoPageConfig = {
          session: options.session,
          bootstrap: options.relayAddrs.filter(a => a.includes('/ws/')),
          relay: relayId(options.relayAddrs),
          slice: { offset: (pages++ % slots) * count, count: Math.min(count, options.browserTrain.count) },
          testCount: options.test.count,
          rules: DEMO_RULES
        }
        send(res, 200, config)
      } else if (path.startsWith('/data/')) {
        serveData(res, path, url.searchParams, options)
      } else {
        await serveStatic(res, root, path)
      }
    } catch (err) {
      if (err instanceof DemoRequestError) send(res, err.status, { error: err.message })
      else send(res, 500, { error: (err as Error).message })
    }
  }

  const server = createServer((req, res) => { void handle(req, res) })
  await listen(server, host, options.port ?? 8080)
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}/`,
    port,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

async function listen (server: Server, host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new AddressInUseError(`port ${port} on ${host} is already in use: pass --port <n> (or 0 for any free port) or stop the process holding it`, { cause: err }))
      else reject(err)
    })
    server.listen(port, host, resolve)
  })
}

function only (method: string, allowed: string): void {
  if (method !== allowed) throw new DemoRequestError(`use ${allowed} here, not ${method}`, 405)
}

function relayId (addrs: string[]): string {
  return /\/p2p\/([^/]+)$/.exec(addrs[0] ?? '')?.[1] ?? ''
}

function isLink (value: unknown): value is LinkView {
  const v = value as Partial<LinkView> | null
  return typeof v === 'object' && v != null && typeof v.peer === 'string' && typeof v.transport === 'string' && typeof v.direct === 'boolean'
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new DemoRequestError(`request body over ${MAX_BODY} bytes`, 413)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    const value: unknown = JSON.parse(text === '' ? '{}' : text)
    if (typeof value !== 'object' || value == null || Array.isArray(value)) throw new Error('not an object')
    return value
  } catch {
    throw new DemoRequestError(`request body is not a JSON object: ${JSON.stringify(text.slice(0, 80))}`)
  }
}

function send (res: ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    res.writeHead(status, { 'cache-control': 'no-store' }).end()
    return
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}

/** `/data/{train|test}/{images|labels}?offset=&count=`: one slice as an IDX file. */
function serveData (res: ServerResponse, path: string, query: URLSearchParams, options: DemoServerOptions): void {
  const match = /^\/data\/(train|test)\/(images|labels)$/.exec(path)
  if (match == null) throw new DemoRequestError(`no data at ${path}; try /data/train/images?offset=0&count=500`, 404)
  const data = match[1] === 'train' ? options.browserTrain : options.test
  const int = (name: string, fallback: number): number => {
    const raw = query.get(name)
    const n = raw == null ? fallback : Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new DemoRequestError(`${name} must be a non-negative integer, got "${raw}"`)
    return n
  }
  const offset = int('offset', 0)
  const count = int('count', data.count - offset)
  if (offset + count > data.count) throw new DemoRequestError(`offset ${offset} + count ${count} is past the ${data.count} samples`)
  const encoded = encodeIdx(data, offset, count)
  const bytes = match[2] === 'images' ? encoded.images : encoded.labels
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.byteLength, 'cache-control': 'no-store' }).end(bytes)
}

async function serveStatic (res: ServerResponse, root: string, path: string): Promise<void> {
  const rel = normalize(decodeURIComponent(path)).replace(/^([/\\])+/, '')
  let file = join(root, rel === '' ? 'index.html' : rel)
  if (file !== root && !file.startsWith(root + sep)) throw new DemoRequestError('path outside the web app', 404)
  let info = await stat(file).catch(() => undefined)
  if (info?.isDirectory() === true) {
    file = join(file, 'index.html')
    info = await stat(file).catch(() => undefined)
  }
  if (info == null) {
    if (extname(rel) === '' || rel === '') {
      const index = join(root, 'index.html')
      if (await stat(index).catch(() => undefined) == null) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`The demo web app is not built (${index} is missing).\nRun 'npm run build' at the repository root, or 'npm start', then reload.\n`)
        return
      }
      file = index
    } else {
      throw new DemoRequestError(`not found: ${path}`, 404)
    }
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
  createReadStream(file).pipe(res)
}
