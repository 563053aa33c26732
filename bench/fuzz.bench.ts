/**
 * The long fuzz run: the same suites as `npm test` (packages/protocol/test/fuzz-*.spec.ts),
 * scaled up, printing the per-handler outcome tables for bench/RESULTS.md. One source of
 * truth for the inputs and the checks; only the count differs.
 *
 *   node dist/fuzz.bench.js [inputs per handler, default 100000] [seed]
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

const inputs = process.argv[2] ?? '100000'
const seed = process.argv[3] ?? String(Date.now() % 1_000_000)
await runSpec('packages/protocol', ['test/fuzz-streams.spec.ts', 'test/fuzz-gossip.spec.ts'], { MURMUR_FUZZ_INPUTS: inputs, MURMUR_FUZZ_SEED: seed })
