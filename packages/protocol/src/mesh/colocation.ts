/**
 * Settings for many honest peers behind one address.
 *
 * In Murmur's topology an IP address stands for a crowd more often than for one host: a
 * camp or campus behind one NAT, a carrier-grade NAT, a fleet of agents on one edge box,
 * and every peer reached through a relay, whose relayed connections' remote address
 * (`/ip4/<relay>/…/p2p-circuit/p2p/<peer>`) gossipsub and libp2p attribute to the relay's IP.
 * Left at their defaults, gossipsub's IP-colocation penalty (P6: −5 × (n − 10)² for n peers
 * seen from one address, and a departed peer keeps counting for an hour) graylisted every
 * peer of such a crowd once eleven had come and gone, and libp2p refused a crowd's sixth
 * connection in one second.
 *
 * Neither setting can tell one host with many identities from many devices behind one
 * address, so neither is where Murmur bounds Sybils: a public session admits anyone anyway;
 * a private one admits only peers holding an owner-signed grant; what any identity can do is
 * bounded per identity (rate limits, write budgets, `PeerScores` bans) and in total
 * (`maxConnections`, relay reservations). What stays of P6 is a backstop against hundreds of
 * identities from one address, the mass-identity case the threat model does not admit.
 */

/** Gossipsub's IP-colocation scoring (P6), as Murmur sets it. */
export const IP_COLOCATION = {
  /**
   * Peers seen from one address before P6 applies: 128, as many as one relay holds
   * reservations for (`RELAY_DEFAULT_LIMITS.maxReservations`), since all of a relay's
   * peers share its address.
   */
  threshold: 128,
  /**
   * A gentle slope past the threshold (−0.1 × surplus²): gossip to those peers stops at 138
   * (score −10, `gossipThreshold`), their messages are ignored from 157 (−84,
   * `graylistThreshold` −80). The default −5 graylisted at 14.
   */
  weight: -0.1,
  /**
   * Loopback: peers on our own host are the operator's own agents (a fleet, a test), and a
   * process on our host is past any defence gossip scoring could offer.
   */
  whitelist: ['127.0.0.1', '::1'] as readonly string[]
} as const

/**
 * How long gossipsub keeps a departed peer's score (ms), and with it the peer's address in
 * P6's count: 10 minutes, the length of a `PeerScores` ban, which is what carries Murmur's
 * opinion of a peer across reconnects (gossipsub scores no topic for Murmur, so all its own
 * score would carry is P6 and its behaviour penalty). The default, an hour, let a crowd's
 * churn pile up against its address.
 */
export const GOSSIP_RETAIN_SCORE_MS = 10 * 60_000

/**
 * libp2p connection-manager limits for a peer that accepts connections (an agent, a node
 * peer; browsers accept theirs through relays, all from the relay's address):
 * - `inboundConnectionThreshold`, connections one address may open per second: 32, so a
 *   crowd that reconnects at once (a relay restart, a NAT rebinding, a fleet starting) is not
 *   turned away; a flood from one address still costs a handshake each and stops at
 *   `maxConnections`, where the pruner keeps the peers we value;
 * - `maxIncomingPendingConnections`, upgrades in flight at once (all addresses): 32.
 */
export const CONNECTION_LIMITS = {
  inboundConnectionThreshold: 32,
  maxIncomingPendingConnections: 32
} as const

/** The same for a relay, which every browser of a session dials first. */
export const RELAY_CONNECTION_LIMITS = {
  inboundConnectionThreshold: 64,
  maxIncomingPendingConnections: 64
} as const
