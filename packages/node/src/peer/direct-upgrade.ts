import { serviceDependencies } from '@libp2p/interface'
import type { AbortOptions, ComponentLogger, Connection, IdentifyResult, Logger, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isRelayedConnection, sleep } from '@murmur/protocol'

/** Options of `directUpgrade`. */
export interface DirectUpgradeInit {
  /**
   * How long one direct dial may take before the peer stays on the relay.
   * @default 5000
   */
  timeout?: number
  /**
   * The peer that dialled through the relay waits this long before trying, so the peer
   * that was dialled (who tries at once, as in DCUtR) usually wins and only one direct
   * connection is made.
   * @default 1500
   */
  outboundDelay?: number
}

/** The parts of libp2p's components the service uses (structural, so no internal package is needed). */
export interface DirectUpgradeComponents {
  events: {
    addEventListener(type: 'peer:identify', listener: (evt: CustomEvent<IdentifyResult>) => void): void
    removeEventListener(type: 'peer:identify', listener: (evt: CustomEvent<IdentifyResult>) => void): void
  }
  connectionManager: {
    getConnections(peer?: PeerId): Connection[]
    openConnection(peer: Multiaddr[], options?: AbortOptions & { force?: boolean }): Promise<Connection>
  }
  transportManager: {
    dialTransportForMultiaddr(ma: Multiaddr): unknown
  }
  logger: ComponentLogger
}

/** One relayed connection moved onto a direct one. */
export interface DirectUpgradeRecord {
  peer: PeerId
  /** Address of the new direct connection. */
  remoteAddr: Multiaddr
  /** Milliseconds from the relayed connection opening to the direct one being ready. */
  ms: number
}

/** The direct-upgrade service: upgrades relayed connections to peers whose own addresses we can dial. */
export interface DirectUpgrade {
  /** Upgrades done so far, oldest first (at most the last 256). */
  readonly upgrades: readonly DirectUpgradeRecord[]
}

/** A connection whose bytes pass through a relay: protocol's `isRelayedConnection`, under the name Node code uses. */
export const isRelayed: (connection: Pick<Connection, 'limits' | 'direct'>) => boolean = isRelayedConnection

/** Half-second checks of idleness before a relayed connection is closed (so 3 s). */
const IDLE_CHECKS = 6

class DirectUpgradeService implements DirectUpgrade, Startable {
  readonly upgrades: DirectUpgradeRecord[] = []
  private readonly components: DirectUpgradeComponents
  private readonly timeout: number
  private readonly outboundDelay: number
  private readonly log: Logger
  private readonly inFlight = new Set<string>()
  private readonly shutdown = new AbortController()
  private started = false

  readonly [Symbol.toStringTag] = '@murmur/direct-upgrade'
  // identify supplies the remote's listen addresses this service dials
  readonly [serviceDependencies] = ['@libp2p/identify']

  constructor (components: DirectUpgradeComponents, init: DirectUpgradeInit = {}) {
    this.components = components
    this.timeout = init.timeout ?? 5000
    this.outboundDelay = init.outboundDelay ?? 1500
    this.log = components.logger.forComponent('murmur:direct-upgrade')
  }

  isStarted (): boolean { return this.started }

  start (): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.started = true
  }

  stop (): void {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.shutdown.abort()
    this.started = false
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { connection, listenAddrs, peerId } = evt.detail
    if (!isRelayed(connection)) return
    this.upgrade(connection, peerId, listenAddrs).catch(err => {
      this.log('direct upgrade to %p failed - %e', peerId, err)
    })
  }

  private hasDirect (peer: PeerId): boolean {
    return this.components.connectionManager.getConnections(peer).some(c => !isRelayed(c) && c.status === 'open')
  }

  private async upgrade (relayed: Connection, peer: PeerId, listenAddrs: Multiaddr[]): Promise<void> {
    const key = peer.toString()
    if (this.inFlight.has(key) || this.hasDirect(peer)) return
    // DCUtR (and WebRTC) handle the rest; this covers what DCUtR refuses: private and
    // loopback addresses of peers on our LAN or host, which circuit v2 limits would otherwise strand on the relay
    const targets = listenAddrs
      .filter(ma => !ma.toString().includes('/p2p-circuit'))
      .filter(ma => this.components.transportManager.dialTransportForMultiaddr(ma) != null)
      .map(ma => ma.toString().includes('/p2p/') ? ma : ma.encapsulate(`/p2p/${key}`))
    if (targets.length === 0) return
    this.inFlight.add(key)
    try {
      if (relayed.direction === 'outbound') {
        await sleep(this.outboundDelay, this.shutdown.signal)
        if (this.hasDirect(peer) || relayed.status !== 'open') return
      }
      const signal = AbortSignal.any([AbortSignal.timeout(this.timeout), this.shutdown.signal])
      const direct = await this.components.connectionManager.openConnection(targets, { signal, force: true })
      if (isRelayed(direct)) {
        await direct.close().catch(() => {})
        return
      }
      this.record({ peer, remoteAddr: direct.remoteAddr, ms: Date.now() - relayed.timeline.open })
      this.log('upgraded %p from %a to %a', peer, relayed.remoteAddr, direct.remoteAddr)
      await this.closeWhenIdle(relayed)
    } finally {
      this.inFlight.delete(key)
    }
  }

  /**
   * Close the relayed connection once no stream has used it for `IDLE_CHECKS` checks in a
   * row: the relay's limits would cut it soon anyway and closing frees the relay's
   * resources, but a WebRTC dial may be about to exchange SDP over it (its signalling
   * stream can open a moment after the connection does).
   */
  private async closeWhenIdle (relayed: Connection): Promise<void> {
    let idle = 0
    for (let i = 0; i < 60 && idle < IDLE_CHECKS && relayed.status === 'open' && !this.shutdown.signal.aborted; i++) {
      await sleep(500, this.shutdown.signal)
      idle = relayed.streams.length === 0 ? idle + 1 : 0
    }
    if (idle >= IDLE_CHECKS && relayed.status === 'open') await relayed.close().catch(() => {})
  }

  private record (entry: DirectUpgradeRecord): void {
    this.upgrades.push(entry)
    if (this.upgrades.length > 256) this.upgrades.shift()
  }
}

/**
 * A libp2p service that moves a relayed connection onto a direct one when the remote
 * advertises an address we can dial: DCUtR only tries public addresses, so two Murmur
 * peers on one LAN (or host) that met through a relay would otherwise stay on its
 * 2-minute / 128 KiB circuit.
 */
export function directUpgrade (init: DirectUpgradeInit = {}): (components: DirectUpgradeComponents) => DirectUpgrade {
  return (components) => new DirectUpgradeService(components, init)
}
