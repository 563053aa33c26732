import { describe, it, expect, afterEach } from 'vitest'
import type { PeerId } from '@libp2p/interface'
import { createSessionDoc } from '../src/state/index.js'
import { Encoding, StateSyncMessage, encodeHeadAnnouncement, encodeStateSyncMessage, headsTopic, stateTopic } from '../src/wire/index.js'
import type { HeadAnnouncement } from '../src/wire/index.js'
import { cidForBytes } from '../src/content/index.js'
import { encodePresence } from '../src/mesh/state/presence.js'
import { createMemoryNode, stopAll, waitFor } from './helpers/mesh.js'
import type { MeshNode } from './helpers/mesh.js'

// Issue 13, "gossip forwarded that should not be": heads carrying ±Infinity and random
// presence messages passed every validator and crossed the mesh. Publisher p is connected
// to a only; c, behind a, must see exactly the messages a let through.

const SESSION = 'checked'
const HEADS = headsTopic(SESSION)
const STATE = stateTopic(SESSION)

let nodes: MeshNode[] = []
afterEach(async () => { await stopAll(nodes); nodes = [] })

/** The payloads signed by `author` that reach `node`'s validator on `topic`, as base64. */
function arrivals (node: MeshNode, topic: string, author: PeerId): Set<string> {
  const seen = new Set<string>()
  const validators = node.services.pubsub.topicValidators
  const original = validators.get(topic)
  if (original == null) throw new Error(`no validator on ${topic}`)
  validators.set(topic, async (peer, msg) => {
    if (msg.type === 'signed' && msg.from.equals(author)) seen.add(Buffer.from(msg.data).toString('base64'))
    return original(peer, msg)
  })
  return seen
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

describe('validators check what can be checked, and what fails is not forwarded', () => {
  it('heads with ±Infinity or an out-of-range version, and presence not in its documented form, stop at the first peer', async () => {
    const [p, a, c] = nodes = await Promise.all(Array.from({ length: 3 }, async () => createMemoryNode())) as [MeshNode, MeshNode, MeshNode]
    for (const n of [a, c]) {
      n.services.heads.join(SESSION)
      n.services.state.join(SESSION, createSessionDoc())
    }
    p.services.pubsub.subscribe(HEADS)
    p.services.pubsub.subscribe(STATE)
    await p.dial(a.getMultiaddrs())
    await c.dial(a.getMultiaddrs())
    expect(await waitFor(() => [HEADS, STATE].every(t => p.services.pubsub.getSubscribers(t).length > 0 && c.services.pubsub.getSubscribers(t).length > 0), 10_000)).toBe(true)
    const refusedByA: string[] = []
    a.services.heads.addEventListener('refused', evt => { refusedByA.push(`heads ${evt.detail.reason}`) })
    a.services.state.addEventListener('refused', evt => { refusedByA.push(`state ${evt.detail.reason}`) })
    const headsAtC = arrivals(c, HEADS, p.peerId)
    const stateAtC = arrivals(c, STATE, p.peerId)

    const manifest = (await cidForBytes(Uint8Array.of(7))).bytes
    let version = 1
    const head = (h: Partial<HeadAnnouncement>): Uint8Array => encodeHeadAnnouncement({
      session: SESSION, peer: p.peerId.toString(), manifest, version: version++, samples: 10, encoding: Encoding.FP32, timestamp: Date.now(), loss: 0.5, accuracy: 0.5, ...h
    })
    const badHeads = [head({ loss: -Infinity }), head({ loss: Infinity }), head({ loss: -Infinity, accuracy: NaN }), head({ version: 2 ** 52 + 1 }), head({ timestamp: Date.now() + 3_600_000 })]
    // NaN is the proto's "unknown" loss and accuracy: valid
    const goodHead = head({ loss: NaN, accuracy: NaN, version: 100 })
    const presence = (payload: Uint8Array): Uint8Array => encodeStateSyncMessage({ type: StateSyncMessage.Type.AWARENESS, session: SESSION, payload: payload as Uint8Array<ArrayBuffer> })
    const text = (s: string): Uint8Array => new TextEncoder().encode(s)
    const badPresence = [
      presence(Uint8Array.from({ length: 200 }, (_, i) => (i * 37) & 0xff)),
      presence(text('{"cursor":1}')),
      presence(text('-1')),
      presence(text(String(Date.now() + 3_600_000))),
      presence(new Uint8Array())
    ]
    const goodPresence = presence(encodePresence(Date.now()))

    for (const m of badHeads) await p.services.pubsub.publish(HEADS, m)
    for (const m of badPresence) await p.services.pubsub.publish(STATE, m)
    await p.services.pubsub.publish(HEADS, goodHead)
    await p.services.pubsub.publish(STATE, goodPresence)

    // the valid ones cross a to c, so the path works and c's counts mean something
    expect(await waitFor(() => headsAtC.has(b64(goodHead)) && stateAtC.has(b64(goodPresence)), 10_000)).toBe(true)
    await new Promise(resolve => setTimeout(resolve, 500))
    console.log(`a: heads rejected ${a.services.heads.stats.rejected}, refusals ${JSON.stringify(refusedByA)}; at c from p: ${headsAtC.size} heads, ${stateAtC.size} state messages`)
    for (const m of badHeads) expect(headsAtC.has(b64(m))).toBe(false)
    for (const m of badPresence) expect(stateAtC.has(b64(m))).toBe(false)
    expect(headsAtC.size).toBe(1)
    expect(stateAtC.size).toBe(1)
    expect(c.services.heads.heads(SESSION).get(p.peerId.toString())?.version).toBe(100)
    expect(a.services.heads.heads(SESSION).get(p.peerId.toString())?.version).toBe(100)
    // a scores the signer down for each (the future-stamped head excepted: clocks drift)
    expect(refusedByA.filter(r => r === 'heads malformed')).toHaveLength(badHeads.length - 1)
    expect(refusedByA.filter(r => r === 'state malformed')).toHaveLength(badPresence.length)
  }, 30_000)
})
