/** `murmur status`: dial a peer and show who it is. */
import { help } from './help.js'
import { iceServers, parse, positiveNumber, usage } from './args.js'

/** Run `murmur status <multiaddr>`. */
export async function status (args: string[]): Promise<number> {
  const { values, positionals } = parse('status', args, {
    json: { type: 'boolean' },
    timeout: { type: 'string' },
    'ice-servers': { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' }
  }, true)
  if (values.help === true) return help('status')
  if (positionals.length !== 1) throw usage(positionals.length === 0 ? 'missing <multiaddr> of the peer to query' : 'give exactly one <multiaddr>', 'status')
  const timeout = positiveNumber(values.timeout, '--timeout', 'status')
  const { peerStatus, formatStatus } = await import('../agent/status.js')
  const report = await peerStatus(positionals[0] as string, {
    timeout: timeout != null ? timeout * 1000 : undefined,
    iceServers: iceServers(values['ice-servers'], 'status')
  })
  process.stdout.write(`${values.json === true ? JSON.stringify(report) : formatStatus(report)}\n`)
  return 0
}
