import { MurmurError } from '../errors.js'
import { WireFormatError } from '../wire/index.js'
import type { CID } from 'multiformats/cid'

/**
 * A block whose bytes do not hash to its CID, that has the wrong length for its place in a
 * model, or that no Murmur peer should hold (wrong CID kind, too large). Never store or
 * use such a block; the peer that sent it is the one to distrust.
 */
export class InvalidShardError extends MurmurError {
  /** The CID the block was supposed to have. */
  readonly cid: CID

  constructor (cid: CID, problem: string) {
    super(`invalid block ${cid.toString()}: ${problem}`, 'ERR_INVALID_SHARD')
    this.name = 'InvalidShardError'
    this.cid = cid
  }
}

/** A store holds no block with this CID. */
export class ShardNotFoundError extends MurmurError {
  /** The CID that was asked for. */
  readonly cid: CID

  constructor (cid: CID) {
    super(`block ${cid.toString()} not found`, 'ERR_SHARD_NOT_FOUND')
    this.name = 'ShardNotFoundError'
    this.cid = cid
  }
}

/**
 * A manifest whose tensor layout does not match its encoding (byte lengths that the codec
 * would not produce). A `WireFormatError`, like the format checks the wire layer makes.
 */
export class InvalidManifestError extends WireFormatError {
  constructor (message: string) {
    super(`invalid manifest: ${message}`, undefined, 'ERR_INVALID_MANIFEST')
    this.name = 'InvalidManifestError'
  }
}

/** A snapshot or options given to `createModelContent` that cannot make a model. */
export class InvalidModelContentError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_MODEL_CONTENT')
    this.name = 'InvalidModelContentError'
  }
}
