/**
 * What a page keeps across reloads: its libp2p identity, its shards, and per session the
 * document, its own latest model and how far it got. IndexedDB by default; `memory` keeps
 * everything for the page's lifetime only.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { DatastoreShardStore, MemoryShardStore } from '@murmur/protocol'
import type { Checkpoint, CheckpointStore, ModelSnapshot, NamedTensor, ShardStore } from '@murmur/protocol'
import { IDBDatastore } from 'datastore-idb'
import { Key } from 'interface-datastore'
import type { Datastore } from 'interface-datastore'
import { CorruptStorageError, StorageUnavailableError } from './errors.js'

/** Where a page's state lives. */
export type StorageKind = 'indexeddb' | 'memory'


/** A page's persistent state; `close()` releases the database. */
export interface PeerStorage {
  readonly kind: StorageKind
  /** libp2p's own datastore (peer store, DHT records); absent in memory mode. */
  readonly datastore?: Datastore
  readonly shards: ShardStore
  /** The stored identity, created on first use. */
  identity(): Promise<PrivateKey>
  /** Each session's newest checkpoint (the document inside it), for the front door. */
  readonly checkpoints: CheckpointStore
  close(): Promise<void>
}

const IDENTITY = new Key('/murmur/identity')
const sessionKey = (session: string, part: string): Key => new Key(`/murmur/session/${session}/${part}`)

/** Open (or create) the named IndexedDB databases, or a memory-only store. */
export async function openStorage (kind: StorageKind, name: string): Promise<PeerStorage> {
  if (kind === 'memory') return memoryStorage()
  if (typeof indexedDB === 'undefined') throw new StorageUnavailableError('IndexedDB is not available here; pass storage: \'memory\' to run without persistence')
  const state = new IDBDatastore(`${name}`)
  const libp2p = new IDBDatastore(`${name}-libp2p`)
  const blocks = new IDBDatastore(`${name}-shards`)
  try {
    await Promise.all([state.open(), libp2p.open(), blocks.open()])
  } catch (err) {
    throw new StorageUnavailableError(`cannot open IndexedDB "${name}": ${(err as Error).message}; pass storage: 'memory' to run without persistence`, { cause: err })
  }
  return {
    kind,
    datastore: libp2p,
    shards: new DatastoreShardStore(blocks),
    identity: async () => await loadIdentity(state),
    checkpoints: {
      includeDoc: true,
      load: async (session, onProblem) => await loadSession(state, session, onProblem),
      save: async (checkpoint) => { await saveSession(state, checkpoint) }
    },
    close: async () => { await Promise.all([state.close(), libp2p.close(), blocks.close()]) }
  }
}

function memoryStorage (): PeerStorage {
  let key: Promise<PrivateKey> | undefined
  const sessions = new Map<string, Checkpoint>()
  return {
    kind: 'memory',
    shards: new MemoryShardStore(),
    identity: async () => await (key ??= generateKeyPair('Ed25519')),
    checkpoints: {
      includeDoc: true,
      load: async (session) => sessions.get(session),
      save: async (checkpoint) => { sessions.set(checkpoint.session, checkpoint) }
    },
    close: async () => {}
  }
}

async function loadIdentity (store: Datastore): Promise<PrivateKey> {
  if (await store.has(IDENTITY)) {
    try {
      return privateKeyFromProtobuf(await store.get(IDENTITY))
    } catch { /* unreadable key: a new identity is the only way on */ }
  }
  const key = await generateKeyPair('Ed25519')
  await store.put(IDENTITY, privateKeyToProtobuf(key))
  return key
}

async function loadSession (store: Datastore, session: string, onProblem?: (reason: string) => void): Promise<Checkpoint | undefined> {
  if (!(await store.has(sessionKey(session, 'progress')))) return undefined
  try {
    const progress = JSON.parse(new TextDecoder().decode(await store.get(sessionKey(session, 'progress')))) as { round: number, metrics?: Record<string, number>, savedAt?: number }
    const doc = await store.get(sessionKey(session, 'doc'))
    const snapshot = decodeSnapshot(await store.get(sessionKey(session, 'snapshot')))
    if (!Number.isInteger(progress.round)) throw new CorruptStorageError('bad progress record')
    return { session, round: progress.round, snapshot, doc, metrics: progress.metrics ?? {}, savedAt: progress.savedAt ?? 0 }
  } catch (err) {
    // a half-written or older-format record: start the session fresh rather than fail the page
    onProblem?.(`the stored progress of session "${session}" is unreadable (${(err as Error).message}); starting afresh`)
    return undefined
  }
}

async function saveSession (store: Datastore, checkpoint: Checkpoint): Promise<void> {
  const batch = store.batch()
  const { session } = checkpoint
  if (checkpoint.doc != null) batch.put(sessionKey(session, 'doc'), checkpoint.doc)
  batch.put(sessionKey(session, 'snapshot'), encodeSnapshot(checkpoint.snapshot))
  batch.put(sessionKey(session, 'progress'), new TextEncoder().encode(JSON.stringify({ round: checkpoint.round, metrics: checkpoint.metrics, savedAt: checkpoint.savedAt })))
  await batch.commit()
}

/** A snapshot as a JSON header (names, shapes, kinds) followed by its raw float32 values. */
export function encodeSnapshot (snapshot: ModelSnapshot): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify(snapshot.tensors.map(t => ({ name: t.name, shape: t.shape, kind: t.kind, length: t.data.length }))))
  const values = snapshot.tensors.reduce((n, t) => n + t.data.length, 0)
  const headerPadded = Math.ceil((4 + header.length) / 4) * 4
  const out = new Uint8Array(headerPadded + values * 4)
  new DataView(out.buffer).setUint32(0, header.length, true)
  out.set(header, 4)
  let offset = headerPadded
  for (const t of snapshot.tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), offset)
    offset += t.data.byteLength
  }
  return out
}

/** Read back what `encodeSnapshot` wrote; throws `CorruptStorageError` on anything else. */
export function decodeSnapshot (bytes: Uint8Array): ModelSnapshot {
  if (bytes.byteLength < 4) throw new CorruptStorageError('snapshot record too short')
  const copy = bytes.slice()
  const headerLength = new DataView(copy.buffer).getUint32(0, true)
  if (4 + headerLength > copy.byteLength) throw new CorruptStorageError('snapshot header overruns the record')
  const entries = JSON.parse(new TextDecoder().decode(copy.subarray(4, 4 + headerLength))) as Array<Omit<NamedTensor, 'data'> & { length: number }>
  let offset = Math.ceil((4 + headerLength) / 4) * 4
  const tensors: NamedTensor[] = []
  for (const e of entries) {
    if (offset + e.length * 4 > copy.byteLength) throw new CorruptStorageError(`snapshot tensor ${e.name} overruns the record`)
    tensors.push({ name: e.name, shape: e.shape, kind: e.kind, data: new Float32Array(copy.buffer, offset, e.length) })
    offset += e.length * 4
  }
  return { tensors }
}
