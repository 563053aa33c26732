/**
 * A user's own model and data through the CLI, as the README prints it: a tfjs model saved
 * to disk, a CSV file, `murmur agent --model … --data …`, then `murmur export` writes what
 * the agent learnt, and tfjs loads it back to predict.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileSystem } from '../src/data/index.js'
import { runRelay } from '../src/relay/relay.js'
import type { Relay } from '../src/relay/relay.js'
import { requireBuiltCli, runCli } from './helpers.js'

let relay: Relay
let bootstrap: string
let dir: string

beforeAll(async () => {
  requireBuiltCli()
  relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
  bootstrap = relay.addrs.find(a => a.includes('/tcp/') && !a.includes('/ws')) ?? ''
  dir = await mkdtemp(join(tmpdir(), 'murmur-own-'))
})

afterAll(async () => {
  await relay?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('murmur agent with the user\'s own model and data', () => {
  it('trains a saved tfjs model on a CSV file, and murmur export writes a model tfjs loads and predicts with', async () => {
    // y = 2a - b + 0.5c, with a header row and a named target column
    const rows = ['a,b,c,y']
    for (let i = 0; i < 400; i++) {
      const a = Math.sin(i * 1.3), b = Math.cos(i * 0.7), c = Math.sin(i * 0.31)
      rows.push(`${a.toFixed(5)},${b.toFixed(5)},${c.toFixed(5)},${(2 * a - b + 0.5 * c).toFixed(5)}`)
    }
    await writeFile(join(dir, 'samples.csv'), rows.join('\n') + '\n')
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'hidden', units: 8, activation: 'tanh', inputShape: [3] }), tf.layers.dense({ name: 'out', units: 1 })] })
    await model.save(fileSystem(join(dir, 'model')))
    model.dispose()

    const run = await runCli(['agent', '--bootstrap', bootstrap, '--session', 'own-csv', '--create', '--model', join(dir, 'model', 'model.json'),
      '--data', join(dir, 'samples.csv'), '--target', 'y', '--loss', 'meanSquaredError', '--metrics', 'mae,rmse', '--optimizer', 'adam', '--lr', '0.02',
      '--local-steps', '30', '--rounds', '4', '--wait-peers', '0', '--data-dir', join(dir, 'agent'), '--listen', '/ip4/127.0.0.1/tcp/0'], 90_000)
    expect(run.code, run.stderr.join('\n')).toBe(0)
    const maes = run.stdout.flatMap(l => /^ROUND \d+ .* mae=([\d.]+) rmse=([\d.]+)/.exec(l)?.[1] ?? []).map(Number)
    expect(maes.length, run.stdout.join('\n')).toBe(4)
    // it learns: the error falls round over round (the target's spread is about 1.6)
    expect(maes[3]!).toBeLessThan(maes[0]!)
    expect(run.stdout).toContain('DONE rounds=4')

    const exported = await runCli(['export', '--data-dir', join(dir, 'agent'), '--out', join(dir, 'trained')], 60_000)
    expect(exported.code, exported.stderr.join('\n')).toBe(0)
    expect(exported.stdout.join('\n')).toMatch(/^EXPORTED session=own-csv round=4 /m)
    const trained = await tf.loadLayersModel(fileSystem(join(dir, 'trained')))
    const x = tf.tensor2d([[0.5, -0.5, 0.2]])
    const y = (trained.predict(x) as tf.Tensor).dataSync()[0]!
    // 2(0.5) + 0.5 + 0.1 = 1.6; a model that learnt nothing would sit near 0
    expect(Math.abs(y - 1.6)).toBeLessThan(Math.abs(0 - 1.6))
    tf.dispose([x]); trained.dispose()
  }, 120_000)

  it('says what is wrong with a bad file or model, with exit code 2', async () => {
    await writeFile(join(dir, 'bad.csv'), 'a,b\n1,2\noops,3\n')
    const bad = await runCli(['agent', '--bootstrap', bootstrap, '--session', 'bad-csv', '--create', '--model', join(dir, 'model', 'model.json'),
      '--data', join(dir, 'bad.csv'), '--target', 'b', '--loss', 'meanSquaredError', '--rounds', '1', '--wait-peers', '0'], 60_000)
    expect(bad.code).toBe(2)
    expect(bad.stderr.join('\n')).toMatch(/bad\.csv:3/)
    const noModel = await runCli(['agent', '--bootstrap', bootstrap, '--session', 'x', '--create', '--data', join(dir, 'samples.csv')], 30_000)
    expect(noModel.code).toBe(2)
    expect(noModel.stderr.join('\n')).toMatch(/needs your --model/)
  }, 120_000)
})
