import type { PeerId, PeerStore, ComponentLogger, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { Registrar, ConnectionManager } from '@libp2p/interface-internal'
import type * as Y from 'yjs'
import type { MembershipPolicy } from '../../state/index.js'
import type { PendingUpdatesInit } from './pending.js'
import type { WriteBudgetInit } from './write-budget.js'

// The `stateSync` service's public face: its options, counters, events and interface.

/** Options of the `stateSync` service. */
export interface StateSyncInit {
  /**
   * How long one state-vector exchange may take.
   * @default 10000
   */
  syncTimeout?: number
  /**
   * Presence beacons are published this often (ms); a peer unseen for 3× this is gone.
   * @default 5000
   */
  presenceInterval?: number
  /**
   * Local document changes are batched for this long before one gossip message goes out.
   * @default 25
   */
  publishDelay?: number
  /**
   * Inbound sync streams each peer may open per second (burst 5).
   * @default 1
   */
  syncRatePerPeer?: number
  /**
   * Service name of the gossipsub instance in `createLibp2p({ services })`.
   * @default 'pubsub'
   */
  pubsubService?: string
  /**
   * What one peer may write into our replicas per minute, by gossip or by pushing a diff.
   * @default WRITE_BUDGET (1 MiB and 10 000 structs a minute)
   */
  writeBudget?: WriteBudgetInit
  /**
   * Caps of the buffer of updates held until what they build on arrives.
   * @default PENDING_LIMITS (64 KiB and 64 updates per author, 1 MiB in all, 60 s)
   */
  pending?: PendingUpdatesInit
}

/** Components the service needs from libp2p. */
export interface StateSyncComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  [service: string]: unknown
}

/** Counters a node reports about state sync (everything that was refused is counted). */
export interface StateSyncStats {
  updatesApplied: number
  updatesPublished: number
  updatesRejected: number
  syncsCompleted: number
  syncsFailed: number
  bytesIn: number
  bytesOut: number
  /** Gossip messages and sync exchanges refused because the peer is not a session member. */
  nonMember: number
  /** Gossiped updates held back because what they build on had not arrived. */
  updatesHeld: number
  /** Held updates applied once what they build on arrived. */
  heldApplied: number
  /** Held updates dropped: expired, pushed out by the caps, or never resolved by their author. */
  heldDropped: number
  /** Bytes of updates held now, across sessions. */
  pendingBytes: number
  /** Updates held now, across sessions. */
  pendingUpdates: number
  /** Refusals, by reason (each also a `refused` event, except pushed diffs over budget). */
  refusals: Record<StateRefusal, number>
}

/** Options of joining one session. */
export interface StateJoinOptions {
  /** Private sessions: only members' updates are applied, only members get the document. */
  membership?: MembershipPolicy
}

/**
 * Why something a peer sent was refused:
 * - `non-member`: a private session's non-member;
 * - `malformed`: bytes that are not a state message, an update Yjs cannot read, a presence
 *   beacon not in its documented form, a state vector gossiped on the topic;
 * - `oversized`: a gossiped update over `MAX_GOSSIP_UPDATE`;
 * - `over-budget`: gossip from an author past its write budget (`WRITE_BUDGET`);
 * - `missing-dependencies`: updates that build on edits their sender never supplied: held
 *   gossip its author, asked in a completed exchange, did not resolve, or an exchange diff
 *   that left structs unresolved. (Gossip merely held while we catch up, or pushed out of
 *   the buffer by its caps, is not refused: an honest author's gossip waits there too.)
 */
export type StateRefusal = 'non-member' | 'malformed' | 'oversized' | 'over-budget' | 'missing-dependencies'

/** Events of the `stateSync` service. */
export interface StateSyncEvents {
  /** A remote update was applied to a session's document. */
  'state:update': CustomEvent<{ session: string, from?: PeerId }>
  /** A peer's presence beacon was seen (or first seen). */
  'presence': CustomEvent<{ session: string, peer: string, lastSeen: number }>
  /** A peer has not been seen for three presence intervals. */
  'presence:gone': CustomEvent<{ session: string, peer: string }>
  /** A state-vector exchange with a peer completed. */
  'sync': CustomEvent<{ session: string, peer: PeerId }>
  /** Something a peer sent was refused (peer scoring listens). */
  'refused': CustomEvent<{ session: string, peer: string, reason: StateRefusal }>
}

/** Keeps each joined session's Yjs document identical on every peer. */
export interface StateSync extends TypedEventTarget<StateSyncEvents> {
  /** Start replicating `doc` as session `session` (gossip plus catch-up on connect). */
  join(session: string, doc: Y.Doc, options?: StateJoinOptions): void
  /** Stop replicating a session. */
  leave(session: string): void
  /** Run a state-vector exchange with `peer` for every joined session now. */
  syncWith(peer: PeerId): Promise<void>
  /** Peers seen recently in a session, with their last-seen time (ms). */
  presence(session: string): Map<string, number>
  /** Counters since start. */
  readonly stats: StateSyncStats
}
