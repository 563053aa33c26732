/** `murmur relay`: a bootstrap peer (circuit relay v2 server, DHT server, WebSocket/WebRTC-Direct listener). */
import { help } from './help.js'
import { log, parse, port, positiveNumber, stopWithin, untilSignal } from './args.js'

/** Run `murmur relay` until SIGINT/SIGTERM. */
export async function relay (args: string[]): Promise<number> {
  const { values } = parse('relay', args, {
    listen: { type: 'string', multiple: true },
    announce: { type: 'string', multiple: true },
    'data-dir': { type: 'string' },
    host: { type: 'string' },
    'tcp-port': { type: 'string' },
    'ws-port': { type: 'string' },
    'webrtc-port': { type: 'string' },
    'webrtc-direct': { type: 'boolean', default: true },
    bootstrap: { type: 'string', multiple: true },
    'max-reservations': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('relay')
  const maxReservations = positiveNumber(values['max-reservations'], '--max-reservations', 'relay')
  const { runRelay } = await import('../relay/relay.js')
  const running = await runRelay({
    listen: values.listen,
    announce: values.announce,
    dataDir: values['data-dir'],
    host: values.host,
    tcpPort: port(values['tcp-port'], '--tcp-port', 'relay'),
    wsPort: port(values['ws-port'], '--ws-port', 'relay'),
    webrtcPort: port(values['webrtc-port'], '--webrtc-port', 'relay'),
    webrtcDirect: values['webrtc-direct'],
    bootstrap: values.bootstrap,
    limits: maxReservations != null ? { maxReservations: Math.floor(maxReservations) } : undefined,
    onEvent: event => {
      if (event.type === 'connect') {
        const c = event.connection
        log(`connect ${c.peer} ${c.transport} ${c.direct ? 'direct' : 'relayed'} ${c.direction} ${c.remoteAddr}`)
      } else if (event.type === 'disconnect') {
        log(`disconnect ${event.peer}`)
      } else {
        log(`reservations ${event.count}`)
      }
    }
  })
  for (const addr of running.addrs) process.stdout.write(`${addr}\n`)
  log(`relay ${running.node.peerId.toString()} running; Ctrl-C to stop`)
  const signal = await untilSignal()
  log(`${signal}: stopping`)
  await stopWithin(running.stop, 5000)
  return 0
}
