/**
 * The demo server's routes as the page sees them (`murmur demo` serves them; see
 * packages/node/src/demo-server.ts). Learning never goes through them: they hand the page
 * its data slice and drive the Node agents.
 */
import { datasetFromIdx } from '@murmur/protocol'
import type { AveragingRule, Dataset } from '@murmur/protocol'

/** `/config.json` */
export interface PageConfig {
  session: string
  bootstrap: string[]
  relay: string
  slice: { offset: number, count: number }
  testCount: number
  rules: AveragingRule[]
}

/** One link of a peer. */
export interface Link {
  peer: string
  transport: string
  direct: boolean
}

/** A Node agent as `/api/state` lists it. */
export interface AgentInfo {
  peerId: string
  name: string
  backend: string
  samples: number
  round: number
  accuracy?: number
  loss?: number
  mergedWith: string[]
  bytesSent: number
  bytesReceived: number
  links: Link[]
  island?: number
}

/** A browser tab as it reported itself. */
export interface BrowserInfo {
  peerId: string
  backend: string
  links: Link[]
  mergedWith: string[]
  knockedOut?: boolean
}

/** `/api/state` */
export interface DemoState {
  session: string
  relay: string
  rule: AveragingRule
  islands: string[][] | null
  agents: AgentInfo[]
  browsers: BrowserInfo[]
}

async function call<T> (method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body != null ? { 'content-type': 'application/json' } : {},
    body: body != null ? JSON.stringify(body) : undefined
  })
  const text = await res.text()
  const value = text === '' ? undefined : JSON.parse(text) as unknown
  if (!res.ok) throw new Error((value as { error?: string } | undefined)?.error ?? `${method} ${path}: HTTP ${res.status}`)
  return value as T
}

/** How this page joins: relay, session, its own slice of data. */
export async function fetchConfig (): Promise<PageConfig> {
  return await call<PageConfig>('GET', '/config.json')
}

/** The agents, the other tabs' reports, islands and the rule. */
export async function fetchState (): Promise<DemoState> {
  return await call<DemoState>('GET', '/api/state')
}

async function idx (path: string): Promise<Uint8Array> {
  const res = await fetch(path)
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`)
  return new Uint8Array(await res.arrayBuffer())
}

/** This device's own images and the shared held-out set, as IDX files parsed by the protocol. */
export async function fetchData (config: PageConfig): Promise<{ train: Dataset, test: Dataset }> {
  const { offset, count } = config.slice
  const [ti, tl, vi, vl] = await Promise.all([
    idx(`/data/train/images?offset=${offset}&count=${count}`),
    idx(`/data/train/labels?offset=${offset}&count=${count}`),
    idx(`/data/test/images?count=${config.testCount}`),
    idx(`/data/test/labels?count=${config.testCount}`)
  ])
  return { train: datasetFromIdx(ti, tl, { numClasses: 10 }), test: datasetFromIdx(vi, vl, { numClasses: 10 }) }
}

/** Tell the server (and so the other tabs) this tab's links and merges. */
export async function report (peerId: string, view: { backend: string, links: Link[], mergedWith: string[] }): Promise<void> {
  await call('PUT', `/api/browsers/${encodeURIComponent(peerId)}`, view)
}

/** Controls. */
export const control = {
  addAgent: async () => await call<AgentInfo>('POST', '/api/agents'),
  removeAgent: async (peerId: string) => await call('DELETE', `/api/agents/${encodeURIComponent(peerId)}`),
  knockOutTab: async (peerId: string) => await call('DELETE', `/api/browsers/${encodeURIComponent(peerId)}`),
  partition: async (islands: string[][]) => await call('POST', '/api/partition', { islands }),
  heal: async () => await call('POST', '/api/heal'),
  setRule: async (rule: AveragingRule) => await call('POST', '/api/rule', { rule })
}
