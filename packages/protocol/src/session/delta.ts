import {
  InvalidModelContentError, UnknownDeltaBaseError, applyModelDelta, createDeltaContent, createModelContent, isDeltaManifest,
  rebuildModelDelta, rebuildSnapshot
} from '../content/index.js'
import { resolveK, topKIndices } from '../learn/index.js'
import { parseBlockCid } from '../wire/index.js'
import type { ModelContent, ModelContentOptions, TensorDelta } from '../content/index.js'
import type { ModelSnapshot } from '../learn/index.js'
import type { FetchOptions, ShardExchange } from '../mesh/index.js'
import type { ModelHead, SessionEncoding, TopKEncoding } from '../state/index.js'
import type { ModelManifest } from '../wire/index.js'
import type { CID } from 'multiformats/cid'

/** Most manifests a receiver follows back from a head (deltas plus their keyframe). */
export const MAX_DELTA_CHAIN = 64

/** Default number of versions between two keyframes. */
export const DEFAULT_KEYFRAME_EVERY = 8

/** What a top-k publisher's options leave to the session: everything but the value encoding. */
export type DeltaVersionOptions = Omit<ModelContentOptions, 'encoding' | 'chunkSize'>

/** The blocks a receiver reads: the session's shard exchange. */
export type DeltaShards = Pick<ShardExchange, 'fetchManifest' | 'store'>

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
 * stays in M − R and goes out later. A keyframe (the whole model in the value encoding)
 * starts the chain, comes every `keyframeEvery` versions and when asked, and resets R.
 */
export class DeltaPublisher {
  private readonly fraction: number
  private readonly values: 'fp16' | 'int8'
  private readonly keyframeEvery: number
  private held?: ModelSnapshot
  private last?: CID
  private sinceKeyframe = 0
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

  /** The model receivers of the newest version hold (do not modify), or undefined before the first. */
  get reconstruction (): ModelSnapshot | undefined {
    return this.held
  }

  /** Make the next version a keyframe. */
  requestKeyframe (): void {
    this.forced = true
  }

  /**
   * Content for the next version of `model`: a keyframe or a delta whose base is the previous
   * version. R moves only once the content exists, so a refused model changes nothing.
   */
  async next (model: ModelSnapshot, options: DeltaVersionOptions = {}): Promise<ModelContent> {
    for (const t of model.tensors) {
      for (const v of t.data) if (!Number.isFinite(v)) throw new InvalidModelContentError(`tensor ${JSON.stringify(t.name)} holds NaN or Infinity: not published`)
    }
    const held = this.held
    const keyframe = held == null || this.last == null || this.forced || this.sinceKeyframe + 1 >= this.keyframeEvery || !sameStructure(held, model)
    let content: ModelContent
    let reconstruction: ModelSnapshot
    if (keyframe) {
      content = await createModelContent(model, { ...options, encoding: this.values })
      reconstruction = await rebuildSnapshot(content.manifest, blockGetter(content))
    } else {
      const tensors: TensorDelta[] = model.tensors.map((t, i) => {
        const r = held.tensors[i]!.data
        const diff = new Float32Array(t.data.length)
        for (let j = 0; j < diff.length; j++) diff[j] = t.data[j]! - r[j]!
        const indices = topKIndices(diff, resolveK(this.fraction, diff.length))
        const values = new Float32Array(indices.length)
        for (let k = 0; k < indices.length; k++) values[k] = diff[indices[k]!]!
        return { name: t.name, shape: [...t.shape], kind: t.kind, sparse: { indices, values, length: diff.length } }
      })
      content = await createDeltaContent({ tensors }, { ...options, encoding: this.values, base: this.last as CID })
      // Decode our own bytes exactly as receivers do, so R is bit for bit what they hold.
      reconstruction = applyModelDelta(held, await rebuildModelDelta(content.manifest, blockGetter(content)))
    }
    this.held = reconstruction
    this.last = content.manifestCid
    this.sinceKeyframe = keyframe ? 0 : this.sinceKeyframe + 1
    this.forced = false
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
  /** Whether the chain started at a keyframe (false: at the cached reconstruction). */
  keyframe: boolean
}

/**
 * The receiving half: the newest reconstruction of each peer's model, and the chain walk
 * that brings it up to a new head. From the head it follows `base` links back until it
 * reaches the reconstruction it holds or a keyframe (at most `maxChain` manifests), then
 * applies the deltas oldest first. Any bad link refuses the head and changes nothing.
 */
export class DeltaReceiver {
  private readonly init: DeltaReceiverInit
  private readonly cache = new Map<string, { cid: CID, snapshot: ModelSnapshot }>()

  constructor (init: DeltaReceiverInit) {
    this.init = init
  }

  /** Number of peers with a cached reconstruction. */
  get size (): number {
    return this.cache.size
  }

  /** The cached reconstruction of `peer` and the manifest it stands for. */
  cached (peer: string): { cid: CID, snapshot: ModelSnapshot } | undefined {
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
    const maxChain = this.init.maxChain ?? MAX_DELTA_CHAIN
    const chain: ModelManifest[] = []
    let bytes = 0
    let start: ModelSnapshot | undefined
    let fromKeyframe = false
    let cid = head
    for (;;) {
      if (chain.length >= maxChain) throw new UnknownDeltaBaseError(cid.toString(), `no keyframe or held model within ${maxChain} manifests of ${head.toString()}`)
      const { manifest, result } = await this.init.shards.fetchManifest(cid, options)
      bytes += result.bytes
      this.init.onBytes?.(result.bytes)
      if (!isDeltaManifest(manifest)) {
        start = await rebuildSnapshot(manifest, async c => this.init.shards.store.get(c))
        fromKeyframe = true
        break
      }
      chain.push(manifest)
      const base = parseBlockCid(manifest.base as Uint8Array, 'base')
      if (held?.cid.equals(base) === true) {
        start = held.snapshot
        break
      }
      cid = base
    }
    let snapshot = start
    for (let i = chain.length - 1; i >= 0; i--) {
      snapshot = applyModelDelta(snapshot, await rebuildModelDelta(chain[i]!, async c => this.init.shards.store.get(c)))
    }
    this.touch(peer, { cid: head, snapshot })
    return { snapshot, bytes, deltas: chain.length, keyframe: fromKeyframe }
  }

  private touch (peer: string, entry: { cid: CID, snapshot: ModelSnapshot }): void {
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
  /** Own versions whose blocks to keep, so receivers can follow the chain back to a keyframe. */
  keepVersions: number
}

/** The top-k wire for a session encoding, or undefined when the encoding is dense. */
export function topKWireFor (encoding: SessionEncoding, init: DeltaReceiverInit): TopKWire | undefined {
  if (typeof encoding === 'string') return undefined
  const every = encoding.keyframeEvery ?? DEFAULT_KEYFRAME_EVERY
  // two chains' worth: a receiver that saw a head just before the next keyframe can still walk it
  return { publisher: new DeltaPublisher(encoding), receiver: new DeltaReceiver(init), keepVersions: 2 * every }
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
