import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createModelContent, MemoryShardStore, MURMUR_DHT_PROTOCOL as PROTOCOL_DHT } from '@murmur/protocol'
import type { ModelSnapshot } from '@murmur/protocol'
import { createNodePeer, IDENTITY_FILE, MURMUR_DHT_PROTOCOL } from '../src/index.js'
import type { NodePeer, NodePeerOptions } from '../src/index.js'
import type { ServiceMap } from '@libp2p/interface'
import { waitFor } from './helpers.js'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']
const started: NodePeer[] = []
const dirs: string[] = []

async function peer<S extends ServiceMap = Record<never, never>> (options: NodePeerOptions<S>): Promise<NodePeer<S>> {
  const node = await createNodePeer(options)
  started.push(node as unknown as NodePeer)
  return node
}

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'murmur-peer-'))
  dirs.push(dir)
  return dir
}

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name))
}

/** A one-tensor model of `n` pseudo-random weights (seeded: the same bytes every run). */
function randomSnapshot (n: number): ModelSnapshot {
  const data = new Float32Array(n)
  let s = 7
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; data[i] = s / 2 ** 32 - 0.5 }
  return { tensors: [{ name: 'dense/kernel', shape: [n], kind: 'weight', data }] }
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(async n => { await n.stop() }))
  await Promise.all(dirs.splice(0).map(async d => rm(d, { recursive: true, force: true })))
})

