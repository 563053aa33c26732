import { randomBytes } from 'node:crypto'
import type { Connection } from '@libp2p/interface'

const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_LENGTH = 32

/**
 * Round trip one ping over this very connection (not whichever one libp2p would pick for
 * the peer) and return the milliseconds it took. Proves the connection carries data: a
 * WebRTC connection can open on one side while ICE never completes on the other.
 */
export async function pingConnection (connection: Connection, options: { signal?: AbortSignal } = {}): Promise<number> {
  const signal = options.signal ?? AbortSignal.timeout(10_000)
  const stream = await connection.newStream(PING_PROTOCOL, { signal })
  const onAbort = (): void => { stream.abort(new Error('ping timed out')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    const sent = randomBytes(PING_LENGTH)
    const started = performance.now()
    stream.send(sent)
    const received = new Uint8Array(PING_LENGTH)
    let length = 0
    for await (const chunk of stream) {
      const bytes = chunk.subarray()
      received.set(bytes.subarray(0, PING_LENGTH - length), length)
      length += Math.min(bytes.length, PING_LENGTH - length)
      if (length === PING_LENGTH) break
    }
    if (length !== PING_LENGTH || !sent.equals(received)) throw new Error('ping answer did not echo the ping')
    const ms = performance.now() - started
    await stream.close({ signal }).catch(() => {})
    return Math.round(ms * 10) / 10
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
