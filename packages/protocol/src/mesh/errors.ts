import { MurmurError } from '../errors.js'

/** A remote peer broke the protocol: wrong message type, wrong session, oversized frame. */
export class ProtocolViolationError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_PROTOCOL_VIOLATION', options)
    this.name = 'ProtocolViolationError'
  }
}

/** A peer sent more requests than its rate limit allows. */
export class RateLimitedError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_RATE_LIMITED')
    this.name = 'RateLimitedError'
  }
}

/** A fetch could not complete: no provider had a shard, or every provider failed. */
export class FetchFailedError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_FETCH_FAILED', options)
    this.name = 'FetchFailedError'
  }
}
