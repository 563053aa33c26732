// A Murmur agent that moves a model across the direct connection nat-test.sh sets up.
//
//   node shard-peer.mjs seed  --bootstrap <relay> --ice <stun url> [--mib 2]
//   node shard-peer.mjs fetch --bootstrap <relay> --ice <stun url> --dial <seed peer id> \
//                              --manifest <cid> --sha256 <hex>
//
// `seed` builds a model from random weights, stores and announces its blocks and prints
// `PEER <id>`, `RESERVED <addr>`, `MANIFEST <cid>`, `SHA256 <hex of the weights>`, then
// `SERVED <blocks> <bytes>` as peers fetch. `fetch` reaches the seed through the relay, waits
// for a direct (non-relayed) connection, fetches the manifest's shards, rebuilds the
// snapshot, checks its hash and prints
//   FETCHED <blocks> <bytes> <ms> sha256=<ok|MISMATCH> via=<transport>:<relayed|direct>[,...] <remote addr>
// and exits 0 only when the snapshot matched and only direct connections carried shards.
// Runs on the repo's Node 24 against the built packages (npx tsc -b in packages/node).
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { createModelContent, PROTOCOL_SHARD } from '@murmur/protocol'
import { runAgent, isRelayed, summarizeConnection } from '@murmur/node'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    bootstrap: { type: 'string' },
    ice: { type: 'string' },
    mib: { type: 'string', default: '2' },
    dial: { type: 'string' },
    manifest: { type: 'string' },
    sha256: { type: 'string' },
    'direct-timeout': { type: 'string', default: '20' }
  }
})
const role = positionals[0]
if ((role !== 'seed' && role !== 'fetch') || values.bootstrap == null) {
  console.error('usage: shard-peer.mjs seed|fetch --bootstrap <relay multiaddr> [--ice stun:host:port] ...')
  process.exit(2)
}
const out = (line) => { console.log(line) }

const agent = await runAgent({
  bootstrap: [values.bootstrap],
  session: 'nat-shards',
  iceServers: values.ice != null ? [{ urls: values.ice }] : [],
  onEvent: (event) => {
    switch (event.type) {
      case 'started': out(`PEER ${event.peer}`); break
      case 'reserved': event.addrs.forEach(a => { out(`RESERVED ${a}`) }); break
      case 'reservation-missing': out(`NORESERVATION ${event.reason}`); break
      case 'direct': out(`DIRECT ${event.connection.peer} ${event.connection.transport} ${event.connection.remoteAddr} rtt=${event.rttMs}ms`); break
      case 'connect-report': out(`REPORT ${JSON.stringify(event.report)}`); break
      default: break
    }
  }
})
const node = agent.node
let stopping = false
const stop = async (code) => {
  if (stopping) return
  stopping = true
  await agent.stop().catch(() => {})
  process.exit(code)
}
process.on('SIGTERM', () => { void stop(0) })
process.on('SIGINT', () => { void stop(130) })

const sha256 = (data) => createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex')

if (role === 'seed') {
  // uniform weights in [-1, 1): every value a finite float, as a trained model's would be
  const n = Math.floor(Number(values.mib) * 1024 * 1024 / 4)
  const data = new Float32Array(n)
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1
  const content = await createModelContent({ tensors: [{ name: 'nat/kernel', shape: [n], kind: 'weight', data }] }, { modelId: 'nat-test', author: node.peerId.toString() })
  await node.services.shards.publish(content)
  out(`MANIFEST ${content.manifestCid.toString()}`)
  out(`SHA256 ${sha256(data)}`)
  let last = -1
  const report = setInterval(() => {
    const { served, bytesServed } = node.services.shards.stats
    if (served !== last) { last = served; out(`SERVED ${served} ${bytesServed}`) }
  }, 250)
  process.on('exit', () => { clearInterval(report) })
} else {
  if (values.dial == null || values.manifest == null || values.sha256 == null) {
    console.error('fetch needs --dial <peer id> --manifest <cid> --sha256 <hex>')
    await stop(2)
  }
  const seed = peerIdFromString(values.dial)
  const report = await agent.connect(values.dial, { upgradeTimeout: 5000 })
  const directTimeout = Number(values['direct-timeout']) * 1000
  const direct = () => node.getConnections(seed).filter(c => c.status === 'open' && !isRelayed(c))
  for (const end = Date.now() + directTimeout; direct().length === 0 && Date.now() < end;) await new Promise(resolve => setTimeout(resolve, 100))
  if (direct().length === 0) {
    out(`FETCHFAILED no direct connection to ${values.dial} (${report.errors.join('; ')})`)
    await stop(1)
  }
  // libp2p opens new streams on an unlimited (non-relayed) connection when one exists;
  // watch every connection to the seed to see which one the shard streams really used
  const carriers = new Map()
  const watch = () => {
    for (const c of node.getConnections(seed)) {
      if (c.streams.some(s => s.protocol === PROTOCOL_SHARD)) {
        const s = summarizeConnection(c)
        carriers.set(c.id, `${s.transport}:${isRelayed(c) ? 'relayed' : 'direct'} ${s.remoteAddr}`)
      }
    }
  }
  const watcher = setInterval(watch, 20)
  const started = Date.now()
  try {
    const { snapshot, result } = await node.services.shards.fetchModel(CID.parse(values.manifest), {
      providers: [seed],
      onProgress: watch,
      signal: AbortSignal.timeout(60_000)
    })
    clearInterval(watcher)
    const ms = Date.now() - started
    const tensor = snapshot.tensors[0]
    const ok = tensor != null && sha256(tensor.data) === values.sha256
    const via = [...carriers.values()]
    out(`FETCHED ${result.shards} ${result.bytes} ${ms} sha256=${ok ? 'ok' : 'MISMATCH'} via=${via.length > 0 ? via.join(',') : 'unseen'}`)
    const onlyDirect = via.length > 0 && via.every(v => v.includes(':direct '))
    await stop(ok && onlyDirect ? 0 : 1)
  } catch (err) {
    clearInterval(watcher)
    out(`FETCHFAILED ${err.name}: ${err.message}`)
    await stop(1)
  }
}
