/**
 * The demo's Node agents ("edge boxes"): real libp2p peers on loopback, each running a
 * Murmur `Session` on its own slice of MNIST, that the web app's controls knock out, add,
 * cut into islands and heal, as the simulator does with a deny rule and closed connections.
 */
import type { Connection } from '@libp2p/interface'
import { PeerScores, SessionPeer, getConfig, naming, setConfig, sleep, subset } from '@murmur/protocol'
import type { AveragingRule, Dataset, DialMember, ModelConfig, RoundMetrics, SessionSettings } from '@murmur/protocol'
import { summarizeConnection } from '../peer/connection-info.js'
import type { TransportName } from '../peer/connection-info.js'
import { createNodePeer } from '../peer/node-peer.js'
import type { NodePeer } from '../peer/node-peer.js'

/** One link of a peer as the demo draws it. */
export interface LinkView {
  peer: string
  transport: TransportName
  /** False when the bytes pass through the relay. */
  direct: boolean
}

/** What the web app shows of one Node agent. */
export interface AgentView {
  peerId: string
  /** Human name, e.g. `edge-2`. */
  name: string
  kind: 'node'
  backend: string
  samples: number
  round: number
  accuracy?: number
  loss?: number
  mergedWith: string[]
  bytesSent: number
  bytesReceived: number
  /** Addresses a browser can dial directly (WebSockets on loopback). */
  wsAddrs: string[]
  links: LinkView[]
  /** Island index while the mesh is partitioned. */
  island?: number
}

/** Options of a `DemoFleet`. */
export interface DemoFleetInit {
  /** The relay's addresses with `/p2p/<id>`; agents bootstrap from its TCP one. */
  relayAddrs: string[]
  session: string
  /** Training pool; agent k trains on its own slice of `samplesPerAgent` images. */
  train: Dataset
  test: Dataset
  samplesPerAgent: number
  /** The session's model (the first agent creates the session with it). */
  model: ModelConfig
  /** The session's settings (rule, fan-out, encoding, …). */
  settings: SessionSettings
  /** tfjs backend in use, reported to the session. */
  backend: string
  /** Rounds each agent runs; 0 runs until stopped. */
  rounds: number
  /** Pause between an agent's rounds, so a demo stays watchable on a small machine (ms). */
  roundDelay: number
  onError?(agent: string, err: Error): void
}

/** Told after every agent's round: the live agents' names and each one's latest metrics. */
export type RoundObserver = (names: string[], latest: Map<string, RoundMetrics>) => void

interface Agent {
  index: number
  name: string
  node: NodePeer
  /** The front door's session peer (it finds the other members, browser tabs included, as `murmur agent` does). */
  session: SessionPeer
  samples: number
  backend: string
  latest?: RoundMetrics
  stopped: boolean
  loop?: Promise<void>
}

/** The demo's Node agents and the controls the web app drives. */
export class DemoFleet {
  private readonly init: DemoFleetInit
  private readonly agents = new Map<string, Agent>()
  private readonly islands = new Map<string, number>()
  private readonly relayPeer: string | undefined
  private next = 0
  private observer?: RoundObserver
  private readonly reached = new Map<string, number>()

  constructor (init: DemoFleetInit) {
    this.init = init
    this.relayPeer = /\/p2p\/([^/]+)$/.exec(init.relayAddrs[0] ?? '')?.[1]
  }

  /** Be told after every round of every agent (one observer; a second replaces the first). */
  setObserver (observer: RoundObserver | undefined): void {
    this.observer = observer
  }

  /** Live agents, oldest first. */
  list (): AgentView[] {
    return [...this.agents.values()].map(a => this.view(a))
  }

  /** Peer ids of the live agents. */
  peerIds (): string[] {
    return [...this.agents.keys()]
  }

  /** The island of each peer while partitioned (empty when the mesh is whole). */
  partitionState (): string[][] | null {
    if (this.islands.size === 0) return null
    const out: string[][] = []
    for (const [peer, k] of this.islands) (out[k] ??= []).push(peer)
    return out.map(i => i ?? [])
  }

