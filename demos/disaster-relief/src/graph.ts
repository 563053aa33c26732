/**
 * The mesh as an SVG graph: the relay in the middle (it only carries signalling), devices
 * around it, islands pulled apart while the mesh is cut. Solid lines are direct links,
 * dashed ones go through the relay, green ones carried a model merge last round.
 */
import type { Device, Edge } from './devices.js'

const NS = 'http://www.w3.org/2000/svg'
const W = 640
const H = 440

function el<K extends keyof SVGElementTagNameMap> (name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, name)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text != null) node.textContent = text
  return node
}

/** Where each device sits: one ring, or one ring per island. */
function layout (devices: Device[], relay: string): Map<string, { x: number, y: number }> {
  const pos = new Map<string, { x: number, y: number }>()
  pos.set(relay, { x: W / 2, y: H / 2 })
  const groups = new Map<number, Device[]>()
  for (const d of devices) {
    const k = d.island ?? -1
    let g = groups.get(k)
    if (g == null) groups.set(k, g = [])
    g.push(d)
  }
  const keys = [...groups.keys()].sort((a, b) => a - b)
  if (keys.length <= 1) {
    const ring = groups.get(keys[0] ?? -1) ?? []
    const r = Math.min(170, 60 + ring.length * 18)
    ring.forEach((d, i) => {
      const t = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(1, ring.length)
      pos.set(d.peerId, { x: W / 2 + r * Math.cos(t), y: H / 2 + r * Math.sin(t) })
    })
    return pos
  }
  // islands: clusters side by side, the relay stays between them
  keys.forEach((k, gi) => {
    const ring = groups.get(k) ?? []
    const cx = (W / (keys.length + 1)) * (gi + 1) + (gi < keys.length / 2 ? -40 : 40)
    const cy = H / 2
    const r = ring.length === 1 ? 0 : Math.min(110, 40 + ring.length * 14)
    ring.forEach((d, i) => {
      const t = -Math.PI / 2 + (2 * Math.PI * i) / ring.length
      pos.set(d.peerId, { x: cx + r * Math.cos(t), y: cy + r * Math.sin(t) })
    })
  })
  return pos
}

/** Redraw the graph in `svg`. */
export function drawGraph (svg: SVGSVGElement, devices: Device[], edges: Edge[], relay: string, islands: boolean): void {
  const live = devices.filter(d => d.live)
  const pos = layout(live, relay)
  svg.replaceChildren()
  if (islands) {
    svg.append(el('line', { x1: W / 2, y1: 20, x2: W / 2, y2: H - 20, stroke: '#e57373', 'stroke-width': 1.5, 'stroke-dasharray': '6 6', opacity: 0.6 }))
    svg.append(el('text', { x: W / 2, y: 16, 'text-anchor': 'middle', fill: '#e57373', 'font-size': 12 }, 'mesh cut: islands cannot reach each other'))
  }
  const lines = el('g', {})
  for (const e of edges) {
    const a = pos.get(e.a)
    const b = pos.get(e.b)
    if (a == null || b == null) continue
    const toRelay = e.a === relay || e.b === relay
    lines.append(el('line', {
      x1: a.x, y1: a.y, x2: b.x, y2: b.y,
      stroke: e.merged ? '#aed581' : toRelay ? '#4a4060' : '#6b7b8c',
      'stroke-width': e.merged ? 3 : toRelay ? 1 : 1.6,
      'stroke-dasharray': e.direct ? '' : '5 4',
      opacity: toRelay ? 0.7 : 0.95,
      'data-edge': `${e.a} ${e.b}`
    }))
  }
  svg.append(lines)

  const r = pos.get(relay)
  if (r != null) {
    svg.append(el('rect', { x: r.x - 12, y: r.y - 12, width: 24, height: 24, fill: '#9575cd', transform: `rotate(45 ${r.x} ${r.y})`, rx: 2 }))
    svg.append(el('text', { x: r.x, y: r.y + 30, 'text-anchor': 'middle', fill: '#b39ddb', 'font-size': 11 }, 'relay'))
  }
  for (const d of live) {
    const p = pos.get(d.peerId)
    if (p == null) continue
    const g = el('g', { 'data-peer': d.peerId, class: `device ${d.kind}` })
    const fill = d.kind === 'edge' ? '#ffb74d' : '#4fc3f7'
    if (d.kind === 'edge') g.append(el('rect', { x: p.x - 13, y: p.y - 13, width: 26, height: 26, rx: 4, fill, stroke: d.color, 'stroke-width': 3 }))
    else g.append(el('circle', { cx: p.x, cy: p.y, r: 14, fill, stroke: d.color, 'stroke-width': 3 }))
    if (d.self) g.append(el('circle', { cx: p.x, cy: p.y, r: 20, fill: 'none', stroke: '#4fc3f7', 'stroke-width': 1.5, 'stroke-dasharray': '3 3' }))
    const acc = d.accuracy != null ? `${(d.accuracy * 100).toFixed(0)} %` : '…'
    g.append(el('text', { x: p.x, y: p.y + 4, 'text-anchor': 'middle', fill: '#0f1419', 'font-size': 10, 'font-weight': 700 }, acc))
    g.append(el('text', { x: p.x, y: p.y + 30, 'text-anchor': 'middle', fill: '#e6edf3', 'font-size': 12 }, d.self ? `${d.name} (you)` : d.name))
    g.append(el('title', {}, `${d.name}: ${d.kind === 'edge' ? 'edge box (Node agent)' : 'phone (browser tab)'}, ${d.backend}, ${d.samples} own images`))
    svg.append(g)
  }
  if (live.length === 0) svg.append(el('text', { x: W / 2, y: H / 2 + 50, 'text-anchor': 'middle', fill: '#8b98a5', 'font-size': 13 }, 'waiting for devices…'))
}
