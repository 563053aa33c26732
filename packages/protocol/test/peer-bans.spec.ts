/**
 * Bans happen in every real peer: the front door gives each `SessionPeer` its own
 * `PeerScores` (unless told not to), so a peer that keeps gossiping state the session
 * refuses is scored down, disconnected and its connections refused for the ban's length.
 */
import { describe, expect, it } from 'vitest'
import { SessionPeer, encodeStateSyncMessage, stateTopic, StateSyncMessage } from '../src/index.js'
import { createMemoryNode, waitFor } from './helpers/mesh.js'
import { peerFixture } from './helpers/session.js'
import type { MeshNode } from './helpers/mesh.js'
import { tinyData, tinyModel } from './helpers/tiny-model.js'

const fx = peerFixture()

describe('bans in a real session peer', () => {
  it('a peer that keeps sending refused state updates is disconnected, and its new connections are closed', async () => {
    const attacker = await createMemoryNode()
    fx.nodes.push(attacker)
    let honestNode: MeshNode | undefined
    const honest = await SessionPeer.start({
      // the binding's factory gets the peer's scores to hand to gossipsub, as Node's and the browser's do
      node: async ({ scores }) => { honestNode = await createMemoryNode({ appSpecificScore: scores.gossipScore }); fx.nodes.push(honestNode); return honestNode },
      session: 'bans',
      model: tinyModel,
      create: true,
      createAfter: 0,
      discover: false,
      train: tinyData(32, 0),
      autoRun: false
    })
    fx.peers.push(honest)
    expect(honest.scores).toBeDefined()
    const target = honestNode as MeshNode
    await attacker.dial(target.getMultiaddrs())
    attacker.services.pubsub.subscribe(stateTopic('bans'))
    await waitFor(() => attacker.services.pubsub.getSubscribers(stateTopic('bans')).length > 0, 5000)

    // signed, well-framed messages whose updates are garbage: each one is refused
    for (let i = 0; i < 20 && target.getConnections(attacker.peerId).length > 0; i++) {
      const junk = encodeStateSyncMessage({ type: StateSyncMessage.Type.UPDATE, session: 'bans', payload: Uint8Array.from({ length: 64 }, (_, j) => (i * 31 + j * 7) & 0xff) })
      await attacker.services.pubsub.publish(stateTopic('bans'), junk).catch(() => {})
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(honest.scores?.isBanned(attacker.peerId.toString())).toBe(true)
    expect(await waitFor(() => target.getConnections(attacker.peerId).length === 0, 5000)).toBe(true)

    // a re-dial is refused: whatever opens is closed at once
    await attacker.dial(target.getMultiaddrs()).catch(() => {})
    expect(await waitFor(() => target.getConnections(attacker.peerId).length === 0, 3000)).toBe(true)
  }, 30_000)
})
