/**
 * Models as content: a snapshot becomes fixed-size shards named by CIDv1 (raw, sha2-256)
 * plus a manifest block listing them; blocks are hash-checked on every way in.
 */
export { InvalidShardError, ShardNotFoundError, InvalidManifestError, InvalidModelContentError } from './errors.js'
export { cidForBytes, verifyShard } from './cid.js'
export {
  DEFAULT_SHARD_SIZE, createModelContent, rebuildSnapshot, toWireEncoding, fromWireEncoding
} from './model-content.js'
export type { ModelContent, ModelContentOptions } from './model-content.js'
export { MemoryShardStore, DatastoreShardStore } from './store.js'
export type { ShardStore, ShardStoreStats } from './store.js'
export {
  DEFAULT_DELTA_CHUNK_SIZE, InvalidDeltaError, UnknownDeltaBaseError, isDeltaManifest, createDeltaContent, rebuildModelDelta, applyModelDelta
} from './delta-content.js'
export type { TensorDelta, ModelDelta, DeltaContentOptions } from './delta-content.js'
