import {
  DEFAULT_DELTA_CHUNK_SIZE, InvalidDeltaError, InvalidModelContentError, UnknownDeltaBaseError, applyModelDelta, createDeltaContent,
  createModelContent, fromWireEncoding, isDeltaManifest, rebuildModelDelta, rebuildSnapshot
} from '../content/index.js'
import { encodedByteLength, resolveK, topKIndices } from '../learn/index.js'
import { decodeManifest, parseBlockCid, validateManifest } from '../wire/index.js'
import type { ModelContent, ModelContentOptions, TensorDelta } from '../content/index.js'
import type { ModelSnapshot } from '../learn/index.js'
import type { FetchOptions, ShardExchange } from '../mesh/index.js'
import type { ModelHead, SessionEncoding, TopKEncoding } from '../state/index.js'
import type { ModelManifest } from '../wire/index.js'
import type { CID } from 'multiformats/cid'

/** Most manifests a receiver follows back from a head (deltas plus the checkpoint or held model they start from). */
export const MAX_DELTA_CHAIN = 64

/** Default number of versions between two checkpoints. */
export const DEFAULT_KEYFRAME_EVERY = 8

/** What a top-k publisher's options leave to the session: everything but the value encoding. */
export type DeltaVersionOptions = Omit<ModelContentOptions, 'encoding' | 'chunkSize'>

/** The blocks a receiver reads: the session's shard exchange. */
export type DeltaShards = Pick<ShardExchange, 'fetchManifest' | 'fetchBlocks' | 'store'>

function sameStructure (a: ModelSnapshot, b: ModelSnapshot): boolean {
  return a.tensors.length === b.tensors.length && a.tensors.every((t, i) => {
    const u = b.tensors[i]
    return u != null && u.name === t.name && u.kind === t.kind && u.data.length === t.data.length &&
      u.shape.length === t.shape.length && u.shape.every((s, k) => s === t.shape[k])
  })
}

function blockGetter (content: ModelContent): (cid: CID) => Promise<Uint8Array> {
  return async (cid) => {
    const shard = content.shards.find(s => s.cid.equals(cid))
    if (shard == null) throw new InvalidModelContentError(`block ${cid.toString()} is not part of this content`)
    return shard.bytes
  }
}

/**
 * The sending half of top-k deltas with error feedback. It holds R, the model its receivers
 * reconstruct, and each version sends the largest entries of M − R, so whatever is not sent
 * stays in M − R and goes out later. The chain is one line of deltas from the first version
 * (a full keyframe) on: a peer that follows it never needs a full model again. Every
 * `keyframeEvery` versions a checkpoint (R in the value encoding, a full manifest whose
 * `parent` is the delta it stands for) is made beside the chain, and each later delta names
 * it as its `parent`: a newcomer starts there instead of walking back to the first version.
 * Only a requested keyframe (or a model of another shape) restarts the chain.
 */
export class DeltaPublisher {
  private readonly fraction: number
  private readonly values: 'fp16' | 'int8'
  private readonly keyframeEvery: number
  private held?: ModelSnapshot
  private last?: CID
  private newest?: ModelContent
  private sinceCheckpoint = 0
  private forced = false

  constructor (encoding: TopKEncoding) {
    if (!(encoding.fraction > 0 && encoding.fraction < 1)) throw new InvalidModelContentError(`top-k fraction must be in (0, 1), got ${encoding.fraction}`)
    const every = encoding.keyframeEvery ?? DEFAULT_KEYFRAME_EVERY
    if (!Number.isInteger(every) || every < 1 || every > MAX_DELTA_CHAIN) {
      throw new InvalidModelContentError(`keyframeEvery must be an integer in [1, ${MAX_DELTA_CHAIN}], got ${every}`)
    }
    this.fraction = encoding.fraction
    this.values = encoding.values ?? 'fp16'
    this.keyframeEvery = every
  }

  /** The model followers of the newest version hold (do not modify), or undefined before the first. */
  get reconstruction (): ModelSnapshot | undefined {
    return this.held
  }

