import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'uint8arrays/equals'
import { MAX_SHARD_SIZE } from '../wire/index.js'
import { InvalidShardError } from './errors.js'

/** The CID Murmur gives a block: CIDv1, raw codec, sha2-256 of its bytes. */
export async function cidForBytes (bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes))
}

/**
 * Throw `InvalidShardError` unless `bytes` is a block Murmur may hold under `cid`: a CIDv1
 * raw sha2-256 whose digest matches, at most `MAX_SHARD_SIZE` bytes.
 */
export async function verifyShard (cid: CID, bytes: Uint8Array): Promise<void> {
  if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== sha256.code) {
    throw new InvalidShardError(cid, 'not a CIDv1 raw sha2-256 block CID')
  }
  if (!(bytes instanceof Uint8Array)) throw new InvalidShardError(cid, 'bytes must be a Uint8Array')
  if (bytes.byteLength > MAX_SHARD_SIZE) {
    throw new InvalidShardError(cid, `${bytes.byteLength} bytes exceed the ${MAX_SHARD_SIZE}-byte block limit`)
  }
  const digest = await sha256.digest(bytes)
  if (!equals(digest.digest, cid.multihash.digest)) throw new InvalidShardError(cid, 'bytes do not match the hash')
}
