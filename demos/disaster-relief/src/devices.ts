/**
 * One picture of the session from three sources: the shared Yjs document (members, their
 * metrics: the same in every tab), the demo server's state (which peers are Node agents,
 * their links, islands) and this tab's own connections.
 */
import { listMembers, listMetrics } from '@murmur/protocol'
import type { MetricEntry, RoundMetrics } from '@murmur/protocol'
import type { MurmurSession } from '@murmur/browser'
import type { DemoState, Link } from './api.js'

/** A device as the page draws it. */
export interface Device {
  peerId: string
  name: string
  kind: 'phone' | 'edge'
  self: boolean
  /** Still in the session (not left, seen recently). */
  live: boolean
  backend: string
  samples: number
  round: number
  accuracy?: number
  loss?: number
  bytesSent: number
  bytesReceived: number
  /** How this tab reaches it, if connected. */
  linkToSelf?: { transport: string, direct: boolean }
  island?: number
  color: string
  /** Accuracy and loss by round, from the shared metrics log. */
  history: MetricEntry[]
}

/** A link between two devices (or a device and the relay). */
export interface Edge {
  a: string
  b: string
  direct: boolean
  merged: boolean
}

/** A member unseen for this long counts as gone (ms); presence beacons come every 5 s. */
const GONE_AFTER = 20_000
const PALETTE = ['#ffb74d', '#4fc3f7', '#81c784', '#f06292', '#ba68c8', '#fff176', '#4db6ac', '#ff8a65', '#90caf9', '#dce775', '#a1887f', '#e0e0e0']
const names = new Map<string, string>()
const colors = new Map<string, string>()

function colorOf (peerId: string): string {
  let c = colors.get(peerId)
  if (c == null) {
    c = PALETTE[colors.size % PALETTE.length] as string
    colors.set(peerId, c)
  }
  return c
}

/** Everything the views need, recomputed on every tick. */
export function collectDevices (doc: MurmurSession['doc'], state: DemoState | undefined, self: { peerId: string, links: Link[], latest?: RoundMetrics, backend: string }): { devices: Device[], edges: Edge[] } {
  const now = Date.now()
  for (const a of state?.agents ?? []) names.set(a.peerId, a.name)
  const agents = new Map((state?.agents ?? []).map(a => [a.peerId, a]))
  const everAgent = (id: string): boolean => agents.has(id) || names.has(id)
  const islandOf = new Map<string, number>()
  state?.islands?.forEach((members, k) => { for (const p of members) islandOf.set(p, k) })
  const selfLinks = new Map(self.links.map(l => [l.peer, l]))
  const byPeer = new Map<string, MetricEntry[]>()
  for (const m of listMetrics(doc)) {
    let list = byPeer.get(m.peerId)
    if (list == null) byPeer.set(m.peerId, list = [])
    list.push(m)
  }

  const devices: Device[] = []
  for (const m of listMembers(doc)) {
    const history = byPeer.get(m.peerId) ?? []
    const last = history.at(-1)
    const isSelf = m.peerId === self.peerId
    const agent = agents.get(m.peerId)
    const kind = everAgent(m.peerId) ? 'edge' : 'phone'
    const live = isSelf || agent != null || (m.leftAt == null && now - m.lastSeen < GONE_AFTER && !(kind === 'edge' && state != null))
    const link = selfLinks.get(m.peerId)
    devices.push({
      peerId: m.peerId,
      name: names.get(m.peerId) ?? `phone-${m.peerId.slice(-4)}`,
      kind,
      self: isSelf,
      live,
      backend: m.backend,
      samples: m.samples,
      round: (isSelf ? self.latest?.round : undefined) ?? last?.round ?? 0,
      accuracy: (isSelf ? self.latest?.accuracy : undefined) ?? last?.accuracy,
      loss: finite((isSelf ? self.latest?.loss : undefined) ?? last?.loss),
      bytesSent: last?.bytesSent ?? 0,
      bytesReceived: last?.bytesReceived ?? 0,
      ...(link != null ? { linkToSelf: { transport: link.transport, direct: link.direct } } : {}),
      ...(islandOf.has(m.peerId) ? { island: islandOf.get(m.peerId) } : {}),
      color: colorOf(m.peerId),
      history
    })
  }
  devices.sort((x, y) => Number(y.self) - Number(x.self) || (x.kind === y.kind ? 0 : x.kind === 'edge' ? -1 : 1) || x.name.localeCompare(y.name))

  const live = new Set(devices.filter(d => d.live).map(d => d.peerId))
  if (state != null) live.add(state.relay)
  const edges = new Map<string, Edge>()
  const add = (a: string, b: string, direct: boolean, merged: boolean): void => {
    if (!live.has(a) || !live.has(b) || a === b) return
    const key = a < b ? `${a}|${b}` : `${b}|${a}`
    const cur = edges.get(key)
    edges.set(key, { a, b, direct: direct || (cur?.direct ?? false), merged: merged || (cur?.merged ?? false) })
  }
  for (const a of state?.agents ?? []) {
    for (const l of a.links) add(a.peerId, l.peer, l.direct, false)
    for (const p of a.mergedWith) add(a.peerId, p, true, true)
  }
  for (const b of state?.browsers ?? []) {
    if (b.peerId === self.peerId) continue
    for (const l of b.links) add(b.peerId, l.peer, l.direct, false)
    for (const p of b.mergedWith) add(b.peerId, p, true, true)
  }
  for (const l of self.links) add(self.peerId, l.peer, l.direct, false)
  for (const p of self.latest?.mergedWith ?? []) add(self.peerId, p, true, true)
  return { devices, edges: [...edges.values()] }
}

function finite (v: number | undefined): number | undefined {
  return v != null && Number.isFinite(v) ? v : undefined
}

/** 1234567 → "1.2 MB". */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}