  /**
   * The newest checkpoint: the full content newcomers start from (the keyframe itself until
   * the first checkpoint). Store and keep it as long as versions that name it are served.
   */
  get checkpoint (): ModelContent | undefined {
    return this.newest
  }

  /** Make the next version a keyframe: the chain restarts, and every follower fetches it. */
  requestKeyframe (): void {
    this.forced = true
  }

  /**
   * Content for the next version of `model`: the first keyframe or a delta whose base is the
   * previous version. R moves only once the content exists, so a refused model changes nothing.
   */
  async next (model: ModelSnapshot, options: DeltaVersionOptions = {}): Promise<ModelContent> {
    for (const t of model.tensors) {
      for (const v of t.data) if (!Number.isFinite(v)) throw new InvalidModelContentError(`tensor ${JSON.stringify(t.name)} holds NaN or Infinity: not published`)
    }
    const held = this.held
    const checkpoint = this.newest
    const encoding = { encoding: this.values, chunkSize: DEFAULT_DELTA_CHUNK_SIZE }
    if (held == null || this.last == null || checkpoint == null || this.forced || !sameStructure(held, model)) {
      // fine int8 scales: newcomers hold a checkpoint's rounding of R until they drop the peer
      const content = await createModelContent(model, { ...options, ...encoding })
      this.held = await rebuildSnapshot(content.manifest, blockGetter(content))
      this.last = content.manifestCid
      this.newest = content
      this.sinceCheckpoint = 0
      this.forced = false
      return content
    }
    const tensors: TensorDelta[] = model.tensors.map((t, i) => {
      const r = held.tensors[i]!.data
      const diff = new Float32Array(t.data.length)
      for (let j = 0; j < diff.length; j++) diff[j] = t.data[j]! - r[j]!
      const indices = topKIndices(diff, resolveK(this.fraction, diff.length))
      const values = new Float32Array(indices.length)
      for (let k = 0; k < indices.length; k++) values[k] = diff[indices[k]!]!
      return { name: t.name, shape: [...t.shape], kind: t.kind, sparse: { indices, values, length: diff.length } }
    })
    const content = await createDeltaContent({ tensors }, { ...options, encoding: this.values, base: this.last, parent: checkpoint.manifestCid })
    // Decode our own bytes exactly as receivers do, so R is bit for bit what followers hold.
    const reconstruction = applyModelDelta(held, await rebuildModelDelta(content.manifest, blockGetter(content)))
    let newest = checkpoint
    let since = this.sinceCheckpoint + 1
    if (since >= this.keyframeEvery) {
      newest = await createModelContent(reconstruction, { ...options, ...encoding, parent: content.manifestCid })
      since = 0
    }
    this.held = reconstruction
    this.last = content.manifestCid
    this.newest = newest
    this.sinceCheckpoint = since
    return content
  }
}

/** Options of a `DeltaReceiver`. */
export interface DeltaReceiverInit {
  shards: DeltaShards
  /**
   * Peers whose newest reconstruction is cached; the least recently used is evicted first.
   *
   * @default 64
   */
  maxPeers?: number
  /**
   * Most manifests followed back from a head before giving up on its base.
   *
   * @default 64
   */
  maxChain?: number
  /**
   * Versions behind its head whose blocks a publisher still serves: a held model further back
   * is not walked to (the walk would end at a pruned block), the checkpoint is used instead.
   *
   * @default 16
   */
  keptVersions?: number
  /** Called with the bytes of every block fetched, also for chains that fail later. */
  onBytes?(bytes: number): void
}

/** What `DeltaReceiver.fetch` did. */
export interface DeltaFetch {
  snapshot: ModelSnapshot
  /** Bytes fetched for this head (manifests and shards). */
  bytes: number
  /** Deltas applied. */
  deltas: number
  /** Whether the chain started at a full manifest, a keyframe or checkpoint (false: at the cached reconstruction). */
  keyframe: boolean
}

/** A peer's newest reconstruction: the manifest it stands for and that manifest's version. */
export interface HeldReconstruction {
  cid: CID
  version: number
  snapshot: ModelSnapshot
}

