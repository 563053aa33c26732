import { MurmurError } from '@murmur/protocol'

/** A command line the CLI cannot act on: unknown command or flag, a missing or malformed value. */
export class UsageError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_USAGE', options)
    this.name = 'UsageError'
  }
}

/** A string that should be a multiaddr and is not (or lacks a part the caller needs, e.g. `/p2p/<id>`). */
export class InvalidMultiaddrError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MULTIADDR', options)
    this.name = 'InvalidMultiaddrError'
  }
}

/** None of the bootstrap peers answered in time. */
export class BootstrapUnreachableError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_BOOTSTRAP_UNREACHABLE', options)
    this.name = 'BootstrapUnreachableError'
  }
}

/** A peer given by address (e.g. to `murmur status`) could not be dialled. */
export class PeerUnreachableError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_PEER_UNREACHABLE', options)
    this.name = 'PeerUnreachableError'
  }
}

/** A listen address is taken by another process. */
export class AddressInUseError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_ADDRESS_IN_USE', options)
    this.name = 'AddressInUseError'
  }
}

/** The identity file in the data directory exists but cannot be used as a private key. */
export class InvalidIdentityError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_IDENTITY', options)
    this.name = 'InvalidIdentityError'
  }
}