  /** The session's averaging rule as the shared document holds it. */
  rule (): AveragingRule {
    const doc = this.anyDoc()
    return (doc != null ? getConfig(doc)?.averaging : undefined) ?? this.init.settings.averaging ?? 'variance-corrected'
  }

  /** Start one more agent, connect it to the live ones and start its rounds. */
  async add (): Promise<AgentView> {
    const index = this.next++
    const { train, samplesPerAgent } = this.init
    const start = (index * samplesPerAgent) % Math.max(1, train.count - samplesPerAgent + 1)
    const data = subset(train, Array.from({ length: Math.min(samplesPerAgent, train.count) }, (_, i) => start + i))
    const first = this.agents.size === 0 && index === 0
    let node: NodePeer | undefined
    try {
      const scores = new PeerScores()
      node = await createNodePeer({
        // WebSockets so browser tabs can dial an agent directly; circuit + WebRTC for the rest
        listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws', '/p2p-circuit', '/webrtc'],
        bootstrap: this.init.relayAddrs.filter(a => a.includes('/tcp/') && !a.includes('/ws')),
        dhtMode: 'server',
        scores
      })
      const peer = node
      node.addEventListener('connection:open', (evt: CustomEvent<Connection>) => {
        if (this.denied(peer.peerId.toString(), evt.detail.remotePeer.toString())) void closeQuietly(evt.detail)
      })
      const me = peer.peerId.toString()
      await Promise.all([...this.agents.values()].map(async other => peer.dial(other.node.getMultiaddrs()).catch(() => {})))
      // joining runs the state exchange over the connections just opened
      const session = await SessionPeer.start({
        node,
        scores,
        session: this.init.session,
        // only the session's creator writes the config: a later writer could undo a rule change
        ...(first ? { model: this.init.model, create: this.init.settings } : {}),
        train: data,
        test: this.init.test,
        backend: this.init.backend,
        seed: index,
        relays: this.relayPeer != null ? [this.relayPeer] : [],
        reservationTimeout: 0,
        dial: this.islandDial(peer, me),
        autoRun: false,
        joinTimeout: 30_000,
        // a knocked-out neighbour should cost a round seconds, not the default 30 s
        fetchTimeout: 5000,
        // the demo's agents start one by one and a page may join at any time: nobody waits to start
        pace: { minPeers: 0 }
      })
      const agent: Agent = { index, name: `edge-${index + 1}`, node, session, samples: data.count, backend: this.init.backend, stopped: false }
      this.agents.set(me, agent)
      agent.loop = this.run(agent)
      return this.view(agent)
    } catch (err) {
      await Promise.resolve(node?.stop()).catch(() => {})
      throw err
    }
  }

  /**
   * How an agent dials a member discovery found: never across an island boundary; a page
   * (which listens only through the relay) over WebRTC signalled there, others plainly.
   */
  private islandDial (node: NodePeer, me: string): DialMember {
    return async (peer, addrs, options) => {
      const id = peer.toString()
      if (this.denied(me, id)) throw new Error('on another island')
      const webrtc = addrs.filter(a => a.toString().includes('/p2p-circuit/webrtc'))
      const targets = naming(id, webrtc.length > 0 ? webrtc : addrs)
      await node.dial(targets.length > 0 ? targets : peer, options)
    }
  }

  /** Knock an agent out: it leaves the session and its node stops. False when unknown. */
  async remove (peerId: string): Promise<boolean> {
    const agent = this.agents.get(peerId)
    if (agent == null) return false
    this.agents.delete(peerId)
    await this.halt(agent)
    return true
  }

