import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The built CLI; tests run against what `npx tsc -b` produced, as users do. */
export const CLI = fileURLToPath(new URL('../dist/src/cli/index.js', import.meta.url))

/** Fail early with the fix when the CLI has not been built. */
export function requireBuiltCli (): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npx tsc -b' in packages/node first`)
}

/** Poll `check` until it returns a value other than undefined/false, or `ms` pass. */
export async function waitFor<T> (check: () => T | undefined | false | Promise<T | undefined | false>, ms: number, every = 50): Promise<T | undefined> {
  const end = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() >= end) return undefined
    await new Promise(resolve => setTimeout(resolve, every))
  }
}

/** A spawned CLI process whose output is collected line by line. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

/** Spawn `murmur <args>` on the Node running the tests. */
export function spawnCli (args: string[]): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  const stdout: string[] = []
  const stderr: string[] = []
  collect(child.stdout, stdout)
  collect(child.stderr, stderr)
  const exited = new Promise<number | null>(resolve => { child.on('close', code => { resolve(code) }) })
  return { child, stdout, stderr, exited }
}

function collect (stream: NodeJS.ReadableStream, lines: string[]): void {
  let partial = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  stream.on('end', () => { if (partial !== '') lines.push(partial) })
}

/** Run `murmur <args>` to completion (bounded by `ms`, then killed). */
export async function runCli (args: string[], ms = 30_000): Promise<{ code: number | null, stdout: string[], stderr: string[] }> {
  const proc = spawnCli(args)
  const timer = setTimeout(() => { proc.child.kill('SIGKILL') }, ms)
  const code = await proc.exited
  clearTimeout(timer)
  return { code, stdout: proc.stdout, stderr: proc.stderr }
}

/** Stop a long-running CLI process with SIGTERM and wait for its exit (SIGKILL after `ms`). */
export async function stopCli (proc: CliProcess, ms = 8000): Promise<number | null> {
  if (proc.child.exitCode != null) return proc.child.exitCode
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => { proc.child.kill('SIGKILL') }, ms)
  const code = await proc.exited
  clearTimeout(timer)
  return code
}
