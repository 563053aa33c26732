#!/usr/bin/env node
/**
 * The `murmur` command: one file per command in this folder; this one dispatches and turns
 * errors into exit codes (2 for the user's mistakes, with a one-line message).
 */
import { assertNodeVersion } from '../node-version.js'
import { HELP, help } from './help.js'
import { usage } from './args.js'

assertNodeVersion()

// Commands load libp2p lazily so `--help` and flag errors answer without loading it.

const USER_ERRORS = new Set(['UsageError', 'InvalidMultiaddrError', 'BootstrapUnreachableError', 'PeerUnreachableError', 'AddressInUseError', 'InvalidIdentityError'])

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  relay: async args => await (await import('./relay.js')).relay(args),
  agent: async args => await (await import('./agent.js')).agent(args),
  status: async args => await (await import('./status.js')).status(args),
  demo: async args => await (await import('./demo.js')).demo(args),
  export: async args => await (await import('./export.js')).exportModel(args)
}

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
