/** `murmur agent`: a peer that joins a session through a relay, and trains with --dataset or --model/--data. */
import type { Agent, AgentEvent } from '../agent/agent.js'
import type { TrainingAgentEvent } from '../agent/training-agent.js'
import { help } from './help.js'
import { count, iceServers, log, oneOf, parse, positiveNumber, stopWithin, untilSignal, usage } from './args.js'

const TRAINING_FLAGS = ['partition', 'partition-kind', 'seed', 'samples', 'test-samples', 'rounds', 'rule', 'trim', 'create', 'fan-out', 'encoding', 'local-steps', 'wait-peers', 'wait-timeout', 'backend'] as const
const RULES = ['variance-corrected', 'plain', 'median', 'trimmed-mean'] as const
const ENCODINGS = ['fp32', 'fp16', 'int8'] as const

/** Run `murmur agent` until its rounds are done or SIGINT/SIGTERM. */
export async function agent (args: string[]): Promise<number> {
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
    const { runAgent } = await import('../agent/agent.js')
    running = await runAgent({ ...common, onEvent: event => { printAgentEvent(event, out) } })
  } else {
    // every flag is checked before libp2p and tfjs load, so a typo is answered at once
    const flags = await import('../agent/flags.js')
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
    const training = await import('../agent/training-agent.js')
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
