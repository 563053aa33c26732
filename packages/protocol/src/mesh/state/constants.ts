/**
 * What one peer may make a replica hold, and for how long. The numbers are local policy,
 * not wire format: a peer that sets them lower only refuses sooner.
 *
 * Measured on the session document (turn 13): a round record is one struct of ~300 B, a
 * member entry ~200 B, the config of a 40-layer model 5 structs in ~8 KiB. An honest
 * member writing a round every 100 ms adds ~180 KiB and 600 structs a minute.
 */

/**
 * Gossip a peer may author per minute (bytes and Yjs structs plus delete ranges), spent from
 * a token bucket that holds one minute's worth. Five times the busiest honest member above;
 * past it, that peer's gossip is ignored until the bucket refills. Structs are counted apart
 * from bytes because a struct costs a replica ~100 B of heap however few bytes encode it.
 */
export const WRITE_BUDGET = {
  bytesPerMinute: 1024 * 1024,
  structsPerMinute: 10_000
} as const

/**
 * Updates held back because what they build on has not arrived. Honest ones wait for one
 * state-vector exchange (well under a second on a direct connection), so the buffer is small
 * and short-lived: a peer's pending bytes are capped so no single peer can fill it, the total
 * is capped so many peers together cannot grow a replica past ~1 MiB, and the oldest entry
 * goes first when either cap is reached.
 */
export const PENDING_LIMITS = {
  /** Pending bytes one author may have held at once; a larger update is not held at all. */
  perPeerBytes: 64 * 1024,
  /** Pending updates one author may have held at once. */
  perPeerUpdates: 64,
  /** Pending bytes across all authors. */
  totalBytes: 1024 * 1024,
  /** A held update whose dependencies have not come after this long is dropped (ms). */
  maxAgeMs: 60_000
} as const

/** How often gaps in a replica make it ask peers for what it misses. */
export const CATCH_UP = {
  /** At most one gap-filling exchange per session this often (ms). */
  sessionEveryMs: 2000,
  /**
   * At most one gap-filling exchange with one author this often (ms): a peer that sends
   * updates with missing dependencies cannot make us pull from it in a loop.
   */
  authorEveryMs: 30_000,
  /**
   * After updates were applied from the pending buffer (they were not forwarded when they
   * arrived), exchange state with our direct peers at most this often (ms), so peers whose
   * only path to those updates ran through us still get them.
   */
  spreadEveryMs: 10_000
} as const

/** Presence beacons stamped further than this from our clock, either way, are refused (ms). */
export const PRESENCE_SKEW_MS = 10 * 60_000
