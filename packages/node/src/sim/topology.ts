import { mulberry32 } from '@murmur/protocol'

/** Topologies a simulation can connect its peers in. */
export type TopologySpec =
  | { kind: 'complete' }
  | { kind: 'ring' }
  | { kind: 'random-regular', degree: number }
  | { kind: 'barabasi-albert', m: number }

/** An undirected graph on peers 0..n-1 as a list of edges [a, b] with a < b. */
export type Edges = Array<[number, number]>

/** Build the edges of `spec` on `n` peers (seeded, reproducible). */
export function buildTopology (spec: TopologySpec, n: number, seed = 1): Edges {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a topology needs a positive whole number of peers, got ${n}`)
  switch (spec.kind) {
    case 'complete': return complete(n)
    case 'ring': return ring(n)
    case 'random-regular': return randomRegular(n, spec.degree, seed)
    case 'barabasi-albert': return barabasiAlbert(n, spec.m, seed)
  }
}

/** Parse a CLI topology name: `complete`, `ring`, `regular:4`, `ba:2`. */
export function parseTopology (text: string): TopologySpec {
  const [name, arg] = text.split(':')
  const k = Number(arg)
  if (name === 'complete') return { kind: 'complete' }
  if (name === 'ring') return { kind: 'ring' }
  if ((name === 'regular' || name === 'random-regular') && Number.isInteger(k) && k >= 1) return { kind: 'random-regular', degree: k }
  if ((name === 'ba' || name === 'barabasi-albert') && Number.isInteger(k) && k >= 1) return { kind: 'barabasi-albert', m: k }
  throw new RangeError(`unknown topology "${text}": use complete, ring, regular:<degree> or ba:<m>`)
}

/** Neighbour lists of a graph. */
export function neighbours (edges: Edges, n: number): number[][] {
  const out = Array.from({ length: n }, () => [] as number[])
  for (const [a, b] of edges) { out[a]?.push(b); out[b]?.push(a) }
  return out
}

function complete (n: number): Edges {
  const e: Edges = []
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) e.push([a, b])
  return e
}

function ring (n: number): Edges {
  if (n < 2) return []
  if (n === 2) return [[0, 1]]
  return Array.from({ length: n }, (_, i) => [Math.min(i, (i + 1) % n), Math.max(i, (i + 1) % n)] as [number, number])
}

/**
 * Random d-regular graph: pair random stubs that make a new, non-loop edge (Steger–Wormald
 * style), restarting when the last stubs cannot be paired; retries until connected.
 */
function randomRegular (n: number, d: number, seed: number): Edges {
  if (d >= n || (n * d) % 2 !== 0) throw new RangeError(`no ${d}-regular graph on ${n} peers (need d < n and n·d even)`)
  const rng = mulberry32(seed)
  const pick = (k: number): number => Math.floor(rng() * k)
  for (let attempt = 0; attempt < 500; attempt++) {
    const stubs: number[] = []
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) stubs.push(i)
    const seen = new Set<string>()
    const edges: Edges = []
    while (stubs.length > 0) {
      let paired = false
      for (let t = 0; t < 200 && !paired; t++) {
        const i = pick(stubs.length)
        const j = pick(stubs.length)
        const a = Math.min(stubs[i] as number, stubs[j] as number)
        const b = Math.max(stubs[i] as number, stubs[j] as number)
        if (i === j || a === b || seen.has(`${a}-${b}`)) continue
        seen.add(`${a}-${b}`)
        edges.push([a, b])
        for (const k of [Math.max(i, j), Math.min(i, j)]) { stubs[k] = stubs[stubs.length - 1] as number; stubs.pop() }
        paired = true
      }
      if (!paired) break
    }
    if (stubs.length === 0 && isConnected(edges, n)) return edges
  }
  throw new RangeError(`could not draw a connected ${d}-regular graph on ${n} peers`)
}

/** Barabási–Albert preferential attachment: start from a clique of m+1, each new peer links to m existing ones. */
function barabasiAlbert (n: number, m: number, seed: number): Edges {
  if (m < 1 || m >= n) throw new RangeError(`Barabási–Albert needs 1 ≤ m < n, got m=${m}, n=${n}`)
  const rng = mulberry32(seed)
  const edges: Edges = complete(m + 1)
  const targets: number[] = edges.flat()
  for (let v = m + 1; v < n; v++) {
    const chosen = new Set<number>()
    while (chosen.size < m) chosen.add(targets[Math.floor(rng() * targets.length)] as number)
    for (const u of chosen) { edges.push([u, v]); targets.push(u, v) }
  }
  return edges
}

/** True when every peer can reach every other. */
export function isConnected (edges: Edges, n: number): boolean {
  if (n <= 1) return true
  const adj = neighbours(edges, n)
  const seen = new Set([0])
  const stack = [0]
  while (stack.length > 0) {
    for (const w of adj[stack.pop() as number] ?? []) if (!seen.has(w)) { seen.add(w); stack.push(w) }
  }
  return seen.size === n
}

/** Peers ordered by degree, highest first: the hubs a "connectivity loss" disruption removes. */
export function byDegree (edges: Edges, n: number): number[] {
  const adj = neighbours(edges, n)
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => (adj[b]?.length ?? 0) - (adj[a]?.length ?? 0) || a - b)
}
