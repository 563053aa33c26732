import { appendFile, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { cidForBytes, createSessionDoc, listMembers, upsertMember } from '@murmur/protocol'
import type { ModelSnapshot } from '@murmur/protocol'
import * as fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNodePeer } from '../src/peer/node-peer.js'
import type { NodePeer } from '../src/peer/node-peer.js'
import { runRelay } from '../src/relay/relay.js'
import type { Relay } from '../src/relay/relay.js'
import { decodeRecords, encodeRecord, RecordLog, RECORD_LOG_MAGIC } from '../src/storage/record-log.js'
import { persistDoc } from '../src/storage/doc-log.js'
import { checkFolderStore, LAST_GOOD_FILE, openFolderStore } from '../src/storage/folder-store.js'
import { CheckpointUnusableError, ModelCheckpoints } from '../src/storage/checkpoints.js'
import { requireBuiltCli, spawnCli, stopCli, waitFor } from './helpers.js'
import type { CliProcess } from './helpers.js'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'murmur-crash-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => { await Promise.all(dirs.map(async d => rm(d, { recursive: true, force: true }))) })

function logBytes (records: Uint8Array[]): Uint8Array {
  const parts = [RECORD_LOG_MAGIC, ...records.map(encodeRecord)]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

/** Every `*.data` file under `dir` holds exactly the bytes its CID names; returns how many. */
async function verifyFolderOnDisk (dir: string): Promise<{ blocks: number, bad: string[], temp: number }> {
  const result = { blocks: 0, bad: [] as string[], temp: 0 }
  let entries: string[]
  try { entries = await readdir(dir, { recursive: true }) } catch { return result }
  for (const name of entries) {
    if (name.endsWith('.tmp')) result.temp++
    if (!name.endsWith('.data')) continue
    const bytes = await readFile(join(dir, name))
    const cid = (await cidForBytes(bytes)).toString()
    result.blocks++
    if (!name.endsWith(`${cid}.data`)) result.bad.push(name)
  }
  return result
}

function snapshot (seed: number): ModelSnapshot {
  const values = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i))
  return { tensors: [{ name: 'dense/kernel', shape: [300, 200], kind: 'weight', data: values(60_000) }, { name: 'dense/bias', shape: [200], kind: 'bias', data: values(200) }] }
}

describe('record log', () => {
  it('a torn or corrupt tail drops exactly the damaged record and what follows', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 64 }), { minLength: 1, maxLength: 12 }),
      fc.nat(), fc.nat(), fc.boolean(),
      (records, cutSeed, flipSeed, flip) => {
        const bytes = logBytes(records)
        const ends: number[] = []
        let o = RECORD_LOG_MAGIC.byteLength
        for (const r of records) { o += 8 + r.byteLength; ends.push(o) }
        if (flip) {
          const at = RECORD_LOG_MAGIC.byteLength + flipSeed % (bytes.byteLength - RECORD_LOG_MAGIC.byteLength)
          const damaged = bytes.slice()
          damaged[at] = (damaged[at] ?? 0) ^ (1 + flipSeed % 255)
          const k = ends.findIndex(e => at < e)
          const decoded = decodeRecords(damaged)
          expect(decoded.records.length).toBe(k)
          expect(decoded.records).toEqual(records.slice(0, k))
        } else {
          const cut = cutSeed % (bytes.byteLength + 1)
          const decoded = decodeRecords(bytes.subarray(0, cut))
          const whole = ends.filter(e => e <= cut).length
          expect(decoded.records).toEqual(records.slice(0, whole))
          expect(decoded.validBytes + decoded.droppedBytes).toBe(cut)
        }
      }
    ), { numRuns: 300 })
  })

  it('reopening cuts the torn tail off on disk, so later appends are readable', async () => {
    const path = join(await tempDir(), 'doc.log')
    const first = await RecordLog.open(path)
    for (let i = 0; i < 5; i++) await first.log.append(new Uint8Array([i, i, i]))
    await first.log.close()
    await appendFile(path, encodeRecord(new Uint8Array(100)).subarray(0, 50)) // a write killed midway
    const second = await RecordLog.open(path)
    expect(second.records.map(r => r[0])).toEqual([0, 1, 2, 3, 4])
    expect(second.droppedBytes).toBe(50)
    await second.log.append(new Uint8Array([9]))
    await second.log.close()
    const third = await RecordLog.open(path)
    expect(third.records.map(r => r[0])).toEqual([0, 1, 2, 3, 4, 9])
    expect(third.droppedBytes).toBe(0)
    await third.log.close()
  })

  it('the session document reloads up to its first torn update', async () => {
    const path = join(await tempDir(), 'session.log')
    const doc = createSessionDoc()
    const persisted = await persistDoc(doc, path, { compactEvery: 1000 })
    for (let i = 0; i < 6; i++) upsertMember(doc, { peerId: `peer-${i}`, role: 'trainer', backend: 'wasm', samples: i, joinedAt: i, lastSeen: i })
    await persisted.close()
    const full = (await readFile(path)).byteLength
    await truncate(path, full - 3) // the last update's record is torn
    const again = createSessionDoc()
    const reloaded = await persistDoc(again, path)
    expect(reloaded.loaded).toBe(5)
    expect(reloaded.droppedBytes).toBeGreaterThan(0)
    expect(listMembers(again).map(m => m.peerId)).toEqual(['peer-0', 'peer-1', 'peer-2', 'peer-3', 'peer-4'])
    // the load compacted into one record; new updates append after it
    upsertMember(again, { peerId: 'peer-9', role: 'trainer', backend: 'wasm', samples: 9, joinedAt: 9, lastSeen: 9 })
    await reloaded.close()
    const third = createSessionDoc()
    const last = await persistDoc(third, path)
    expect(last.droppedBytes).toBe(0)
    expect(listMembers(third).map(m => m.peerId)).toContain('peer-9')
    await last.close()
  })
})