/** Bytes of a full model with a delta's tensors in its value encoding: the least a checkpoint costs. */
function fullBytes (delta: ModelManifest): number {
  const encoding = fromWireEncoding(delta.encoding)
  return delta.tensors.reduce((sum, t) => sum + encodedByteLength(t.elements, encoding, { chunkSize: DEFAULT_DELTA_CHUNK_SIZE }), 0)
}

/**
 * The receiving half: the newest reconstruction of each peer's model, and the chain walk
 * that brings it up to a new head. A follower walks `base` links back to the model it holds
 * and applies only the deltas it missed; a newcomer (or a peer too far behind) starts at the
 * checkpoint the head names and applies the deltas after it. Any bad link refuses the head
 * and changes nothing.
 */
export class DeltaReceiver {
  private readonly init: DeltaReceiverInit
  private readonly cache = new Map<string, HeldReconstruction>()

  constructor (init: DeltaReceiverInit) {
    this.init = init
  }

  /** Number of peers with a cached reconstruction. */
  get size (): number {
    return this.cache.size
  }

  /** The cached reconstruction of `peer`, the manifest it stands for and its version. */
  cached (peer: string): HeldReconstruction | undefined {
    return this.cache.get(peer)
  }

  /** Drop what is cached for a peer (it left, or its models are no longer wanted). */
  forget (peer: string): void {
    this.cache.delete(peer)
  }

  /** The model `head` (a full or delta manifest of `peer`) stands for, fetched as cheaply as the cache allows. */
  async fetch (peer: string, head: CID, options: FetchOptions = {}): Promise<DeltaFetch> {
    const held = this.cache.get(peer)
    if (held?.cid.equals(head) === true) {
      this.touch(peer, held)
      return { snapshot: held.snapshot, bytes: 0, deltas: 0, keyframe: false }
    }
    let bytes = 0
    const count = (n: number): void => {
      bytes += n
      this.init.onBytes?.(n)
    }
    const top = await this.load(head, options, count)
    if (!isDeltaManifest(top)) {
      const snapshot = await rebuildSnapshot(top, async c => this.init.shards.store.get(c))
      this.touch(peer, { cid: head, version: top.version, snapshot })
      return { snapshot, bytes, deltas: 0, keyframe: true }
    }
    const gap = top.version - (held?.version ?? Number.POSITIVE_INFINITY)
    // walk back to what we hold while the deltas cost less than a checkpoint alone and are still served
    const follow = held != null && gap >= 1 && gap <= (this.init.keptVersions ?? 2 * DEFAULT_KEYFRAME_EVERY) && gap * top.totalBytes <= fullBytes(top)
    // a failed walk keeps what we hold: failures here are mostly transient, and a held model off
    // this chain (the publisher restarted) is never reached: the walk ends at its new keyframe
    const { snapshot, deltas, keyframe } = await this.walk(top, head, follow ? held : undefined, options, count)
    this.touch(peer, { cid: head, version: top.version, snapshot })
    return { snapshot, bytes, deltas, keyframe }
  }

  /** From the delta `top` back to `held` or to a checkpoint, then forward again. */
  private async walk (top: ModelManifest, head: CID, held: HeldReconstruction | undefined, options: FetchOptions, count: (n: number) => void): Promise<{ snapshot: ModelSnapshot, deltas: number, keyframe: boolean }> {
    const maxChain = this.init.maxChain ?? MAX_DELTA_CHAIN
    // a newcomer stops where the head's checkpoint stands (its parent) or at the checkpoint itself
    let checkpoint: { cid: CID, manifest: ModelManifest } | undefined
    if (held == null && top.parent != null) {
      const cid = parseBlockCid(top.parent, 'parent')
      checkpoint = { cid, manifest: await this.loadManifest(cid, options, count) }
      if (isDeltaManifest(checkpoint.manifest)) throw new InvalidDeltaError(`checkpoint ${cid.toString()} named by ${head.toString()} is a delta, not a full model`)
    }
    const standsFor = checkpoint?.manifest.parent != null ? parseBlockCid(checkpoint.manifest.parent, 'parent') : undefined
    const chain: ModelManifest[] = [top]
    let start: ModelSnapshot | undefined
    let keyframe = true
    for (let cid = parseBlockCid(top.base as Uint8Array, 'base'); ;) {
      if (held?.cid.equals(cid) === true) {
        start = held.snapshot
        keyframe = false
        break
      }
      if (checkpoint != null && (checkpoint.cid.equals(cid) || standsFor?.equals(cid) === true)) {
        start = await rebuildSnapshot(await this.load(checkpoint.cid, options, count), async c => this.init.shards.store.get(c))
        break
      }
      if (chain.length >= maxChain) throw new UnknownDeltaBaseError(cid.toString(), `no checkpoint or held model within ${maxChain} manifests of ${head.toString()}`)
      const manifest = await this.load(cid, options, count)
      if (!isDeltaManifest(manifest)) {
        start = await rebuildSnapshot(manifest, async c => this.init.shards.store.get(c))
        break
      }
      chain.push(manifest)
      cid = parseBlockCid(manifest.base as Uint8Array, 'base')
    }
    let snapshot = start
    for (let i = chain.length - 1; i >= 0; i--) {
      snapshot = applyModelDelta(snapshot, await rebuildModelDelta(chain[i]!, async c => this.init.shards.store.get(c)))
    }
    return { snapshot, deltas: chain.length, keyframe }
  }

