/**
 * peer: the front door. `SessionPeer` assembles one session peer from a node the binding
 * built, the user's model and data, and a checkpoint store; every binding (browser SDK,
 * Node agent, demo, simulator) goes through it.
 */
export { SessionPeer, relayPeerIds } from './session-peer.js'
export { SessionUnreachableError, SESSION_DEFAULTS } from './starting-model.js'
export type { SessionPeerInit, SessionPeerEvents, SessionSettings, NodeHooks } from './session-peer.js'
export { resolveModel, InvalidSessionOptionsError, DEFAULT_TRAINING } from './model-input.js'
export type { ModelInput, ResolvedModel } from './model-input.js'
export type { Checkpoint, CheckpointStore } from './checkpoint.js'
export { waitForReservation, circuitAddresses } from './reservation.js'
