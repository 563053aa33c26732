import { KEEP_ALIVE } from '@libp2p/interface'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { sleep } from '@murmur/protocol'
import { BootstrapUnreachableError, InvalidMultiaddrError } from '../errors.js'

/** libp2p's reconnect queue redials peers whose tag starts with KEEP_ALIVE after they drop. */
export const BOOTSTRAP_TAG = `${KEEP_ALIVE}-murmur-bootstrap`

/** How bootstrap peers are dialled. */
export interface BootstrapDialOptions {
  /**
   * Dial attempts per bootstrap address before giving up on it.
   * @default 6
   */
  attempts?: number
  /**
   * Wait before the second attempt; doubles after each failure.
   * @default 1000
   */
  initialBackoff?: number
  /**
   * Longest wait between two attempts.
   * @default 30000
   */
  maxBackoff?: number
  /**
   * How long one dial may take.
   * @default 10000
   */
  dialTimeout?: number
  /** Stops the dialling (the node's own stop also does). */
  signal?: AbortSignal
}

/** Parse a multiaddr given by a user, naming the option it came from when it is malformed. */
export function parseMultiaddr (text: string, what = 'multiaddr'): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(text)
  } catch (err) {
    throw new InvalidMultiaddrError(`invalid ${what} "${text}": expected e.g. /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...`, { cause: err })
  }
  // a /p2p/ part that is base58 but no peer id would otherwise surface only as a dial timeout
  for (const c of ma.getComponents()) {
    if (c.name !== 'p2p' || c.value == null) continue
    try {
      peerIdFromString(c.value)
    } catch (err) {
      throw new InvalidMultiaddrError(`invalid ${what} "${text}": "${c.value}" after /p2p/ is not a peer id (they look like 12D3KooW... or Qm...)`, { cause: err })
    }
  }
  return ma
}

/**
 * Dial each bootstrap address, retrying with exponential backoff, and tag the peers that
 * answer so libp2p redials them after a drop. Resolves with the first peer that
 * connected; rejects with `BootstrapUnreachableError` once every address has run out of
 * attempts. The other addresses keep being dialled in the background.
 */
export async function dialBootstrap (node: Libp2p, addrs: Multiaddr[], options: BootstrapDialOptions = {}): Promise<PeerId> {
  if (addrs.length === 0) throw new BootstrapUnreachableError('no bootstrap address given')
  const stopped = new AbortController()
  const onStop = (): void => { stopped.abort() }
  node.addEventListener('stop', onStop, { once: true })
  const signal = options.signal == null ? stopped.signal : AbortSignal.any([stopped.signal, options.signal])
  const attempts = Math.max(1, options.attempts ?? 6)
  const dials = addrs.map(async addr => dialOne(node, addr, attempts, options, signal))
  try {
    return await Promise.any(dials)
  } catch (err) {
    const reasons = err instanceof AggregateError ? err.errors : [err]
    const why = reasons.map(e => (e as Error).message).join('; ')
    throw new BootstrapUnreachableError(`could not reach any bootstrap peer (${addrs.map(String).join(', ')}): ${why}`, { cause: err })
  } finally {
    void Promise.allSettled(dials).then(() => { node.removeEventListener('stop', onStop) })
  }
}

async function dialOne (node: Libp2p, addr: Multiaddr, attempts: number, options: BootstrapDialOptions, signal: AbortSignal): Promise<PeerId> {
  let backoff = options.initialBackoff ?? 1000
  let last: unknown
  for (let attempt = 1; attempt <= attempts && !signal.aborted; attempt++) {
    try {
      const connection = await node.dial(addr, { signal: AbortSignal.any([signal, AbortSignal.timeout(options.dialTimeout ?? 10_000)]) })
      await node.peerStore.merge(connection.remotePeer, { tags: { [BOOTSTRAP_TAG]: { value: 50 } } })
      return connection.remotePeer
    } catch (err) {
      last = err
      if (attempt < attempts) {
        await sleep(backoff, signal)
        backoff = Math.min(backoff * 2, options.maxBackoff ?? 30_000)
      }
    }
  }
  const reason = signal.aborted ? 'stopped' : describe(last)
  throw new Error(`${addr.toString()}: ${reason}`)
}

function describe (err: unknown): string {
  if (err instanceof Error) return err.name === 'TimeoutError' || err.name === 'AbortError' ? 'timed out' : err.message
  return String(err)
}