describe('createNodePeer', () => {
  it('keeps its peer id across restarts with the same dataDir, in a 0600 identity file', async () => {
    const dataDir = await tempDir()
    const first = await peer({ dataDir, listen: LOOPBACK })
    const id = first.peerId.toString()
    await first.stop()
    const second = await peer({ dataDir, listen: LOOPBACK })
    expect(second.peerId.toString()).toBe(id)
    expect((await stat(join(dataDir, IDENTITY_FILE))).mode & 0o777).toBe(0o600)

    const elsewhere = await peer({ dataDir: await tempDir(), listen: LOOPBACK })
    expect(elsewhere.peerId.toString()).not.toBe(id)
  })

  it('gets a fresh identity on every start without a dataDir', async () => {
    const a = await peer({ transports: 'memory' })
    const b = await peer({ transports: 'memory' })
    expect(a.peerId.equals(b.peerId)).toBe(false)
  })

  it('stores what it learns in files under <dataDir>/datastore and finds it again after a restart', async () => {
    const dataDir = await tempDir()
    const other = await peer({ listen: LOOPBACK, dhtMode: 'server' })
    const first = await peer({ dataDir, listen: LOOPBACK })
    await first.dial(other.getMultiaddrs())
    // identify fills the peer store, which the FsDatastore writes to disk
    expect(await waitFor(async () => (await first.peerStore.get(other.peerId)).protocols.includes(MURMUR_DHT_PROTOCOL), 10_000)).toBe(true)
    await first.stop()

    const files = await filesUnder(join(dataDir, 'datastore'))
    expect(files.length).toBeGreaterThan(0)
    expect(files.some(f => f.includes('peers'))).toBe(true)

    const restarted = await peer({ dataDir, listen: LOOPBACK })
    const remembered = await restarted.peerStore.get(other.peerId)
    expect(remembered.addresses.map(a => a.multiaddr.toString())).toContain(other.getMultiaddrs()[0]?.toString().replace(/\/p2p\/.*$/, ''))
  })

  it('tightens a readable identity file and refuses one that is not a key', async () => {
    const dataDir = await tempDir()
    const first = await peer({ dataDir, transports: 'memory' })
    await first.stop()
    await chmod(join(dataDir, IDENTITY_FILE), 0o644)
    const again = await peer({ dataDir, transports: 'memory' })
    expect(again.peerId.equals(first.peerId)).toBe(true)
    expect((await stat(join(dataDir, IDENTITY_FILE))).mode & 0o777).toBe(0o600)

    const broken = await tempDir()
    await writeFile(join(broken, IDENTITY_FILE), 'not a key', { mode: 0o600 })
    await expect(createNodePeer({ dataDir: broken, transports: 'memory' })).rejects.toMatchObject({ name: 'InvalidIdentityError' })
  })

  it('runs the Murmur services and plugs in extra ones', async () => {
    const node = await peer({
      transports: 'memory',
      dhtMode: 'server',
      services: { hello: (components: { peerId: { toString: () => string } }) => ({ greeting: `hello from ${components.peerId.toString()}` }) }
    })
    expect(node.services.hello.greeting).toBe(`hello from ${node.peerId.toString()}`)
    for (const name of ['identify', 'identifyPush', 'ping', 'autoNAT', 'dcutr', 'dht', 'pubsub', 'shards', 'state', 'heads', 'directUpgrade']) {
      expect(node.services[name], name).toBeDefined()
    }
    expect(node.services.relay).toBeUndefined()
    expect(node.services.pubsub.globalSignaturePolicy).toBe('StrictSign')
    expect(node.getProtocols()).toContain(MURMUR_DHT_PROTOCOL)
    expect(node.getProtocols()).not.toContain('/ipfs/kad/1.0.0')
  })

  it('has one DHT protocol id, the one @murmur/protocol defines', () => {
    expect(MURMUR_DHT_PROTOCOL).toBe(PROTOCOL_DHT)
  })

  it('uses the shard store it is given, else memory without a dataDir', async () => {
    const store = new MemoryShardStore()
    const given = await peer({ transports: 'memory', store })
    expect(given.services.shards.store).toBe(store)
    const plain = await peer({ transports: 'memory' })
    expect(plain.services.shards.store).toBeInstanceOf(MemoryShardStore)
    expect(plain.services.dht.getMode()).toBe('client')
  })

  it('keeps fetched shards in <dataDir>/datastore and serves them again after a restart', async () => {
    const snapshot = randomSnapshot(300_000)
    const content = await createModelContent(snapshot, { shardSize: 64 * 1024, modelId: 'peer-spec' })
    const seeder = await peer({ transports: 'memory', dhtMode: 'server' })
    await seeder.services.shards.publish(content)

    const dataDir = await tempDir()
    const first = await peer({ dataDir, transports: 'memory', dhtMode: 'server' })
    await first.dial(seeder.getMultiaddrs())
    const fetched = await first.services.shards.fetchModel(content.manifestCid, { providers: [seeder.peerId], signal: AbortSignal.timeout(20_000) })
    expect(fetched.snapshot.tensors[0]?.data).toEqual(snapshot.tensors[0]?.data)
    expect(fetched.result.shards).toBe(content.shards.length + 1)
    await first.stop()
    await seeder.stop()

    const restarted = await peer({ dataDir, transports: 'memory', dhtMode: 'server' })
    expect(restarted.services.shards.store).not.toBeInstanceOf(MemoryShardStore)
    for (const { cid } of content.shards) expect(await restarted.services.shards.store.has(cid)).toBe(true)
    // a newcomer gets the whole model from the restarted peer alone: it came back from disk
    const newcomer = await peer({ transports: 'memory', dhtMode: 'server' })
    await newcomer.dial(restarted.getMultiaddrs())
    const again = await newcomer.services.shards.fetchModel(content.manifestCid, { providers: [restarted.peerId], signal: AbortSignal.timeout(20_000) })
    expect(again.snapshot.tensors[0]?.data).toEqual(snapshot.tensors[0]?.data)
    expect(Object.keys(again.result.servedBy)).toEqual([restarted.peerId.toString()])
  })

  it('delivers gossipsub messages between two memory-transport peers', async () => {
    const a = await peer({ transports: 'memory', dhtMode: 'server' })
    const b = await peer({ transports: 'memory', dhtMode: 'server' })
    const topic = '/murmur/peer-spec/state'
    a.services.pubsub.subscribe(topic)
    b.services.pubsub.subscribe(topic)
    const received: string[] = []
    b.services.pubsub.addEventListener('message', evt => { received.push(new TextDecoder().decode(evt.detail.data)) })
    await a.dial(b.getMultiaddrs())
    const seen = await waitFor(async () => {
      if (a.services.pubsub.getSubscribers(topic).length === 0) return false
      await a.services.pubsub.publish(topic, new TextEncoder().encode('hello'))
      return received.includes('hello')
    }, 15_000, 300)
    expect(seen).toBe(true)
  })

  it('serves as a relay with its own limits when asked', async () => {
    const relay = await peer({ listen: LOOPBACK, relayServer: { maxReservations: 3 } })
    expect(relay.services.relay).toBeDefined()
    expect(relay.getProtocols()).toContain('/libp2p/circuit/relay/0.2.0/hop')
    expect(relay.services.dht.getMode()).toBe('server')
    const client = await peer({ listen: [...LOOPBACK, '/p2p-circuit'], bootstrap: relay.getMultiaddrs().map(String), bootstrapTimeout: 5000 })
    expect(await waitFor(() => client.getMultiaddrs().some(a => a.toString().includes('/p2p-circuit')), 10_000)).toBe(true)
    expect(relay.services.relay?.reservations.size).toBe(1)
  })

  it('names the problem: bad multiaddr, busy port, unreachable bootstrap peer', async () => {
    await expect(createNodePeer({ listen: ['/ip4/not-an-ip/tcp/0'] })).rejects.toMatchObject({ name: 'InvalidMultiaddrError' })

    const holder = createServer()
    await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve))
    const busy = (holder.address() as AddressInfo).port
    try {
      await expect(createNodePeer({ listen: [`/ip4/127.0.0.1/tcp/${busy}`] })).rejects.toMatchObject({ name: 'AddressInUseError' })
    } finally {
      holder.close()
    }

    const nobody = (await peer({ transports: 'memory' })).getMultiaddrs()[0]?.toString().replace('/memory/', '/memory/gone-')
    await expect(createNodePeer({ transports: 'memory', bootstrap: [nobody ?? ''], bootstrapTimeout: 1500 }))
      .rejects.toMatchObject({ name: 'BootstrapUnreachableError' })
  })
})
