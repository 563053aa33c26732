import { MurmurError } from '../errors.js'

/**
 * Bytes from the network (or a caller) that do not form a valid Murmur message: bad
 * protobuf, an unknown enum value, a field out of range, an inconsistent layout.
 */
export class WireFormatError extends MurmurError {
  constructor (message: string, options?: ErrorOptions, code = 'ERR_WIRE_FORMAT') {
    super(message, code, options)
    this.name = 'WireFormatError'
  }
}

/** A message over its type's size limit (`MAX_SIZES`), refused before any decoding. */
export class MessageTooLargeError extends WireFormatError {
  /** Size of the refused message in bytes. */
  readonly size: number
  /** The limit it broke. */
  readonly limit: number

  constructor (what: string, size: number, limit: number) {
    super(`${what} of ${size} bytes exceeds the limit of ${limit} bytes`, undefined, 'ERR_MESSAGE_TOO_LARGE')
    this.name = 'MessageTooLargeError'
    this.size = size
    this.limit = limit
  }
}

/** A session id that cannot name a topic: ids are 1–64 characters of `[A-Za-z0-9._-]`. */
export class InvalidSessionIdError extends MurmurError {
  constructor (session: unknown) {
    const shown = typeof session === 'string' ? JSON.stringify(session.slice(0, 80)) : typeof session
    super(`invalid session id ${shown}: use 1-64 characters of A-Z a-z 0-9 . _ -`, 'ERR_INVALID_SESSION_ID')
    this.name = 'InvalidSessionIdError'
  }
}
