import type { PeerId } from '@libp2p/interface'
import { CATCH_UP } from './constants.js'

/** What the catch-up scheduler needs from the service: whom it can reach, and one exchange. */
export interface CatchUpHost {
  /** Peers we hold an open, direct connection to that speak the state protocol. */
  statePeers(): Promise<PeerId[]>
  /** True when we hold an open, direct connection to `peer` (no peer-store read). */
  direct(peer: PeerId): boolean
  /** Run one state-vector exchange for `session` with `peer`; it must not throw. */
  exchange(session: string, peer: PeerId): Promise<void>
}

/**
 * When a replica runs state-vector exchanges beyond the one per connection: to fill a gap
 * gossip left, to pass on updates it did not forward, to let a member whose grant it lacks
 * present it. Each reason has its own limit, so no peer can make us exchange in a loop.
 */
export class CatchUp {
  private readonly host: CatchUpHost
  /** session → when a gap last made us exchange */
  private readonly gapAt = new Map<string, number>()
  /** sessions with a gap exchange running */
  private readonly filling = new Set<string>()
  /** author → when a gap made us ask it for what its gossip builds on */
  private readonly askedAt = new Map<string, number>()
  /** peer → when its gossip, refused as a non-member's, made us exchange with it */
  private readonly membershipAt = new Map<string, number>()
  /** session → the last spread and a deferred one */
  private readonly spreads = new Map<string, { at: number, timer?: ReturnType<typeof setTimeout> }>()

  constructor (host: CatchUpHost) {
    this.host = host
  }

  /**
   * Gossip carried an update that builds on edits we never received (missed while joining,
   * dropped under load, or never made): gossip alone never repairs that. Run one exchange,
   * at most every 2 s per session and one at a time: with its author when we hold a direct
   * connection and have not asked it in the last 30 s (an author that sends such updates in
   * a loop cannot make us pull from it in a loop), otherwise with any other peer of ours.
   */
  fillGap (session: string, author: PeerId, now = Date.now()): void {
    // under load an exchange outlasts 2 s, and stacked ones each read the peer store for
    // every connection (30 in-process agents queued thousands)
    if (this.filling.has(session) || now - (this.gapAt.get(session) ?? 0) < CATCH_UP.sessionEveryMs) return
    this.gapAt.set(session, now)
    this.filling.add(session)
    const key = author.toString()
    const askAuthor = this.host.direct(author) && now - (this.askedAt.get(key) ?? -Infinity) >= CATCH_UP.authorEveryMs
    if (askAuthor) remember(this.askedAt, key, now)
    const peers = askAuthor ? Promise.resolve([author]) : this.host.statePeers().then(found => found.filter(p => !p.equals(author)))
    void peers
      .then(async found => {
        const any = found[Math.floor(Math.random() * found.length)]
        if (any != null) await this.host.exchange(session, any)
      })
      .finally(() => { this.filling.delete(session) })
  }

  /**
   * Updates were applied that we did not forward (held ones, or a local one too large to
   * gossip): exchange with every direct peer, so those whose only path to them runs through
   * us get them. At most once per `CATCH_UP.spreadEveryMs`; a later call is deferred, not lost.
   */
  spread (session: string, now = Date.now()): void {
    const s = this.spreads.get(session) ?? { at: 0 }
    this.spreads.set(session, s)
    if (s.timer != null) return
    s.timer = setTimeout(() => {
      s.timer = undefined
      s.at = Date.now()
      void this.all(session)
    }, Math.max(0, s.at + CATCH_UP.spreadEveryMs - now))
  }

  /** Exchange with every direct state peer now (a session just joined). */
  async all (session: string): Promise<void> {
    const peers = await this.host.statePeers()
    await Promise.all(peers.map(async peer => { await this.host.exchange(session, peer) }))
  }

  /**
   * Gossip from `peer` was refused as a non-member's. A member whose grant we have not seen
   * yet looks the same, so we run one exchange with it (at most every 30 s), where it can
   * present its grant and its updates arrive in full.
   */
  retryMembership (session: string, peer: PeerId, now = Date.now()): void {
    const key = peer.toString()
    if (now - (this.membershipAt.get(key) ?? 0) < 30_000) return
    remember(this.membershipAt, key, now)
    void this.host.exchange(session, peer)
  }

  /** Forget a session (left): no deferred exchange runs for it. */
  forget (session: string): void {
    clearTimeout(this.spreads.get(session)?.timer)
    this.spreads.delete(session)
    this.gapAt.delete(session)
  }

  /** Cancel every deferred exchange. */
  stop (): void {
    for (const session of [...this.spreads.keys()]) this.forget(session)
  }
}

/** Note a time in a map that must stay bounded: a flood of peer ids empties it rather than grows it. */
function remember (map: Map<string, number>, key: string, now: number): void {
  if (map.size > 10_000) map.clear()
  map.set(key, now)
}
