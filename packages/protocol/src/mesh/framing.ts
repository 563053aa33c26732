import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Stream, AbortOptions } from '@libp2p/interface'
import { ProtocolViolationError } from './errors.js'

/**
 * A length-prefixed view of a stream that refuses any frame over `maxMessageSize` before
 * reading its body, so a peer cannot make us buffer more than the protocol allows.
 */
export interface Framed {
  read(options?: AbortOptions): Promise<Uint8Array>
  write(bytes: Uint8Array, options?: AbortOptions): Promise<void>
  stream: Stream
}

/** Wrap a stream in length-prefixed framing limited to `maxMessageSize` bytes a frame. */
export function framed (stream: Stream, maxMessageSize: number): Framed {
  const lp: LengthPrefixedStream<Stream> = lpStream(stream, { maxDataLength: maxMessageSize })
  return {
    stream,
    async read (options) {
      try {
        const list = await lp.read(options)
        return list.subarray()
      } catch (err) {
        const name = (err as Error).name
        if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError') {
          throw new ProtocolViolationError(`frame larger than ${maxMessageSize} bytes or malformed length prefix`, { cause: err })
        }
        throw err
      }
    },
    async write (bytes, options) {
      await lp.write(bytes, options)
    }
  }
}
