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

/** Random d-regular graph by repeated configuration-model pairing (retries until simple). */
function randomRegular (n: number, d: number, seed: number): Edges {
  if (d >= n || (n * d) % 2 !== 0) throw new RangeError(`no ${d}-regular graph on ${n} peers (need d < n and n·d even)`)
  const rng = mulberry32(seed)
  for (let attempt = 0; attempt < 1000; attempt++) {
    const stubs: number[] = []
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) stubs.push(i)
    for (let i = stubs.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1))
      const t = stubs[i] as number; stubs[i] = stubs[j] as number; stubs[j] = t
    }
    const seen = new Set<string>()
    const edges: Edges = []
    let ok = true
    for (let i = 0; i < stubs.length; i += 2) {
      const a = Math.min(stubs[i] as number, stubs[i + 1] as number)
      const b = Math.max(stubs[i] as number, stubs[i + 1] as number)
      const key = `${a}-${b}`
      if (a === b || seen.has(key)) { ok = false; break }
      seen.add(key)
      edges.push([a, b])
    }
    if (ok && isConnected(edges, n)) return edges
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