  /** A manifest and its shards. */
  private async load (cid: CID, options: FetchOptions, count: (n: number) => void): Promise<ModelManifest> {
    const { manifest, result } = await this.init.shards.fetchManifest(cid, options)
    count(result.bytes)
    return manifest
  }

  /** A manifest block alone: a checkpoint's shards are fetched only when the walk ends there. */
  private async loadManifest (cid: CID, options: FetchOptions, count: (n: number) => void): Promise<ModelManifest> {
    count((await this.init.shards.fetchBlocks([cid], options)).bytes)
    const manifest = decodeManifest(await this.init.shards.store.get(cid))
    validateManifest(manifest)
    return manifest
  }

  private touch (peer: string, entry: HeldReconstruction): void {
    this.cache.delete(peer)
    this.cache.set(peer, entry)
    const max = this.init.maxPeers ?? 64
    for (const key of this.cache.keys()) {
      if (this.cache.size <= max) break
      this.cache.delete(key)
    }
  }
}

/** A session's top-k wire: its publisher and its receiver. */
export interface TopKWire {
  publisher: DeltaPublisher
  receiver: DeltaReceiver
  /** Own versions whose blocks to keep, so followers that missed a few can still walk back to what they hold. */
  keepVersions: number
}

/** The top-k wire for a session encoding, or undefined when the encoding is dense. */
export function topKWireFor (encoding: SessionEncoding, init: DeltaReceiverInit): TopKWire | undefined {
  if (typeof encoding === 'string') return undefined
  const keepVersions = 2 * (encoding.keyframeEvery ?? DEFAULT_KEYFRAME_EVERY)
  // two versions of margin: the publisher may prune while a receiver walks
  return { publisher: new DeltaPublisher(encoding), receiver: new DeltaReceiver({ keptVersions: keepVersions - 2, ...init }), keepVersions }
}

/**
 * Content to store and keep beside a version besides its own: the newest checkpoint of a
 * top-k chain, which newcomers start from (nothing for dense encodings or a keyframe).
 */
export function companionContent (wire: TopKWire | undefined, content: ModelContent): ModelContent[] {
  const checkpoint = wire?.publisher.checkpoint
  return checkpoint == null || checkpoint.manifestCid.equals(content.manifestCid) ? [] : [checkpoint]
}

/** Content for one version: dense in the session's encoding, or the top-k wire's next version. */
export async function createSessionContent (encoding: SessionEncoding, wire: TopKWire | undefined, snapshot: ModelSnapshot, options: DeltaVersionOptions): Promise<ModelContent> {
  if (typeof encoding === 'string') return createModelContent(snapshot, { ...options, encoding })
  if (wire == null) throw new InvalidModelContentError('a top-k session needs its wire (topKWireFor)')
  return wire.publisher.next(snapshot, options)
}

/** The encoding a head records in the session document. */
export function headEncoding (encoding: SessionEncoding): ModelHead['encoding'] {
  return typeof encoding === 'string' ? encoding : 'topk'
}
