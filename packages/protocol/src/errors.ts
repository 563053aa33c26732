/**
 * Base class of every error Murmur raises on purpose. Each subclass has a stable `name`
 * (so callers can branch on `err.name` across package boundaries) and a `code`.
 */
export class MurmurError extends Error {
  /** A stable, machine-readable code, e.g. `ERR_INVALID_SHARD`. */
  readonly code: string

  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MurmurError'
    this.code = code
  }
}