  /**
   * Cut the mesh into islands (lists of peer ids, browsers included): every agent closes
   * its connections to peers of other islands and refuses new ones until `heal`.
   * Unlisted peers share one island of their own; the relay stays reachable for signalling.
   */
  async partition (islands: string[][]): Promise<void> {
    this.islands.clear()
    islands.forEach((members, k) => { for (const p of members) this.islands.set(p, k) })
    await Promise.all([...this.agents.values()].map(async a => {
      const me = a.node.peerId.toString()
      await Promise.all(a.node.getConnections().filter(c => this.denied(me, c.remotePeer.toString())).map(closeQuietly))
    }))
  }

  /** Join the islands again: agents reconnect to each other (browsers redial on their side). */
  async heal (): Promise<void> {
    this.islands.clear()
    const agents = [...this.agents.values()]
    await Promise.all(agents.flatMap(a => agents.filter(b => b.index > a.index).map(async b => a.node.dial(b.node.getMultiaddrs()).catch(() => {}))))
  }

  /** Switch the session's averaging rule in the shared document; every peer sees the change. */
  setRule (rule: AveragingRule): void {
    const doc = this.anyDoc()
    const config = doc != null ? getConfig(doc) : undefined
    this.init.settings = { ...this.init.settings, averaging: rule }
    if (doc != null && config != null) setConfig(doc, { ...config, averaging: rule })
  }

  /** Stop every agent. */
  async stop (): Promise<void> {
    const agents = [...this.agents.values()]
    this.agents.clear()
    await Promise.all(agents.map(async a => this.halt(a)))
  }

  /** Resolve when every agent has finished its rounds (never, with `rounds: 0`, until stopped). */
  async done (): Promise<void> {
    await Promise.all([...this.agents.values()].map(async a => a.loop))
  }

  private denied (me: string, other: string): boolean {
    if (this.islands.size === 0 || other === this.relayPeer) return false
    return this.islands.get(other) !== this.islands.get(me)
  }

  private anyDoc (): SessionPeer['doc'] | undefined {
    return this.agents.values().next().value?.session.doc
  }

  /** An agent's rounds, paced; `Session.run` has no pause between rounds. */
  private async run (agent: Agent): Promise<void> {
    const { rounds, roundDelay } = this.init
    while (!agent.stopped && (rounds === 0 || agent.session.rounds < rounds)) {
      try {
        const metrics = await agent.session.step()
        agent.latest = metrics
        if (!agent.stopped && this.observer != null) {
          const live = [...this.agents.values()]
          this.observer(live.map(a => a.name), new Map(live.flatMap(a => a.latest != null ? [[a.name, a.latest]] : [])))
        }
      } catch (err) {
        if (agent.stopped) return
        this.init.onError?.(agent.name, err as Error)
        await sleep(500)
      }
      if (roundDelay > 0 && !agent.stopped) await sleep(roundDelay)
    }
  }

  private async halt (agent: Agent): Promise<void> {
    agent.stopped = true
    // leave first (members see it go), then stop the node so an in-flight fetch ends now
    await agent.session.leave().catch(() => {})
    await Promise.resolve(agent.node.stop()).catch(() => {})
    await agent.loop?.catch(() => {})
  }

  private view (a: Agent): AgentView {
    const peerId = a.node.peerId.toString()
    const m = a.latest
    return {
      peerId,
      name: a.name,
      kind: 'node',
      backend: a.backend,
      samples: a.samples,
      round: m?.round ?? 0,
      accuracy: m?.accuracy,
      loss: m != null && Number.isFinite(m.loss) ? m.loss : undefined,
      mergedWith: m?.mergedWith ?? [],
      bytesSent: m?.bytesSent ?? 0,
      bytesReceived: m?.bytesReceived ?? 0,
      wsAddrs: a.node.getMultiaddrs().map(String).filter(s => s.includes('/ws/') && !s.includes('/p2p-circuit')),
      links: a.node.getConnections().filter(c => c.status === 'open').map(c => {
        const s = summarizeConnection(c)
        return { peer: s.peer, transport: s.transport, direct: s.direct }
      }),
      island: this.islands.get(peerId)
    }
  }
}

async function closeQuietly (c: Connection): Promise<void> {
  await c.close().catch(() => { c.abort(new Error('island boundary')) })
}
