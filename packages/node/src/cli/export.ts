/**
 * `murmur export`: an agent's current model out of its data directory, as a tfjs
 * model.json + weights.bin. Reads only (the agent may be running): the last good
 * checkpoint's weights, and the session's model config replayed from the session log.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { help } from './help.js'
import { parse, usage } from './args.js'

/** Run `murmur export --data-dir <dir> --out <dir>`. */
export async function exportModel (args: string[]): Promise<number> {
  const { values } = parse('export', args, {
    'data-dir': { type: 'string' },
    out: { type: 'string' },
    session: { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  })
  if (values.help === true) return help('export')
  const dataDir = values['data-dir']
  if (dataDir == null) throw usage('missing --data-dir <dir> (the agent\'s data directory)', 'export')
  if (values.out == null) throw usage('missing --out <dir> (where model.json and weights.bin go)', 'export')
  const { ModelCheckpoints } = await import('../storage/checkpoints.js')
  const { decodeRecords } = await import('../storage/record-log.js')
  const { Trainer, applyRemoteUpdate, createSessionDoc, getConfig, parseModelConfig } = await import('@murmur/protocol')
  const { fileSystem } = await import('../data/index.js')
  const logs = (await readdir(dataDir).catch(() => [])).filter(f => /^session-.+\.log$/.test(f))
  if (logs.length === 0) throw usage(`${dataDir} holds no session log: is it an agent's --data-dir?`, 'export')
  const session = values.session ?? (logs.length === 1 ? (logs[0] as string).slice('session-'.length, -'.log'.length) : undefined)
  if (session == null) throw usage(`${dataDir} holds several sessions (${logs.map(l => l.slice(8, -4)).join(', ')}): pick one with --session`, 'export')
  const doc = createSessionDoc()
  const { records } = decodeRecords(new Uint8Array(await readFile(join(dataDir, `session-${session}.log`)).catch(() => Buffer.alloc(0))))
  for (const r of records) {
    try { applyRemoteUpdate(doc, r) } catch { /* a torn or bad record: the rest still count */ }
  }
  const config = getConfig(doc)
  if (config == null) throw usage(`the session log of "${session}" holds no session config`, 'export')
  const { checkpoints } = await ModelCheckpoints.open(dataDir, { readOnly: true })
  const restored = await checkpoints.restore()
  if (restored == null || restored.lastGood.session !== session) throw usage(`${dataDir} holds no checkpoint of session "${session}" yet (one is written after each round)`, 'export')
  const trainer = await Trainer.create(parseModelConfig(config.model), { weights: restored.snapshot })
  try {
    const model = trainer.exportModel()
    try {
      await model.save(fileSystem(resolve(values.out)))
    } finally {
      model.dispose()
    }
  } finally {
    trainer.dispose()
  }
  process.stdout.write(`EXPORTED session=${session} round=${restored.lastGood.round} ${join(resolve(values.out), 'model.json')}\n`)
  return 0
}
