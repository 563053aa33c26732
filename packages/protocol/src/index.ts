/**
 * @murmur/protocol: the isomorphic core of Murmur.
 *
 * Layers, lowest first; a layer imports only from layers above it in this list:
 * wire (protobuf formats, ids, limits) → learn (Float32Array math and codecs) →
 * content (manifests and shards) → state (the session's Yjs document) →
 * train (tfjs models) → mesh (libp2p services) → session (the gossip-learning loop) →
 * peer (the front door: one session peer assembled for every binding).
 */
export * from './errors.js'
export * from './wire/index.js'
export * from './learn/index.js'
export * from './content/index.js'
export * from './state/index.js'
export * from './train/index.js'
export * from './mesh/index.js'
export * from './session/index.js'
export * from './peer/index.js'
