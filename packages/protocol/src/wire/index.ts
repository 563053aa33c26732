/**
 * Murmur's wire layer: the protobuf messages (`murmur.proto`, compiled by protons), the
 * protocol ids and topics they travel on, the size limit of each, and decoders that never
 * let a peer's bad bytes escape as anything but a `WireFormatError`.
 *
 * Use the `encode*`/`decode*` functions below rather than the raw protons codecs
 * (`ModelManifest.decode`, …): they add the size limits and semantic checks. Decoded
 * `bytes` fields may share memory with the input buffer.
 */
export {
  Encoding, TensorInfo, ModelManifest, ShardRequest, ShardResponse, HeadAnnouncement, StateSyncMessage, MembershipGrant
} from './murmur.js'
export { WireFormatError, MessageTooLargeError, InvalidSessionIdError } from './errors.js'
export {
  PROTOCOL_SHARD, PROTOCOL_STATE, MANIFEST_FORMAT, MAX_SHARD_SIZE, MAX_TENSORS, MAX_RANK, MAX_SHARDS, MAX_NAME_LENGTH,
  MAX_SIZES, MAX_GOSSIP_UPDATE, MAX_HEAD_VERSION, isValidSessionId, assertSessionId, stateTopic, headsTopic
} from './limits.js'
export type { MessageKind } from './limits.js'
export {
  parseBlockCid, validateManifest,
  encodeManifest, decodeManifest,
  encodeShardRequest, decodeShardRequest,
  encodeShardResponse, decodeShardResponse,
  encodeHeadAnnouncement, decodeHeadAnnouncement,
  encodeStateSyncMessage, decodeStateSyncMessage,
  encodeMembershipGrant, decodeMembershipGrant
} from './messages.js'
