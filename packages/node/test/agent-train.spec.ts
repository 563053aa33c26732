import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runRelay } from '../src/relay/relay.js'
import type { Relay } from '../src/relay/relay.js'
import { parsePartition, parsePartitionKind } from '../src/agent/training-agent.js'
import { requireBuiltCli, runCli, spawnCli, stopCli, waitFor } from './helpers.js'
import type { CliProcess } from './helpers.js'

// Real `murmur agent` processes that know only a relay: they find each other, connect
// directly, train on disjoint slices of MNIST and merge each other's models.

const ROUND = /^ROUND (\d+) loss=\S+ acc=([\d.]+) merged=(\d+) sent=(\d+) recv=(\d+) backend=(\w+) with=(\S*)$/

let relay: Relay
let bootstrap: string
const agents: CliProcess[] = []

beforeAll(async () => {
  requireBuiltCli()
  relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
  bootstrap = relay.addrs.find(a => a.includes('/tcp/') && !a.includes('/ws')) ?? ''
})

afterAll(async () => {
  await Promise.all(agents.map(async a => stopCli(a)))
  await relay?.stop()
})

function rounds (proc: CliProcess): Array<{ round: number, acc: number, merged: number, backend: string, with: string[] }> {
  return proc.stdout.flatMap(line => {
    const m = ROUND.exec(line)
    return m == null ? [] : [{ round: Number(m[1]), acc: Number(m[2]), merged: Number(m[3]), backend: m[6] ?? '', with: (m[7] ?? '').split(',').filter(Boolean) }]
  })
}

describe('murmur agent --dataset', () => {
  it('three agents meet through a relay, train MNIST and merge with each other', async () => {
    const n = 3
    const common = ['--bootstrap', bootstrap, '--session', 'agent-train', '--dataset', 'mnist', '--samples', '1500', '--test-samples', '300',
      '--rounds', '6', '--wait-peers', '2', '--wait-timeout', '30', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/p2p-circuit']
    for (let i = 0; i < n; i++) {
      agents.push(spawnCli(['agent', ...common, '--partition', `${i}/${n}`, ...(i === 0 ? ['--create', '--local-steps', '20'] : [])]))
    }
    const done = await waitFor(() => agents.every(a => a.stdout.includes('DONE rounds=6') || a.child.exitCode != null), 55_000, 200)
    // every line, connection events included: an agent that nobody reached (seen once in CI)
    // is diagnosed from its RESERVED / CONNECT / DISCONNECT lines
    const report = agents.map((a, i) => `agent ${i}:\n${a.stdout.join('\n')}\n${a.stderr.slice(-5).join('\n')}`).join('\n')
    expect(done, report).toBe(true)

    const ids = agents.map(a => /^PEER (\S+)$/.exec(a.stdout.find(l => l.startsWith('PEER ')) ?? '')?.[1])
    for (const [i, a] of agents.entries()) {
      const r = rounds(a)
      expect(r.map(x => x.round), report).toEqual([1, 2, 3, 4, 5, 6])
      expect(r.every(x => x.backend === 'wasm' || x.backend === 'cpu')).toBe(true)
      // ten classes: chance is 10 %; 6 rounds of 20 steps reach well over 60 % on MNIST
      const last = r[r.length - 1]?.acc ?? 0
      expect(last, report).toBeGreaterThan(0.6)
      const partners = new Set(r.flatMap(x => x.with))
      expect(partners.size, report).toBeGreaterThan(0)
      for (const p of partners) expect(ids.filter((_, j) => j !== i)).toContain(p)
    }
    const sizes = agents.map(a => /train=(\d+)/.exec(a.stdout.find(l => l.startsWith('DATA ')) ?? '')?.[1])
    expect(sizes).toEqual(['1500', '1500', '1500'])
  }, 58_000)

  it('refuses bad training flags with exit code 2 and says what to fix', async () => {
    const base = ['agent', '--bootstrap', bootstrap, '--session', 'bad-flags']
    const cases: Array<[string[], RegExp]> = [
      [['--dataset', 'mnist', '--partition', '3/3'], /i must be below n/],
      [['--dataset', 'mnist', '--partition', 'one/3'], /--partition must be i\/n/],
      [['--dataset', 'cifar'], /--dataset must be one of mnist, fashion-mnist/],
      [['--partition', '0/2'], /--partition needs --dataset/],
      [['--dataset', 'mnist', '--rounds', 'many'], /--rounds must be a whole number/],
      [['--dataset', 'mnist', '--samples', '40000', '--partition', '0/2'], /needs 80000 training images/],
      [['--dataset', 'mnist', '--partition-kind', 'dirichlet:-1'], /--partition-kind must be iid or dirichlet/],
      [['--dataset', 'mnist', '--create', '--encoding', 'fp8'], /--encoding must be one of fp32, fp16, int8/]
    ]
    // four at a time: each is a Node process, and the machine may be busy
    const results = []
    for (let i = 0; i < cases.length; i += 4) {
      results.push(...await Promise.all(cases.slice(i, i + 4).map(async ([flags]) => runCli([...base, ...flags], 25_000))))
    }
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]?.[0].join(' ')).toBe(2)
      expect(r.stderr.join('\n')).toMatch(cases[i]?.[1] ?? /never/)
    }
  })

  it('documents training and crash safety in --help', async () => {
    const r = await runCli(['agent', '--help'])
    expect(r.code).toBe(0)
    const text = r.stdout.join('\n')
    for (const flag of ['--dataset', '--partition <i/n>', '--partition-kind', '--rounds', '--create', '--samples', '--test-samples', '--rule', '--data-dir']) expect(text).toContain(flag)
    expect(text).toContain('dataset-fashion-mnist')
  })
})

describe('partition flags', () => {
  it('parse i/n and the partition kind', () => {
    expect(parsePartition('2/5')).toEqual({ index: 2, count: 5 })
    expect(() => parsePartition('5/5')).toThrow(/below n/)
    expect(() => parsePartition('0/0')).toThrow(/at least 1/)
    expect(() => parsePartition('-1/3')).toThrow(/i\/n/)
    expect(parsePartitionKind('iid')).toBe('iid')
    expect(parsePartitionKind('dirichlet:0.5')).toEqual({ dirichlet: 0.5 })
    expect(() => parsePartitionKind('dirichlet:0')).toThrow(/alpha > 0/)
  })
})
