/** `murmur agent`: a peer that joins a session through a relay, and trains with --dataset or --model/--data. */
import { basename, extname, resolve } from 'node:path'
import type { Dataset } from '@murmur/protocol'
import type { Agent, AgentEvent } from '../agent/agent.js'
import type { TrainingAgentEvent } from '../agent/training-agent.js'
import { help } from './help.js'
import { count, iceServers, log, oneOf, parse, positiveNumber, stopWithin, untilSignal, usage } from './args.js'

const TRAINING_FLAGS = ['partition', 'partition-kind', 'seed', 'samples', 'test-samples', 'rounds', 'rule', 'trim', 'create', 'fan-out', 'encoding', 'local-steps', 'wait-peers', 'wait-timeout', 'backend', 'model', 'loss', 'optimizer', 'lr', 'metrics', 'batch-size'] as const
/** Errors of the operator's data, model or flags: exit 2 with the message. */
const USER_TRAINING_ERRORS = new Set(['DatasetNotFoundError', 'InvalidPartitionError', 'InvalidDatasetError', 'InvalidModelConfigError', 'UnknownLayerError', 'InvalidSessionOptionsError', 'SessionConfigConflictError', 'SessionUnreachableError', 'UnknownMergeRuleError', 'InvalidDataFileError'])
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
    model: { type: 'string' },
    data: { type: 'string' },
    format: { type: 'string' },
    target: { type: 'string' },
    x: { type: 'string' },
    y: { type: 'string' },
    window: { type: 'string' },
    'test-split': { type: 'string' },
    loss: { type: 'string' },
    optimizer: { type: 'string' },
    lr: { type: 'string' },
    metrics: { type: 'string' },
    'batch-size': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('agent')
  if (values.bootstrap == null || values.bootstrap.length === 0) throw usage('missing --bootstrap <relay multiaddr>', 'agent')
  if (values.session == null) throw usage('missing --session <id>', 'agent')
  const timeout = positiveNumber(values.timeout, '--timeout', 'agent')
  const upgradeTimeout = positiveNumber(values['upgrade-timeout'], '--upgrade-timeout', 'agent')
  const given = TRAINING_FLAGS.filter(f => values[f] !== undefined)
  if (values.dataset == null && values.data == null && given.length > 0) throw usage(`--${given[0] ?? ''} needs --dataset mnist|fashion-mnist or --data <file>`, 'agent')
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
  if (values.dataset == null && values.data == null) {
    const { runAgent } = await import('../agent/agent.js')
    running = await runAgent({ ...common, onEvent: event => { printAgentEvent(event, out) } })
  } else {
    // every flag is checked before libp2p and tfjs load, so a typo is answered at once
    const flags = await import('../agent/flags.js')
    if (values.dataset != null && values.data != null) throw usage('give --dataset (a shipped data set) or --data (your own file), not both', 'agent')
    const dataset = values.dataset != null ? oneOf(values.dataset, flags.AGENT_DATASETS, '--dataset') : undefined
    if (values.data != null && values.create === true && values.model == null) throw usage('--create with your own --data needs your --model (a tfjs model.json)', 'agent')
    const part = values.partition != null ? flags.parsePartition(values.partition) : { index: 0, count: 1 }
    const kind = values['partition-kind'] != null ? flags.parsePartitionKind(values['partition-kind']) : 'iid'
    const waitTimeout = positiveNumber(values['wait-timeout'], '--wait-timeout', 'agent')
    const rounds = count(values.rounds, '--rounds', true)
    const fanOut = count(values['fan-out'], '--fan-out')
    const localSteps = count(values['local-steps'], '--local-steps')
    const batchSize = count(values['batch-size'], '--batch-size')
    const encoding = oneOf(values.encoding, ENCODINGS, '--encoding')
    const rule = values.rule
    if (rule != null && !/^[A-Za-z][A-Za-z0-9._-]{0,63}$/.test(rule)) throw usage(`--rule must name a merge rule (${RULES.join(', ')}), got "${rule}"`, 'agent')
    const trim = values.trim != null ? Number(values.trim) : undefined
    if (trim != null && !(trim >= 0 && trim < 0.5)) throw usage(`--trim must be a fraction in [0, 0.5) (cut from each side by trimmed-mean), got "${values.trim}"`, 'agent')
    if (trim != null && values.create !== true) throw usage('--trim sets the session\'s trim and needs --create (the creator writes the config)', 'agent')
    const seed = count(values.seed, '--seed', true)
    const samples = count(values.samples, '--samples')
    const testSamples = count(values['test-samples'], '--test-samples')
    const waitPeers = count(values['wait-peers'], '--wait-peers', true)
    const backend = oneOf(values.backend, ['wasm', 'cpu'] as const, '--backend')
    const learningRate = values.lr != null ? positiveNumber(values.lr, '--lr', 'agent') : undefined
    const metrics = values.metrics?.split(',').map((m: string) => m.trim()).filter((m: string) => m !== '')
    const training = await import('../agent/training-agent.js')
    let trainer
    try {
      const userData = values.data != null ? await loadUserData(values, testSamples) : undefined
      const { registerFileSystemRouter } = await import('../data/index.js')
      registerFileSystemRouter()
      trainer = await training.runTrainingAgent({
        ...common,
        data: userData ?? { dataset: dataset ?? 'mnist', samples, testSamples },
        partition: { ...part, kind, seed },
        ...(values.model != null ? { model: modelUrl(values.model) } : {}),
        training: {
          ...(values.loss != null ? { loss: values.loss } : {}),
          ...(values.optimizer != null || learningRate != null ? { optimizer: { name: (values.optimizer ?? 'sgd') as 'sgd', learningRate: learningRate ?? 0.05 } } : {}),
          ...(metrics != null ? { metrics } : {}),
          ...(localSteps != null ? { localSteps } : {}),
          ...(batchSize != null ? { batchSize } : {})
        },
        rounds: rounds === 0 ? undefined : rounds,
        rule: values.create === true ? undefined : rule,
        create: values.create === true ? { fanOut, encoding, localSteps, batchSize, averaging: rule, trim } : undefined,
        pace: waitPeers != null || waitTimeout != null ? { minPeers: waitPeers ?? 1, startTimeout: (waitTimeout ?? 60) * 1000 } : undefined,
        joinTimeout: waitTimeout != null ? waitTimeout * 1000 : undefined,
        backend,
        onEvent: event => { printTrainingEvent(event, out) }
      })
    } catch (err) {
      // a missing data set, a partition the data cannot give, or a model that does not fit is the operator's to fix: exit 2
      const name = (err as Error).name
      if (USER_TRAINING_ERRORS.has(name)) throw usage((err as Error).message, 'agent')
      throw err
    }
    running = { stop: trainer.stop, connect: trainer.peer.agent.connect }
    const peer = trainer.peer
    finished = trainer.done.then(() => { out(`DONE rounds=${peer.rounds}`) })
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
  const f = (n: number | undefined): string => n != null && Number.isFinite(n) ? n.toFixed(4) : 'nan'
  switch (event.type) {
    case 'data': out(`DATA ${event.dataset} train=${event.train} test=${event.test} backend=${event.backend}`); break
    case 'backend': break
    case 'storage': {
      const { shards: s, checkpoints: c, doc: d } = event
      out(`STORAGE shards kept=${s.kept} removed=${s.removed} tmp=${s.tempFiles} checkpoints kept=${c.kept} removed=${c.removed} tmp=${c.tempFiles} orphans=${c.orphans} log records=${d.records} dropped-bytes=${d.droppedBytes} skipped=${d.skipped}`)
      break
    }
    case 'resume': out(`RESUME round=${event.round} acc=${f(event.metrics.accuracy)} saved-acc=${f(event.saved.accuracy)} ${metricText(event.metrics)}`); break
    case 'resume-failed': out(`RESUME-FAILED ${event.reason}`); break
    case 'peers': out(`PEERS ready=${event.ready} wanted=${event.wanted}${event.waited ? ' (timed out)' : ''}`); break
    case 'round': {
      const m = event.metrics
      out(`ROUND ${m.round} loss=${f(m.loss)} acc=${f(m.accuracy)} merged=${m.mergedWith.length} sent=${m.bytesSent} recv=${m.bytesReceived} backend=${event.backend} with=${m.mergedWith.join(',')} ${metricText(m.metrics)}`.trimEnd())
      break
    }
    case 'checkpoint': out(`CHECKPOINT round=${event.round}`); break
    case 'warning': log(`warning: ${event.message}`); break
    default: printAgentEvent(event, out)
  }
}

