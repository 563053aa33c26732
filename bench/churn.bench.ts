/**
 * Churn soak at full size: 30 agents training one session over the memory transport, one
 * leaving or joining every 5 s for five minutes (packages/node/test/churn.spec.ts scaled
 * up). Prints fetch outcomes (ok / failed / rejected / wrong), whether the remaining
 * replicas converged, and, sampled after a forced GC at every event, retained heap and
 * off-heap memory per live agent, blocks in the stores, DHT provider records, the size of
 * the session document and live tfjs tensors.
 *
 *   node dist/churn.bench.js [agents, default 30] [seconds, default 300] [ms between events, default 5000]
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

await runSpec('packages/node', ['test/churn.spec.ts'], {
  MURMUR_CHURN_AGENTS: process.argv[2] ?? '30',
  MURMUR_CHURN_SECONDS: process.argv[3] ?? '300',
  MURMUR_CHURN_EVERY_MS: process.argv[4] ?? '5000'
})