describe('block stores and checkpoints on disk', () => {
  it('start-up check deletes truncated and rotten blocks and temp leftovers, keeps good ones', async () => {
    const dir = await tempDir()
    const folder = await openFolderStore(dir)
    const blocks = await Promise.all([1, 2, 3].map(async i => { const bytes = new Uint8Array(1000).fill(i); return { cid: await cidForBytes(bytes), bytes } }))
    for (const b of blocks) await folder.store.put(b.cid, b.bytes)
    const [good, torn, rotten] = blocks as [typeof blocks[number], typeof blocks[number], typeof blocks[number]]
    await truncate(folder.fileOf(torn.cid), 10)
    await writeFile(folder.fileOf(rotten.cid), new Uint8Array(1000).fill(7))
    // what datastore-fs leaves when killed between writing its temp file and renaming it
    await writeFile(join(dir, 'murmur', 'shards', `.${good.cid.toString()}.data.tmp`), new Uint8Array(3))
    const check = await checkFolderStore(folder)
    expect(check).toEqual({ kept: 1, removed: 2, tempFiles: 1 })
    expect(await folder.store.has(good.cid)).toBe(true)
    expect(await folder.store.has(torn.cid)).toBe(false)
    expect(await folder.store.has(rotten.cid)).toBe(false)
    expect(await verifyFolderOnDisk(dir)).toEqual({ blocks: 1, bad: [], temp: 0 })
  })

  it('restores the last good checkpoint exactly, ignores a torn record, refuses missing blocks', async () => {
    const dataDir = await tempDir()
    const { checkpoints } = await ModelCheckpoints.open(dataDir)
    await checkpoints.save(snapshot(1), { session: 's', round: 1, metrics: { accuracy: 0.5 } })
    const second = await checkpoints.save(snapshot(2), { session: 's', round: 2, metrics: { accuracy: 0.7 } })
    const restored = await checkpoints.restore()
    expect(restored?.lastGood).toEqual(second)
    expect(restored?.snapshot.tensors[0]?.data).toEqual(snapshot(2).tensors[0]?.data)

    // a half-written block beside the checkpoint (a save killed before its record moved) is an orphan
    const extra = new Uint8Array(64).fill(5)
    await checkpoints.store.put(await cidForBytes(extra), extra)
    const reopened = await ModelCheckpoints.open(dataDir)
    expect(reopened.check.orphans).toBeGreaterThanOrEqual(1)
    expect((await reopened.checkpoints.restore())?.lastGood.round).toBe(2)

    await writeFile(join(dataDir, LAST_GOOD_FILE), '{"session":"s","manif') // torn by hand (the agent writes it atomically)
    expect(await reopened.checkpoints.restore()).toBeUndefined()

    await writeFile(join(dataDir, LAST_GOOD_FILE), JSON.stringify(second))
    const shardFiles = (await readdir(join(dataDir, 'checkpoints'), { recursive: true })).filter(n => n.endsWith('.data'))
    const manifest = `${second.manifest}.data`
    const victim = shardFiles.find(n => !n.endsWith(manifest))
    await rm(join(dataDir, 'checkpoints', victim ?? ''))
    await expect(reopened.checkpoints.restore()).rejects.toBeInstanceOf(CheckpointUnusableError)
  })
})

