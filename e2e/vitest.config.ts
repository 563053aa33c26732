import { defineConfig } from 'vitest/config'

// One Chromium, one relay and a few agents per file: files run one after another so two
// suites never fight over the machine's two cores.
export default defineConfig({
  test: {
    include: ['test/*.spec.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks'
  }
})
