/**
 * @murmur/node: Murmur's Node.js binding. `joinSession` is the front door (protocol's
 * `SessionPeer` with TCP, WebSockets, WebRTC, circuit relay and DCUtR, a data directory that
 * survives restarts, and the tfjs WASM/cpu backend); the rest is what the `murmur` CLI runs:
 * relays, agents, status, and the data loaders for users' own files.
 *
 * The simulator lives at `@murmur/node/sim`.
 */
export { joinSession } from './agent/join-session.js'
export type { NodeJoinOptions, NodeSessionPeer, NodeAgentEvent } from './agent/join-session.js'
export { trainLocally } from './agent/local-session.js'
export type { LocalSessionInit, LocalSessionResult } from './agent/local-session.js'
export { runTrainingAgent, loadPartition, partitionOf, AGENT_DATASETS, parsePartition, parsePartitionKind } from './agent/training-agent.js'
export type { TrainingAgent, TrainingAgentOptions, TrainingAgentEvent, PartitionChoice, AgentData, AgentDataset } from './agent/training-agent.js'
export { createNodePeer, MURMUR_DHT_PROTOCOL, MURMUR_USER_AGENT } from './peer/node-peer.js'
export type { NodePeer, NodePeerOptions, NodePeerServices, RelayServerLimits } from './peer/node-peer.js'
export { directUpgrade, isRelayed } from './peer/direct-upgrade.js'
export type { DirectUpgrade, DirectUpgradeInit, DirectUpgradeComponents, DirectUpgradeRecord } from './peer/direct-upgrade.js'
export { dialBootstrap, parseMultiaddr, BOOTSTRAP_TAG } from './peer/bootstrap.js'
export type { BootstrapDialOptions } from './peer/bootstrap.js'
export { loadOrCreateIdentity, IDENTITY_FILE } from './peer/identity.js'
export { transportOf, summarizeConnection } from './peer/connection-info.js'
export type { TransportName, ConnectionSummary } from './peer/connection-info.js'
export { pingConnection } from './peer/probe.js'
export { runAgent } from './agent/agent.js'
export type { Agent, AgentOptions, AgentEvent, ConnectReport } from './agent/agent.js'
export { discoverAgentPeers, agentDial } from './agent/discovery.js'
export type { AgentDiscoveryOptions } from './agent/discovery.js'
export { peerStatus, formatStatus } from './agent/status.js'
export type { PeerStatus, PeerStatusOptions } from './agent/status.js'
export { runRelay, relayListenAddrs, RELAY_DEFAULT_LIMITS } from './relay/relay.js'
export type { Relay, RelayOptions, RelayEvent } from './relay/relay.js'
export { ModelCheckpoints, CheckpointUnusableError } from './storage/checkpoints.js'
export * from './errors.js'
export * from './data/index.js'
// the front door's own parts, so an agent program needs only this package
export {
  SessionPeer, SessionUnreachableError, SessionConfigConflictError, InvalidSessionOptionsError, InvalidModelConfigError, UnknownLayerError,
  UnknownMergeRuleError, RoundsFailingError, registerMergeRule, registerLoss, registerMetric,
  // to evaluate or train a model outside a session, and to split data reproducibly
  Trainer, subset, partitionIid, partitionDirichlet, mulberry32, shuffleInPlace, mnistMlp
} from '@murmur/protocol'
export type {
  Dataset, Batch, TrainingData, ModelConfig, TrainingHyperparameters, SessionSettings, SessionPace, SessionConfig, AveragingRule, RoundMetrics,
  ModelInput, Checkpoint, CheckpointStore, CustomMergeRule, MergeContext
} from '@murmur/protocol'
