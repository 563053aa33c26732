/**
 * A relay over loopback TCP under 200 simultaneous joiners (dial + reservation), while two
 * existing peers ping it and each other through it: the same check as
 * packages/node/test/relay-load.spec.ts at full size. Prints attempts connected/refused,
 * reservations held and the existing peers' ping success.
 *
 *   node dist/relay-load.bench.js [joiners, default 200]
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Run vitest on `files` in `pkg` with `env` added, streaming its output; exits with its status. */
async function runSpec (pkg: string, files: string[], env: Record<string, string>): Promise<void> {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
  const child = spawn(process.execPath, [vitest, 'run', ...files], { cwd: join(root, pkg), env: { ...process.env, ...env }, stdio: 'inherit' })
  const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
  process.exitCode = code ?? 1
}

await runSpec('packages/node', ['test/relay-load.spec.ts'], { MURMUR_RELAY_ATTEMPTS: process.argv[2] ?? '200' })
