import { MurmurError } from '@murmur/protocol'

/** Options given to `joinSession` / `createBrowserPeer` that cannot work, with what to change. */
export class InvalidOptionsError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_OPTIONS', options)
    this.name = 'InvalidOptionsError'
  }
}

/** No bootstrap relay answered, so the page cannot reach the mesh. */
export class BootstrapUnreachableError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_BOOTSTRAP_UNREACHABLE', options)
    this.name = 'BootstrapUnreachableError'
  }
}

/** IndexedDB could not be opened (private mode, quota, blocked upgrade). */
export class StorageUnavailableError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_STORAGE_UNAVAILABLE', options)
    this.name = 'StorageUnavailableError'
  }
}

/** A stored snapshot or document could not be read back; the page starts fresh instead. */
export class CorruptStorageError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_CORRUPT_STORAGE', options)
    this.name = 'CorruptStorageError'
  }
}
