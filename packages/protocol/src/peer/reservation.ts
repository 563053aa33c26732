import type { Libp2p } from '@libp2p/interface'

/** The node's relayed (`/p2p-circuit`) addresses: the reservations it holds. */
export function circuitAddresses (node: Pick<Libp2p, 'getMultiaddrs'>): string[] {
  return node.getMultiaddrs().map(String).filter(a => a.includes('/p2p-circuit'))
}

/**
 * Resolve with the node's relayed addresses once it holds a relay reservation, or with
 * none after `ms` (or when `signal` aborts). Peers behind NAT are reachable only through one.
 */
export async function waitForReservation (node: Pick<Libp2p, 'getMultiaddrs' | 'addEventListener' | 'removeEventListener'>, ms: number, signal?: AbortSignal): Promise<string[]> {
  if (circuitAddresses(node).length > 0 || ms <= 0) return circuitAddresses(node)
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      node.removeEventListener('self:peer:update', check)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const check = (): void => { if (circuitAddresses(node).length > 0) done() }
    const timer = setTimeout(done, ms)
    node.addEventListener('self:peer:update', check)
    signal?.addEventListener('abort', done, { once: true })
  })
  return circuitAddresses(node)
}
