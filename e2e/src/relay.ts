import { runRelay } from '@murmur/node'
import type { Relay } from '@murmur/node'

/** A relay for one test: its WebSocket address (pages) and TCP address (Node agents). */
export interface TestRelay {
  relay: Relay
  peerId: string
  ws: string
  tcp: string
  stop(): Promise<void>
}

/** Start an in-process `murmur relay` on 127.0.0.1 (TCP and WebSockets). */
export async function startRelay (): Promise<TestRelay> {
  const relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
  const ws = relay.addrs.find(a => a.includes('/ws/'))
  const tcp = relay.addrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (ws == null || tcp == null) {
    await relay.stop()
    throw new Error(`relay did not listen on TCP and WebSockets: ${relay.addrs.join(', ')}`)
  }
  return { relay, peerId: relay.node.peerId.toString(), ws, tcp, stop: async () => { await relay.stop() } }
}
