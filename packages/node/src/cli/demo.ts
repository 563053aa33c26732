/** `murmur demo`: a local relay, edge agents and the web app. */
import { help } from './help.js'
import { parse, port, positiveNumber } from './args.js'

/** Run `murmur demo` until its rounds are done or SIGINT/SIGTERM. */
export async function demo (args: string[]): Promise<number> {
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
  const { runDemo } = await import('../demo/demo.js')
  await runDemo({ agents: Math.floor(agents), rounds: rounds != null ? Math.floor(rounds) : undefined, web: values.web, webRoot: values['web-root'], port: port(values.port, '--port', 'demo') ?? 8080, signal: controller.signal })
  return 0
}
