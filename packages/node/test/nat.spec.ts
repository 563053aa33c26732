import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { requireBuiltCli } from './helpers.js'

// Runs e2e/nat/nat-test.sh: two agents behind two masquerading NATs (Linux network
// namespaces), a relay and a STUN server on a "public" namespace network; then two
// shard-peer agents in the same places move a 2 MiB model over their direct connection.
// It needs root, iproute2, iptables and coturn; where they are missing the test says so
// and is skipped.

const SCRIPT = fileURLToPath(new URL('../../../e2e/nat/nat-test.sh', import.meta.url))

function missingCapability (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables)'
  for (const tool of ['ip', 'iptables', 'turnserver', 'unshare', 'flock']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `missing ${tool} (apt-get install -y iproute2 iptables coturn util-linux)`
  }
  // root inside a container may still lack CAP_SYS_ADMIN / CAP_NET_ADMIN
  if (spawnSync('unshare', ['--net', 'true']).status !== 0) return 'cannot create network namespaces here'
  return undefined
}

const missing = missingCapability()
if (missing != null) console.info(`nat.spec skipped: ${missing}`)

describe('NAT traversal', () => {
  it.skipIf(missing != null)('two agents behind masquerading NATs end with a direct connection that carries a shard fetch', async () => {
    requireBuiltCli()
    const child = spawn('bash', [SCRIPT], { env: { ...process.env, NODE: process.execPath }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGTERM') }, 85_000)
    const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
    clearTimeout(timer)
    console.info(`${stdout}${stderr.split('\n').filter(l => l.startsWith('[nat]')).join('\n')}`)

    expect(code, stderr).toBe(0)
    expect(stderr).toContain('PASS: direct connection across two NATs')
    // the proof: each agent printed DIRECT once a ping crossed the direct connection
    expect(stdout.match(/^ {2}DIRECT 12D3KooW\w+ (webrtc|tcp) \S+ rtt=[\d.]+ms$/gm)?.length).toBeGreaterThanOrEqual(2)

    // which transports worked, as the script's table says (not all must: DCUtR skips 10/8)
    const transports = ['relayed', 'DCUtR', 'WebRTC'].map(name => {
      const row = stdout.split('\n').find(l => l.startsWith(name))
      return `${name}: ${row?.slice(40).trim().split(/\s+/)[0] ?? 'missing'}`
    })
    console.info(`transports: ${transports.join(', ')}`)

    // the model crossed the NATs whole, on a direct connection only
    expect(stderr).toContain('PASS: shard fetch over a direct connection across two NATs')
    const fetched = /^ {2}FETCHED (\d+) (\d+) (\d+) sha256=(\w+) via=(\S+) /m.exec(stdout)
    expect(fetched, stdout).not.toBeNull()
    const [, blocks, bytes, , hash, via] = fetched ?? []
    expect(hash).toBe('ok')
    expect(Number(blocks)).toBe(9) // 2 MiB in 256 KiB shards, plus the manifest
    expect(Number(bytes)).toBeGreaterThan(2 * 1024 * 1024)
    expect(via).toMatch(/^(webrtc|tcp):direct$/)
  }, 90_000)
})