// kill -9 a real `murmur agent --data-dir` again and again while it writes shards and
// checkpoints and applies a neighbour's state; an honest fetcher keeps pulling its models.
describe('murmur agent survives kill -9', () => {
  const SESSION = 'crash-test'
  let relay: Relay
  let bootstrap: string
  let helper: CliProcess
  let fetcher: NodePeer
  let dataDir: string
  let peerId: string | undefined
  const runs: CliProcess[] = []
  const fetched = { ok: 0, failed: 0 }
  const round = (line: string): { round: number, acc: string } | undefined => {
    const m = /^ROUND (\d+) loss=\S+ acc=([\d.]+)/.exec(line)
    return m == null ? undefined : { round: Number(m[1]), acc: m[2] ?? '' }
  }
  const agentArgs = (create: boolean): string[] => ['agent', '--bootstrap', bootstrap, '--session', SESSION, '--dataset', 'mnist', '--partition', '0/2',
    '--samples', '1500', '--test-samples', '300', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/p2p-circuit', ...(create ? ['--create'] : [])]

  beforeAll(async () => {
    requireBuiltCli()
    dataDir = await tempDir()
    relay = await runRelay({ host: '127.0.0.1', webrtcDirect: false })
    bootstrap = relay.addrs.find(a => a.includes('/tcp/') && !a.includes('/ws')) ?? ''
    fetcher = await createNodePeer({ listen: ['/ip4/127.0.0.1/tcp/0'], directUpgrade: false })
    fetcher.services.heads.join(SESSION)
    fetcher.services.heads.addEventListener('head', evt => {
      if (evt.detail.peer !== peerId) return
      fetcher.services.shards.fetchModel(evt.detail.manifest, { providers: [peerIdFromString(evt.detail.peer)], signal: AbortSignal.timeout(8000) })
        .then(() => { fetched.ok++ }, () => { fetched.failed++ })
    })
  })

  afterAll(async () => {
    for (const r of runs) if (r.child.exitCode == null) r.child.kill('SIGKILL')
    const bounded = async (p: Promise<unknown> | undefined): Promise<unknown> => Promise.race([p?.catch(() => {}), new Promise(resolve => setTimeout(resolve, 10_000))])
    await bounded(helper != null ? stopCli(helper) : undefined)
    await bounded(Promise.resolve(fetcher?.stop()))
    await bounded(relay?.stop())
  })

  /** Start the agent, connect the fetcher, wait until it has trained `rounds` rounds in this run. */
  async function start (create: boolean, rounds: number): Promise<CliProcess> {
    const run = spawnCli(agentArgs(create))
    runs.push(run)
    try {
      return await started(run, rounds)
    } catch (err) {
      run.child.kill('SIGKILL')
      await run.exited
      throw err
    }
  }

  async function started (run: CliProcess, rounds: number): Promise<CliProcess> {
    const addr = await waitFor(() => run.stdout.find(l => /^ADDR \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(l)), 30_000)
    expect(addr, `${run.stdout.join('\n')}\n${run.stderr.join('\n')}`).toBeDefined()
    await fetcher.dial(multiaddr((addr ?? '').slice(5))).catch(() => {})
    const trained = await waitFor(() => run.stdout.filter(l => round(l) != null).length >= rounds && run.stdout.some(l => l.startsWith('CHECKPOINT')), 40_000, 20)
    expect(trained, `${run.stdout.join('\n')}\n${run.stderr.join('\n')}`).toBe(true)
    return run
  }

  async function kill (run: CliProcess): Promise<void> {
    // a random moment after a round ends: shard, checkpoint and state writes are under way
    const seen = run.stdout.filter(l => round(l) != null).length
    await waitFor(() => run.stdout.filter(l => round(l) != null).length > seen, 20_000, 5)
    await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 300)))
    run.child.kill('SIGKILL')
    await run.exited
    // nothing half-written sits under a block's name, even before the restart's own check
    for (const sub of ['shards', 'checkpoints']) expect((await verifyFolderOnDisk(join(dataDir, sub))).bad).toEqual([])
  }

  it('first run: trains next to a neighbour, checkpoints, then is killed', async () => {
    helper = spawnCli(['agent', '--bootstrap', bootstrap, '--session', SESSION, '--dataset', 'mnist', '--partition', '1/2', '--samples', '1500', '--test-samples', '300', '--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/p2p-circuit'])
    const run = await start(true, 3)
    try {
      peerId = /^PEER (\S+)$/.exec(run.stdout.find(l => l.startsWith('PEER ')) ?? '')?.[1]
      expect(peerId).toBeDefined()
      // the neighbour's state updates and models are what the agent applies and stores when killed
      expect(await waitFor(() => helper.stdout.some(l => l.startsWith('ROUND ')), 30_000), helper.stderr.join('\n')).toBe(true)
      await kill(run)
    } finally {
      run.child.kill('SIGKILL')
    }
  }, 58_000)

  for (const cycle of [1, 2, 3]) {
    it(`restart ${cycle}: same peer id, verified storage, resumes from its last good model`, async () => {
      const before = runs[runs.length - 1] as CliProcess
      const run = await start(false, 2)
      try {
        expect(run.stdout).toContain(`PEER ${peerId ?? ''}`)
        const storage = run.stdout.find(l => l.startsWith('STORAGE '))
        expect(storage).toMatch(/log records=[1-9]\d* /)
        const resume = /^RESUME round=(\d+) acc=([\d.]+) saved-acc=([\d.]+)/.exec(run.stdout.find(l => l.startsWith('RESUME')) ?? '')
        expect(resume, run.stdout.join('\n')).not.toBeNull()
        const resumed = Number(resume?.[1])
        // the checkpoint is one the killed run finished: its round was printed, and at least as new as its last CHECKPOINT line
        const lastCheckpoint = Math.max(...before.stdout.map(l => Number(/^CHECKPOINT round=(\d+)/.exec(l)?.[1] ?? 0)))
        expect(resumed, `${before.stdout.join('\n')}\n---\n${run.stdout.join('\n')}`).toBeGreaterThanOrEqual(lastCheckpoint)
        const printed = runs.flatMap(r => r.stdout.map(round)).filter(r => r?.round === resumed)
        expect(printed.length).toBeGreaterThan(0)
        // the restored model is the one that scored that accuracy, not a fresh one (chance is 0.1)
        expect(Number(resume?.[2])).toBeCloseTo(Number(printed[printed.length - 1]?.acc), 3)
        expect(resume?.[2]).toBe(resume?.[3])
        expect(Number(resume?.[2])).toBeGreaterThan(0.5)
        expect(run.stdout.map(round).find(r => r != null)?.round).toBe(resumed + 1)
        await kill(run)
      } finally {
        run.child.kill('SIGKILL')
      }
    }, 58_000)
  }

  it('an honest fetcher never received a block that failed its hash', async () => {
    const run = await start(false, 2)
    await waitFor(() => fetched.ok > 0, 20_000)
    run.child.kill('SIGKILL')
    await run.exited
    expect(fetched.ok).toBeGreaterThan(0)
    expect(fetcher.services.shards.providers.get(peerId ?? '').bad).toBe(0)
    expect(helper.child.exitCode).toBeNull()
  }, 58_000)
})
