/**
 * @murmur/browser: join a Murmur training session from any web page. The page becomes a
 * full peer (WebSockets to a relay, direct WebRTC to other peers, IndexedDB storage, the
 * fastest tfjs backend the device has) running the same gossip-learning loop as Node agents.
 */
export { joinSession } from './session.js'
export type { JoinSessionOptions, MurmurSession, MurmurSessionEvents } from './session.js'
export { createBrowserPeer, MURMUR_BROWSER_USER_AGENT } from './peer.js'
export type { BrowserPeer, BrowserPeerOptions } from './peer.js'
export { selectBackend, setDefaultWasmPaths, webgpuFallbackAdapter } from './backend.js'
export type { BackendPreference, BackendReport, SelectBackendOptions, WasmPaths } from './backend.js'
export { discoverSessionPeers, sessionRendezvous, isRelayedConnection } from './discovery.js'
export type { SessionDiscovery, SessionDiscoveryOptions } from './discovery.js'
export { peerViews, transportOfConnection } from './connections.js'
export type { PeerView } from './connections.js'
export { openStorage, encodeSnapshot, decodeSnapshot } from './storage.js'
export type { PeerStorage, StorageKind } from './storage.js'
export { InvalidOptionsError, BootstrapUnreachableError, StorageUnavailableError, CorruptStorageError } from './errors.js'
// the front door's own parts, so a page needs only this package
export {
  SessionPeer, SessionUnreachableError, SessionConfigConflictError, InvalidSessionOptionsError, InvalidModelConfigError, UnknownLayerError,
  UnknownMergeRuleError, RoundsFailingError, registerMergeRule, registerLoss, registerMetric,
  // to evaluate or train a model outside a session, and to split data reproducibly
  Trainer, subset, partitionIid, partitionDirichlet, mulberry32, shuffleInPlace, waitForReservation, mnistMlp
} from '@murmur/protocol'
export type {
  Dataset, Batch, TrainingData, ModelConfig, TrainingHyperparameters, SessionSettings, SessionPace, SessionConfig, AveragingRule, RoundMetrics,
  MurmurNode, ModelInput, Checkpoint, CheckpointStore, CustomMergeRule, MergeContext
} from '@murmur/protocol'
