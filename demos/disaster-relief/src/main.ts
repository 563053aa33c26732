/**
 * The disaster-relief demo: this tab joins the session as one responder's phone, and draws
 * the whole session (mesh, accuracy, loss, bytes, backends) from the shared document plus
 * what `murmur demo` knows about its Node agents. The controls disturb the mesh.
 */
import { joinSession } from '@murmur/browser'
import type { MurmurSession, PeerView } from '@murmur/browser'
import type { AveragingRule, RoundMetrics } from '@murmur/protocol'
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'
import { control, fetchConfig, fetchData, fetchState, report } from './api.js'
import type { DemoState, Link, PageConfig } from './api.js'
import { drawChart } from './chart.js'
import { collectDevices, formatBytes } from './devices.js'
import type { Device } from './devices.js'
import { drawGraph } from './graph.js'

/** What tests (and the curious, in the console) can read: `window.murmurDemo`. */
interface DemoPage {
  phase: 'loading' | 'joined' | 'left' | 'failed'
  peerId?: string
  backend?: string
  rounds: number
  devices: Array<Pick<Device, 'peerId' | 'name' | 'kind' | 'live' | 'round' | 'accuracy'>>
  errors: string[]
}

const page: DemoPage = { phase: 'loading', rounds: 0, devices: [], errors: [] }
;(globalThis as unknown as { murmurDemo: DemoPage }).murmurDemo = page

const $ = <T extends HTMLElement | SVGSVGElement>(id: string): T => {
  const node = document.getElementById(id)
  if (node == null) throw new Error(`#${id} missing from index.html`)
  return node as T
}

let handle: MurmurSession | undefined
let config: PageConfig | undefined
let state: DemoState | undefined
let latest: RoundMetrics | undefined
let devices: Device[] = []

function note (text: string, bad = false): void {
  const n = $('note')
  n.textContent = text
  n.style.color = bad ? '#e57373' : ''
}

function linksOf (views: PeerView[]): Link[] {
  return views.map(v => ({ peer: v.peerId, transport: v.transport, direct: v.direct }))
}

/** While the mesh is cut, this tab refuses peers on other islands, as the agents do. */
function denied (other: string): boolean {
  if (state?.islands == null || handle == null || other === state.relay) return false
  const island = (id: string): number => state?.islands?.findIndex(i => i.includes(id)) ?? -1
  return island(other) !== island(handle.peerId)
}

async function enforceIslands (): Promise<void> {
  if (handle == null) return
  await Promise.all(handle.node.getConnections().filter(c => denied(c.remotePeer.toString())).map(async c => { await c.close().catch(() => {}) }))
}