/** The session's metrics as `name=value` pairs (accuracy is printed as acc already). */
function metricText (metrics: Record<string, number>): string {
  return Object.entries(metrics).filter(([k]) => k !== 'accuracy').map(([k, v]) => `${k}=${Number.isFinite(v) ? v.toFixed(4) : 'nan'}`).join(' ')
}

/** A model path as tf.loadLayersModel takes it: URLs as they are, plain paths as file:// URLs. */
function modelUrl (path: string): string {
  if (/^[a-z]+:\/\//i.test(path)) return path
  return `file://${resolve(path)}`
}

/** The user's own data file, split into train and held-out parts. */
async function loadUserData (values: Record<string, string | boolean | string[] | undefined>, testSamples: number | undefined): Promise<{ train: Dataset, test?: Dataset, name: string }> {
  const file = values.data as string
  const format = (values.format as string | undefined) ?? formatOf(file)
  const data = await import('../data/index.js')
  let all: Dataset
  if (format === 'csv') {
    const target = values.target as string | undefined
    all = (await data.loadCsv(file, { target: target != null && /^\d+$/.test(target) ? Number(target) : (target ?? -1) })).dataset
  } else if (format === 'jsonl') {
    all = (await data.loadJsonLines(file, { x: (values.x as string | undefined) ?? 'x', y: (values.y as string | undefined) ?? 'y' })).dataset
  } else if (format === 'text') {
    const window = count(values.window as string | undefined, '--window') ?? 32
    all = (await data.loadTextWindows(file, { window })).dataset
  } else if (format === 'idx') {
    throw usage('--data with IDX files: use --format idx with --data images.idx,labels.idx', 'agent')
  } else {
    throw usage(`--format must be csv, jsonl or text, got "${format}"`, 'agent')
  }
  const split = values['test-split'] != null ? Number(values['test-split']) : 0.1
  if (!(split >= 0 && split < 1)) throw usage(`--test-split must be a fraction in [0, 1), got "${String(values['test-split'])}"`, 'agent')
  const held = testSamples ?? Math.round(all.count * split)
  // files are often sorted by class: hold out a seeded random share, the same on every run
  const { mulberry32, shuffleInPlace, subset } = await import('@murmur/protocol')
  const idx = shuffleInPlace(Array.from({ length: all.count }, (_, i) => i), mulberry32(7))
  if (all.count - held < 1) throw usage(`${file} holds ${all.count} samples: too few to train on after holding out ${held}`, 'agent')
  return { train: subset(all, idx.slice(0, all.count - held)), test: subset(all, idx.slice(all.count - held)), name: basename(file) }
}

function formatOf (file: string): string {
  const ext = extname(file).toLowerCase()
  if (ext === '.csv') return 'csv'
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl'
  if (ext === '.txt') return 'text'
  return ext.slice(1)
}
