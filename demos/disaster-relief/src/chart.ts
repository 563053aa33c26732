/**
 * Line charts on a canvas: one line per device, by round. Drawn from the session's shared
 * metrics log, so every tab shows every device's curve.
 */
import type { Device } from './devices.js'

/** Options of `drawChart`. */
export interface ChartOptions {
  value: (m: Device['history'][number]) => number
  /** Fixed y range, or undefined to fit the data. */
  range?: [number, number]
  format: (v: number) => string
}

/** Redraw a chart of every device's history. */
export function drawChart (canvas: HTMLCanvasElement, devices: Device[], options: ChartOptions): void {
  const ctx = canvas.getContext('2d')
  if (ctx == null) return
  const dpr = window.devicePixelRatio ?? 1
  const cssW = canvas.clientWidth || canvas.width
  const cssH = Math.round(cssW * (Number(canvas.getAttribute('height')) / Number(canvas.getAttribute('width'))))
  if (canvas.width !== Math.round(cssW * dpr)) {
    canvas.width = Math.round(cssW * dpr)
    canvas.height = Math.round(cssH * dpr)
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  ctx.clearRect(0, 0, cssW, cssH)
  const pad = { l: 44, r: 10, t: 8, b: 22 }
  const w = cssW - pad.l - pad.r
  const h = cssH - pad.t - pad.b

  const series = devices.map(d => ({ d, points: d.history.map(m => ({ x: m.round, y: options.value(m) })).filter(p => Number.isFinite(p.y)) }))
  const all = series.flatMap(s => s.points)
  const maxX = Math.max(10, ...all.map(p => p.x))
  let [lo, hi] = options.range ?? [Math.min(...all.map(p => p.y)), Math.max(...all.map(p => p.y))]
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1]
  if (hi - lo < 1e-6) hi = lo + 1
  const X = (x: number): number => pad.l + (x / maxX) * w
  const Y = (y: number): number => pad.t + h - ((y - lo) / (hi - lo)) * h

  ctx.font = '11px system-ui, sans-serif'
  ctx.strokeStyle = '#2a3440'
  ctx.fillStyle = '#8b98a5'
  ctx.lineWidth = 1
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4
    const y = Y(v)
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + w, y); ctx.stroke()
    ctx.textAlign = 'right'
    ctx.fillText(options.format(v), pad.l - 6, y + 4)
  }
  ctx.textAlign = 'center'
  for (let i = 0; i <= 5; i++) {
    const x = Math.round((maxX * i) / 5)
    ctx.fillText(String(x), X(x), pad.t + h + 16)
  }
  ctx.textAlign = 'left'
  ctx.fillText('round', pad.l + w - 34, pad.t + h + 16 - 12)

  for (const { d, points } of series) {
    if (points.length === 0) continue
    ctx.strokeStyle = d.color
    ctx.globalAlpha = d.live ? 1 : 0.35
    ctx.lineWidth = d.self ? 2.5 : 1.6
    ctx.setLineDash(d.kind === 'edge' ? [] : [6, 3])
    ctx.beginPath()
    points.forEach((p, i) => { if (i === 0) ctx.moveTo(X(p.x), Y(p.y)); else ctx.lineTo(X(p.x), Y(p.y)) })
    ctx.stroke()
  }
  ctx.setLineDash([])
  ctx.globalAlpha = 1
  if (all.length === 0) {
    ctx.fillStyle = '#8b98a5'
    ctx.textAlign = 'center'
    ctx.fillText('the first round is training…', pad.l + w / 2, pad.t + h / 2)
  }
}