function render (): void {
  if (handle == null || config == null) return
  const { devices: list, edges } = collectDevices(handle.doc, state, { peerId: handle.peerId, links: linksOf(handle.peers()), latest, backend: handle.backend.name })
  devices = list
  page.devices = list.map(d => ({ peerId: d.peerId, name: d.name, kind: d.kind, live: d.live, round: d.round, accuracy: d.accuracy }))
  const live = list.filter(d => d.live)
  const me = list.find(d => d.self)
  $('you-name').textContent = me?.name ?? `phone-${handle.peerId.slice(-4)}`
  $('you-meta').textContent = `browser tab · ${handle.backend.name} · ${config.slice.count} own images`
  $('stat-peers').textContent = String(live.length)
  const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`
  $('stat-peers-sub').textContent = `${count(live.filter(d => d.kind === 'phone').length, 'phone', 'phones')} · ${count(live.filter(d => d.kind === 'edge').length, 'edge box', 'edge boxes')}`
  const accs = live.map(d => d.accuracy).filter((a): a is number => a != null)
  $('stat-acc').textContent = accs.length > 0 ? `${(accs.reduce((a, b) => a + b, 0) / accs.length * 100).toFixed(1)} %` : '–'
  $('stat-bytes').textContent = formatBytes(live.reduce((s, d) => s + d.bytesReceived, 0))
  $('stat-rule').textContent = state?.rule ?? '–'
  $('stat-mesh').textContent = state?.islands != null ? `cut into ${state.islands.length} islands` : 'whole'
  $<HTMLButtonElement>('btn-heal').disabled = state?.islands == null
  $<HTMLButtonElement>('btn-split').disabled = state?.islands != null
  const select = $<HTMLSelectElement>('rule')
  if (state != null && document.activeElement !== select) select.value = state.rule

  drawGraph($<SVGSVGElement>('graph'), list, edges, state?.relay ?? config.relay, state?.islands != null)
  drawChart($<HTMLCanvasElement>('chart-acc'), list, { value: m => m.accuracy ?? Number.NaN, range: [0, 1], format: v => `${(v * 100).toFixed(0)} %` })
  drawChart($<HTMLCanvasElement>('chart-loss'), list, { value: m => m.loss, format: v => v.toFixed(2) })
  renderRows(list)
}

interface Row { tr: HTMLTableRowElement, cells: HTMLTableCellElement[], action: HTMLTableCellElement, device: Device }
/** Rows live as long as their peer, so a Knock out button is never swapped under the pointer by a refresh. */
const rowsByPeer = new Map<string, Row>()

function rowFor (d: Device): Row {
  let row = rowsByPeer.get(d.peerId)
  if (row == null) {
    const tr = document.createElement('tr')
    tr.dataset.peer = d.peerId
    const cells = Array.from({ length: 10 }, () => tr.appendChild(document.createElement('td')))
    row = { tr, cells, action: tr.appendChild(document.createElement('td')), device: d }
    rowsByPeer.set(d.peerId, row)
  }
  row.device = d
  return row
}

function setCell (cell: HTMLTableCellElement | undefined, html: string, className = ''): void {
  if (cell == null) return
  if (cell.innerHTML !== html) cell.innerHTML = html
  if (cell.className !== className) cell.className = className
}

function renderRows (list: Device[]): void {
  const rows = list.map(d => {
    const row = rowFor(d)
    row.tr.className = `${d.live ? '' : 'gone'} ${d.self ? 'self' : ''}`
    const acc = d.accuracy != null ? `${(d.accuracy * 100).toFixed(1)} %<span class="acc-bar" style="width:${Math.round(d.accuracy * 50)}px"></span>` : '…'
    const link = d.self ? '—' : d.linkToSelf != null ? `<span class="tag ${d.linkToSelf.direct ? 'direct' : 'relayed'}">${d.linkToSelf.direct ? 'direct' : 'relayed'} · ${d.linkToSelf.transport}</span>` : '<span class="tag">none</span>'
    const c = row.cells
    setCell(c[0], `<span class="sw" style="background:${d.color}"></span> ${d.name}${d.self ? ' (you)' : ''}`)
    setCell(c[1], d.kind === 'edge' ? 'edge box · Node' : 'phone · browser', `kind-${d.kind}`)
    setCell(c[2], d.backend)
    setCell(c[3], String(d.samples))
    setCell(c[4], String(d.round))
    setCell(c[5], acc)
    setCell(c[6], d.loss?.toFixed(3) ?? '…')
    setCell(c[7], `${formatBytes(d.bytesSent)} / ${formatBytes(d.bytesReceived)}`)
    setCell(c[8], link)
    setCell(c[9], d.island != null ? `island ${d.island + 1}` : '')
    const button = row.action.querySelector('button')
    if (d.live && button == null) {
      const btn = document.createElement('button')
      btn.type = 'button'
      btn.className = 'small danger'
      btn.textContent = 'Knock out'
      btn.dataset.knockout = d.peerId
      btn.addEventListener('click', () => { void knockOut(rowsByPeer.get(d.peerId)?.device ?? d) })
      row.action.replaceChildren(btn)
    } else if (!d.live && button != null) {
      row.action.textContent = 'offline'
    }
    return row.tr
  })
  for (const peer of [...rowsByPeer.keys()]) if (!list.some(d => d.peerId === peer)) rowsByPeer.delete(peer)
  const body = $('peer-rows')
  // re-append only when the order changed: moving a row detaches it for a moment
  if (rows.length !== body.children.length || rows.some((tr, k) => body.children[k] !== tr)) body.replaceChildren(...rows)
}

async function knockOut (d: Device): Promise<void> {
  try {
    if (d.self) await leave('knocked out')
    else if (d.kind === 'edge') await control.removeAgent(d.peerId)
    else await control.knockOutTab(d.peerId)
    note(`${d.name} knocked out: the others carry on without it.`)
  } catch (err) {
    note((err as Error).message, true)
  }
  await tick()
}

async function leave (why: string): Promise<void> {
  if (handle == null || page.phase === 'left') return
  page.phase = 'left'
  await handle.leave()
  $('you-name').textContent = `${why}`
  $('you-meta').textContent = 'reload the page to join again'
  $<HTMLButtonElement>('btn-leave').disabled = true
}

async function tick (): Promise<void> {
  try {
    state = await fetchState()
  } catch (err) {
    note(`the demo server does not answer (${(err as Error).message}); is 'murmur demo' still running?`, true)
  }
  if (handle != null && page.phase === 'joined') {
    if (state?.browsers.find(b => b.peerId === handle?.peerId)?.knockedOut === true) {
      await leave('knocked out from another tab')
      return
    }
    await enforceIslands()
    await report(handle.peerId, { backend: handle.backend.name, links: linksOf(handle.peers()), mergedWith: latest?.mergedWith ?? [] }).catch(() => {})
  }
  render()
}

function wireControls (rules: AveragingRule[]): void {
  const select = $<HTMLSelectElement>('rule')
  select.replaceChildren(...rules.map(r => Object.assign(document.createElement('option'), { value: r, textContent: r })))
  const act = (id: string, what: () => Promise<string>): void => {
    const btn = $<HTMLButtonElement>(id)
    btn.addEventListener('click', () => {
      btn.disabled = true
      what().then(text => { note(text) }, (err: Error) => { note(err.message, true) }).finally(() => { btn.disabled = false; void tick() })
    })
  }
  act('btn-add', async () => `${(await control.addAgent()).name} joined: it syncs the session document, then trains on its own images.`)
  act('btn-split', async () => {
    const live = devices.filter(d => d.live).map(d => d.peerId)
    if (live.length < 2) throw new Error('need at least two devices to cut the mesh')
    await control.partition([live.filter((_, i) => i % 2 === 0), live.filter((_, i) => i % 2 === 1)])
    return 'The mesh is cut: each island keeps learning on its own. Heal it and watch them converge.'
  })
  act('btn-heal', async () => { await control.heal(); return 'Healed: the islands reconnect and their models merge again.' })
  act('btn-leave', async () => { await leave('knocked out'); return 'This tab left the session; the others carry on.' })
  select.addEventListener('change', () => {
    control.setRule(select.value as AveragingRule).then(() => {
      note(`Rule set to ${select.value} in the session document. Edge boxes merge with it from their next round; browser tabs use the rule they joined with.`)
    }, (err: Error) => { note(err.message, true) }).finally(() => { void tick() })
  })
}

async function main (): Promise<void> {
  config = await fetchConfig()
  wireControls(config.rules)
  note('Loading this phone\'s own triage-tag images…')
  const { train, test } = await fetchData(config)
  note('Joining the mesh through the relay…')
  handle = await joinSession({
    bootstrap: config.bootstrap,
    session: config.session,
    train,
    test,
    storage: 'memory',
    wasmPaths: { 'tfjs-backend-wasm.wasm': wasm, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded }
  })
  page.phase = 'joined'
  page.peerId = handle.peerId
  page.backend = handle.backend.name
  const session = handle
  session.node.addEventListener('connection:open', evt => {
    if (denied(evt.detail.remotePeer.toString())) void evt.detail.close().catch(() => {})
  })
  session.addEventListener('round', evt => { latest = evt.detail; page.rounds = evt.detail.round; render() })
  session.addEventListener('peers', () => { render() })
  session.addEventListener('error', evt => { page.errors.push(evt.detail.message) })
  note('Open this page in more tabs: each tab is one more responder\'s phone.')
  await tick()
}

main().catch((err: Error) => {
  page.phase = 'failed'
  page.errors.push(`${err.name}: ${err.message}`)
  note(`Could not join: ${err.message}`, true)
})
setInterval(() => { if (page.phase !== 'loading') void tick() }, 1500)
