import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBuiltCli, runCli, spawnCli, stopCli, waitFor } from './helpers.js'
import type { CliProcess } from './helpers.js'

// Every flag and message here is what an operator types and reads: the built CLI is
// spawned as a separate process, exactly as `murmur` runs.

const RELAY_ID = /\/p2p\/(12D3KooW[1-9A-HJ-NP-Za-km-z]+)$/

let relay: CliProcess
let relayAddrs: string[] = []

beforeAll(async () => {
  requireBuiltCli()
  relay = spawnCli(['relay', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws', '--listen', '/ip4/127.0.0.1/udp/0/webrtc-direct'])
  relayAddrs = await waitFor(() => relay.stdout.length >= 3 ? relay.stdout.slice(0, 3) : undefined, 20_000) ?? []
  if (relayAddrs.length < 3) throw new Error(`relay did not print its addresses: ${relay.stderr.join('\n')}`)
})

afterAll(async () => {
  if (relay != null) await stopCli(relay)
})

describe('murmur relay', () => {
  it('prints each listen address with /p2p/<peer id> on its own line', () => {
    expect(relayAddrs[0]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/)
    expect(relayAddrs[1]).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW/)
    expect(relayAddrs[2]).toMatch(/^\/ip4\/127\.0\.0\.1\/udp\/\d+\/webrtc-direct\/certhash\/[\w-]+\/p2p\/12D3KooW/)
    const ids = new Set(relayAddrs.map(a => RELAY_ID.exec(a)?.[1]))
    expect(ids.size).toBe(1)
  })

  it('stops cleanly on SIGTERM', async () => {
    const other = spawnCli(['relay', '--host', '127.0.0.1', '--no-webrtc-direct'])
    expect(await waitFor(() => other.stdout.length >= 2, 20_000)).toBe(true)
    expect(await stopCli(other)).toBe(0)
    expect(other.stderr.join('\n')).toContain('SIGTERM: stopping')
  })

  it('says a busy port is busy, with exit code 2', async () => {
    const taken = relayAddrs[0]?.replace(/\/p2p\/.*$/, '') ?? ''
    const result = await runCli(['relay', '--listen', taken])
    expect(result.code).toBe(2)
    expect(result.stderr).toHaveLength(1)
    expect(result.stderr[0]).toMatch(/^murmur: a listen address is already in use .*pick another port/)

    const port = /tcp\/(\d+)/.exec(taken)?.[1] ?? ''
    const byFlag = await runCli(['relay', '--host', '127.0.0.1', '--tcp-port', port])
    expect(byFlag.code).toBe(2)
    expect(byFlag.stderr.join('\n')).toContain('already in use')
  })
})

describe('murmur status', () => {
  it('reports the peer id, protocols, connection type and rtt of a relay', async () => {
    const addr = relayAddrs[0] ?? ''
    const result = await runCli(['status', addr, '--json'])
    expect(result.code, result.stderr.join('\n')).toBe(0)
    const report = JSON.parse(result.stdout.join('\n')) as {
      peer: string, agentVersion: string, protocols: string[], rttMs: number,
      connection: { transport: string, direct: boolean, remoteAddr: string }
    }
    expect(report.peer).toBe(RELAY_ID.exec(addr)?.[1])
    expect(report.agentVersion).toMatch(/^murmur-node\//)
    expect(report.protocols).toEqual(expect.arrayContaining(['/libp2p/circuit/relay/0.2.0/hop', '/murmur/kad/1.0.0', '/ipfs/ping/1.0.0']))
    expect(report.connection).toMatchObject({ transport: 'tcp', direct: true })
    expect(report.rttMs).toBeGreaterThanOrEqual(0)
  })

  it('prints a readable report over WebSockets', async () => {
    const result = await runCli(['status', relayAddrs[1] ?? ''])
    expect(result.code, result.stderr.join('\n')).toBe(0)
    const text = result.stdout.join('\n')
    expect(text).toMatch(/^peer {8}12D3KooW/m)
    expect(text).toMatch(/^connection {2}ws direct outbound /m)
    expect(text).toMatch(/^rtt {9}\d+ ms$/m)
  })

  it('reaches the relay over WebRTC-Direct (what browsers dial without a TLS certificate)', async () => {
    const result = await runCli(['status', relayAddrs[2] ?? '', '--json'])
    expect(result.code, result.stderr.join('\n')).toBe(0)
    const report = JSON.parse(result.stdout.join('\n')) as { peer: string, connection: { transport: string, direct: boolean } }
    expect(report.peer).toBe(RELAY_ID.exec(relayAddrs[2] ?? '')?.[1])
    expect(report.connection).toMatchObject({ transport: 'webrtc-direct', direct: true })
  })

  it('rejects a bad multiaddr with exit code 2 and one line', async () => {
    const result = await runCli(['status', '/ip4/300.1.2.3/tcp/1'])
    expect(result.code).toBe(2)
    expect(result.stderr).toEqual([expect.stringMatching(/^murmur: invalid peer address "\/ip4\/300\.1\.2\.3\/tcp\/1": expected e\.g\. /)])
  })

  it('says at once that a /p2p/ part is no peer id, instead of timing out the bootstrap dial', async () => {
    const started = Date.now()
    const result = await runCli(['agent', '--bootstrap', '/ip4/127.0.0.1/tcp/4001/p2p/notapeerid', '--session', 'x'])
    expect(result.code).toBe(2)
    expect(result.stderr).toEqual([expect.stringMatching(/^murmur: invalid bootstrap address .*"notapeerid" after \/p2p\/ is not a peer id/)])
    expect(Date.now() - started).toBeLessThan(8000)
  })

  it('says an unreachable peer is unreachable', async () => {
    const result = await runCli(['status', '/ip4/127.0.0.1/tcp/1', '--timeout', '3'])
    expect(result.code).toBe(2)
    expect(result.stderr).toEqual([expect.stringMatching(/^murmur: could not reach \/ip4\/127\.0\.0\.1\/tcp\/1: .*check the address/)])
  })
})

describe('murmur agent', () => {
  let blackhole: Server
  const sockets = new Set<Socket>()

  beforeAll(async () => {
    // accepts TCP and never answers: a bootstrap peer that is there but does not speak
    blackhole = createServer(socket => { sockets.add(socket); socket.on('error', () => {}) })
    await new Promise<void>(resolve => blackhole.listen(0, '127.0.0.1', resolve))
  })

  afterAll(() => {
    for (const s of sockets) s.destroy()
    blackhole.close()
  })

  it('times out on an unreachable bootstrap peer with exit code 2 and what to check', async () => {
    const port = (blackhole.address() as AddressInfo).port
    const id = RELAY_ID.exec(relayAddrs[0] ?? '')?.[1] ?? ''
    const result = await runCli(['agent', '--bootstrap', `/ip4/127.0.0.1/tcp/${port}/p2p/${id}`, '--session', 'cli-spec', '--timeout', '2'])
    expect(result.code).toBe(2)
    expect(result.stderr).toEqual([expect.stringMatching(/^murmur: no bootstrap peer answered within 2000 ms .*check the address and that the relay is running/)])
  })

  it('joins a session through the relay and reports its reservation and topics', async () => {
    const agent = spawnCli(['agent', '--bootstrap', relayAddrs[0] ?? '', '--session', 'cli-spec', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/p2p-circuit'])
    try {
      expect(await waitFor(() => agent.stdout.some(l => l.startsWith('TOPIC /murmur/cli-spec/heads')), 20_000), agent.stderr.join('\n')).toBe(true)
      expect(agent.stdout[0]).toMatch(/^PEER 12D3KooW/)
      expect(agent.stdout).toContainEqual(expect.stringMatching(/^RESERVED \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+\/p2p-circuit\/p2p\/12D3KooW/))
      expect(agent.stdout).toContain('TOPIC /murmur/cli-spec/state')
      expect(await stopCli(agent)).toBe(0)
    } finally {
      await stopCli(agent)
    }
  })

  it('refuses a bad session id and missing flags with exit code 2', async () => {
    const bad = await runCli(['agent', '--bootstrap', relayAddrs[0] ?? '', '--session', 'a/b'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toEqual([expect.stringMatching(/^murmur: invalid session id "a\/b"/)])
    const missing = await runCli(['agent', '--session', 's'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toEqual(["murmur: missing --bootstrap <relay multiaddr> (run 'murmur agent --help')"])
    const badIce = await runCli(['agent', '--bootstrap', relayAddrs[0] ?? '', '--session', 's', '--ice-servers', 'http://x'])
    expect(badIce.code).toBe(2)
    expect(badIce.stderr[0]).toContain('--ice-servers expects stun:host:port')
    const badTrim = await runCli(['agent', '--bootstrap', relayAddrs[0] ?? '', '--session', 's', '--dataset', 'mnist', '--create', '--rule', 'trimmed-mean', '--trim', '0.5'])
    expect(badTrim.code).toBe(2)
    expect(badTrim.stderr[0]).toContain('--trim must be a fraction in [0, 0.5)')
    const trimNoCreate = await runCli(['agent', '--bootstrap', relayAddrs[0] ?? '', '--session', 's', '--dataset', 'mnist', '--trim', '0.1'])
    expect(trimNoCreate.code).toBe(2)
    expect(trimNoCreate.stderr[0]).toContain('--trim sets the session\'s trim and needs --create')
  })
})

describe('murmur usage', () => {
  it.each([[['--help']], [['help']], [['relay', '--help']], [['agent', '-h']], [['status', '--help']]])('answers %j with help and exit code 0', async (args) => {
    const result = await runCli(args)
    expect(result.code).toBe(0)
    expect(result.stdout.join('\n')).toMatch(/Usage: murmur/)
  })

  it('names an unknown command or flag, with exit code 2', async () => {
    const command = await runCli(['frobnicate'])
    expect(command.code).toBe(2)
    expect(command.stderr).toEqual(["murmur: unknown command \"frobnicate\"; commands: relay, agent, status, demo, export (run 'murmur --help')"])
    const flag = await runCli(['relay', '--bogus'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toEqual(["murmur: Unknown option '--bogus' (run 'murmur relay --help')"])
    const portValue = await runCli(['relay', '--ws-port', 'eighty'])
    expect(portValue.code).toBe(2)
    expect(portValue.stderr[0]).toContain('--ws-port must be a port number 0-65535')
    const none = await runCli([])
    expect(none.code).toBe(2)
  })
})
