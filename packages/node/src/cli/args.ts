/** Shared flag parsing and process plumbing of the CLI's commands. */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import type { IceServer } from '@murmur/protocol'
import { UsageError } from '../errors.js'

/** A `UsageError` that points at the command's help. */
export function usage (message: string, command?: string): UsageError {
  return new UsageError(`${message} (run 'murmur ${command != null ? `${command} ` : ''}--help')`)
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>> (command: string, args: string[], options: T, positionals = false): ReturnType<typeof parseArgs<{ args: string[], options: T, allowPositionals: boolean, allowNegative: true, strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, allowNegative: true, strict: true })
  } catch (err) {
    const text = (err as Error).message.split('\n')[0] ?? 'bad arguments'
    throw usage(text.replace(/\. To specify a positional.*$/, ''), command)
  }
}

export function port (value: string | undefined, flag: string, command: string): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw usage(`${flag} must be a port number 0-65535, got "${value}"`, command)
  return n
}

export function positiveNumber (value: string | undefined, flag: string, command: string): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw usage(`${flag} must be a positive number, got "${value}"`, command)
  return n
}

export function iceServers (values: string[] | undefined, command: string): IceServer[] | undefined {
  if (values == null) return undefined
  const urls = values.flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')
  for (const url of urls) {
    if (!/^(stun|turns?):[^\s]+$/.test(url)) throw usage(`--ice-servers expects stun:host:port or turn:host:port, got "${url}"`, command)
  }
  return urls.map(url => ({ urls: url }))
}

/** Resolve on SIGINT/SIGTERM; a second signal exits at once. */
export async function untilSignal (): Promise<string> {
  return new Promise(resolve => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.once(signal, () => process.exit(130))
      resolve(signal)
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  })
}

export async function stopWithin (stop: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([stop(), new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

export function oneOf<T extends string> (value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value == null) return undefined
  if (!(allowed as readonly string[]).includes(value)) throw usage(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`, 'agent')
  return value as T
}

export function count (value: string | undefined, flag: string, zero = false): number | undefined {
  if (value == null) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || (!zero && n === 0)) throw usage(`${flag} must be a whole number${zero ? '' : ' above 0'}, got "${value}"`, 'agent')
  return n
}

/** One line on stderr, timestamped. */
export function log (line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`)
}
