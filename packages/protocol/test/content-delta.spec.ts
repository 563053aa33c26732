import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  InvalidDeltaError, InvalidManifestError, InvalidShardError, applyModelDelta, cidForBytes, createDeltaContent, createModelContent,
  isDeltaManifest, rebuildModelDelta, rebuildSnapshot
} from '../src/content/index.js'
import { DeltaPublisher } from '../src/session/delta.js'
import { WireFormatError, decodeManifest, encodeManifest, validateManifest } from '../src/wire/index.js'
import type { ModelContent, ModelDelta } from '../src/content/index.js'
import type { ModelSnapshot } from '../src/learn/types.js'
import type { ModelManifest } from '../src/wire/index.js'
import type { CID } from 'multiformats/cid'

/** Every block a publisher made so far, as a receiver's store would hold them. */
class Blocks {
  private readonly map = new Map<string, Uint8Array>()
  add (content: ModelContent): void {
    this.map.set(content.manifestCid.toString(), content.manifestBytes)
    for (const s of content.shards) this.put(s.cid, s.bytes)
  }

  put (cid: CID, bytes: Uint8Array): void {
    this.map.set(cid.toString(), bytes)
  }

  readonly get = async (cid: CID): Promise<Uint8Array> => {
    const bytes = this.map.get(cid.toString())
    if (bytes == null) throw new Error(`test: no block ${cid.toString()}`)
    return bytes
  }
}

function model (lengths: number[], fill: (t: number, j: number) => number): ModelSnapshot {
  return {
    tensors: lengths.map((n, t) => ({
      name: `layer${t}`, shape: [n], kind: t % 2 === 0 ? 'weight' as const : 'bias' as const, data: Float32Array.from({ length: n }, (_, j) => fill(t, j))
    }))
  }
}

function sameBits (a: ModelSnapshot, b: ModelSnapshot): boolean {
  return a.tensors.length === b.tensors.length && a.tensors.every((t, i) => {
    const u = b.tensors[i]!
    const x = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)
    const y = new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length)
    return u.name === t.name && x.length === y.length && x.every((v, j) => v === y[j])
  })
}

/** The model a receiver that applied every version of the chain in order holds. */
async function follow (held: ModelSnapshot | undefined, content: ModelContent, blocks: Blocks): Promise<ModelSnapshot> {
  if (!isDeltaManifest(content.manifest)) return rebuildSnapshot(decodeManifest(content.manifestBytes), blocks.get)
  if (held == null) throw new Error('test: a delta before any keyframe')
  return applyModelDelta(held, await rebuildModelDelta(decodeManifest(content.manifestBytes), blocks.get))
}

/** Whether `a` is `b` up to one rounding of its values to fp16 or int8 (a scale per chunk at most the tensor's largest magnitude / 127). */
function withinRounding (a: ModelSnapshot, b: ModelSnapshot): boolean {
  return a.tensors.every((t, i) => {
    const u = b.tensors[i]!.data
    const bound = u.reduce((mx, x) => Math.max(mx, Math.abs(x)), 0) / 127 + 1e-7
    return t.data.every((x, j) => Math.abs(x - u[j]!) <= bound)
  })
}

const lengthsArb = fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 })
const stepArb = fc.record({ scale: fc.double({ min: 1e-4, max: 2, noNaN: true }), seed: fc.integer() })

describe('top-k delta content', () => {
  it('a follower that applies the chain holds exactly the publisher\'s reconstruction, version after version, across checkpoints', async () => {
    await fc.assert(fc.asyncProperty(
      lengthsArb, fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.double({ min: 0.001, max: 0.5, noNaN: true }),
      fc.constantFrom('fp16' as const, 'int8' as const), fc.integer({ min: 1, max: 6 }),
      async (lengths, steps, fraction, values, keyframeEvery) => {
        const publisher = new DeltaPublisher({ kind: 'topk', fraction, values, keyframeEvery })
        const blocks = new Blocks()
        let m = model(lengths, (t, j) => Math.sin(t * 977 + j))
        let held: ModelSnapshot | undefined
        let previous: ModelContent | undefined
        let sinceCheckpoint = 0
        for (const [v, step] of steps.entries()) {
          m = model(lengths, (t, j) => m.tensors[t]!.data[j]! + step.scale * Math.sin(step.seed + t * 31 + j * 7.3))
          const checkpoint = publisher.checkpoint
          const content = await publisher.next(m, { version: v + 1, createdAt: 1 })
          blocks.add(content)
          held = await follow(held, content, blocks)
          expect(sameBits(held, publisher.reconstruction!)).toBe(true)
          // one keyframe, then one line of deltas: each names the previous version as its base
          // and the newest checkpoint as its parent
          expect(isDeltaManifest(content.manifest)).toBe(v > 0)
          if (v > 0) {
            expect(content.manifest.base).toEqual(previous!.manifestCid.bytes)
            expect(content.manifest.parent).toEqual(checkpoint!.manifestCid.bytes)
          }
          previous = content
          // a checkpoint every keyframeEvery versions: R in the value encoding, naming the delta it stands for
          const newest = publisher.checkpoint!
          if (v === 0) expect(newest.manifestCid.equals(content.manifestCid)).toBe(true)
          else if (!newest.manifestCid.equals(checkpoint!.manifestCid)) {
            expect(sinceCheckpoint + 1).toBe(keyframeEvery)
            expect(newest.manifest.parent).toEqual(content.manifestCid.bytes)
            expect(newest.manifest.version).toBe(v + 1)
            expect(isDeltaManifest(newest.manifest)).toBe(false)
            blocks.add(newest)
            expect(withinRounding(await rebuildSnapshot(newest.manifest, blocks.get), held)).toBe(true)
            sinceCheckpoint = -1
          }
          sinceCheckpoint = v === 0 ? 0 : sinceCheckpoint + 1
          expect(sinceCheckpoint).toBeLessThan(keyframeEvery)
        }
      }), { numRuns: 40 })
  })

  it('requestKeyframe restarts the chain with a full model, which followers start from exactly', async () => {
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.1, values: 'int8', keyframeEvery: 64 })
    const blocks = new Blocks()
    let held: ModelSnapshot | undefined
    for (let v = 1; v <= 4; v++) {
      if (v === 3) publisher.requestKeyframe()
      const content = await publisher.next(model([300, 7], (t, j) => Math.sin(j * v + t)), { version: v })
      blocks.add(content)
      expect(isDeltaManifest(content.manifest)).toBe(v !== 1 && v !== 3)
      held = await follow(held, content, blocks)
      expect(sameBits(held, publisher.reconstruction!)).toBe(true)
    }
  })

  it('error feedback: what a delta leaves out goes later, so the reconstruction converges to a model that stops changing', async () => {
    const m = model([500, 40], (t, j) => Math.cos(t * 13 + j) * (1 + (j % 7)))
    const start = model([500, 40], () => 0)
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.1, values: 'fp16', keyframeEvery: 64 })
    await publisher.next(start)
    const gap = (): number => Math.max(...m.tensors.flatMap((t, i) => Array.from(t.data, (x, j) => Math.abs(x - publisher.reconstruction!.tensors[i]!.data[j]!))))
    const before = gap()
    for (let v = 0; v < 30; v++) await publisher.next(m)
    // every entry got sent at least once (10 % per version): only fp16 rounding is left, and it is fed back too
    expect(before).toBeGreaterThan(1)
    expect(gap()).toBeLessThan(before * 2 ** -10)
  })

  it('sends about the requested fraction per tensor in a few bytes per value', async () => {
    const publisher = new DeltaPublisher({ kind: 'topk', fraction: 0.01, values: 'int8', keyframeEvery: 8 })
    const m0 = model([100_000, 100], (t, j) => Math.sin(j))
    const keyframe = await publisher.next(m0)
    const delta = await publisher.next(model([100_000, 100], (t, j) => Math.sin(j) + 0.01 * Math.cos(j * 1.7)))
    expect(isDeltaManifest(delta.manifest)).toBe(true)
    expect(delta.manifest.tensors.map(t => t.nonzeros)).toEqual([1000, 1])
    // 1000 values in int8 with a scale per 256, indices as 1-2 byte gaps
    expect(delta.manifest.totalBytes).toBeLessThan(1000 * 3 + 64)
    expect(keyframe.manifest.totalBytes).toBeGreaterThan(100_000)
    expect(delta.manifest.base).toEqual(keyframe.manifestCid.bytes)
    expect(delta.manifest.parent).toEqual(keyframe.manifestCid.bytes)
  })

  it('fp32 values round-trip exactly, indices and all', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 5000 }).chain(n => fc.tuple(fc.constant(n), fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: Math.min(n, 200) }))),
      fc.integer({ min: 1, max: 4096 }),
      async ([n, picked], shardSize) => {
        const indices = Uint32Array.from(picked.sort((a, b) => a - b))
        const values = Float32Array.from(indices, i => Math.fround(Math.sin(i) * 100))
        const delta: ModelDelta = { tensors: [{ name: 'w', shape: [n], kind: 'weight', sparse: { indices, values, length: n } }] }
        const base = await cidForBytes(new Uint8Array([1]))
        const content = await createDeltaContent(delta, { base, encoding: 'fp32', shardSize })
        const blocks = new Blocks()
        blocks.add(content)
        const back = await rebuildModelDelta(decodeManifest(content.manifestBytes), blocks.get)
        expect(back.tensors[0]!.sparse.indices).toEqual(indices)
        expect(back.tensors[0]!.sparse.values).toEqual(values)
      }), { numRuns: 60 })
  })
})

/** A delta content and the base it applies to, for tampering with. */
async function sample (): Promise<{ base: ModelSnapshot, content: ModelContent, blocks: Blocks }> {
  const base = model([64, 8], (t, j) => t + j / 100)
  const delta: ModelDelta = {
    tensors: [
      { name: 'layer0', shape: [64], kind: 'weight', sparse: { indices: Uint32Array.of(0, 5, 63), values: Float32Array.of(1, -2, 3), length: 64 } },
      { name: 'layer1', shape: [8], kind: 'bias', sparse: { indices: Uint32Array.of(7), values: Float32Array.of(0.5), length: 8 } }
    ]
  }
  const content = await createDeltaContent(delta, { base: await cidForBytes(new Uint8Array([0])), encoding: 'fp16' })
  const blocks = new Blocks()
  blocks.add(content)
  return { base, content, blocks }
}

/** The same manifest over a new payload: fresh shard CIDs, as a peer crafting bad content would make them. */
async function withPayload (manifest: ModelManifest, payload: Uint8Array, blocks: Blocks): Promise<ModelManifest> {
  const cid = await cidForBytes(payload)
  blocks.put(cid, payload)
  return { ...manifest, shards: [cid.bytes], shardSize: Math.max(1, payload.byteLength) }
}

describe('refusing bad deltas', () => {
  it('applies a good delta and leaves its base untouched', async () => {
    const { base, content, blocks } = await sample()
    const copy = structuredClone(base)
    const out = applyModelDelta(base, await rebuildModelDelta(content.manifest, blocks.get))
    expect(base).toEqual(copy)
    expect(out.tensors[0]!.data[5]).toBeCloseTo(0.05 - 2, 5)
    expect(out.tensors[1]!.data[7]).toBeCloseTo(1.07 + 0.5, 5)
  })

  it('refuses indices beyond the tensor', async () => {
    const { content, blocks } = await sample()
    // the same bytes, claimed for a tensor of 32 values: index 63 no longer fits
    const manifest = { ...content.manifest, tensors: [{ ...content.manifest.tensors[0]!, shape: [32], elements: 32 }, content.manifest.tensors[1]!] }
    await expect(rebuildModelDelta(manifest, blocks.get)).rejects.toBeInstanceOf(InvalidDeltaError)
  })

  it('refuses a delta that does not match its base model', async () => {
    const { content, blocks } = await sample()
    const delta = await rebuildModelDelta(content.manifest, blocks.get)
    const other = model([64, 9], () => 0)
    const copy = structuredClone(other)
    expect(() => applyModelDelta(other, delta)).toThrow(InvalidDeltaError)
    expect(() => applyModelDelta(model([64], () => 0), delta)).toThrow(InvalidDeltaError)
    expect(other).toEqual(copy)
  })

  it('refuses shards that do not match their hash', async () => {
    const { content, blocks } = await sample()
    const bad = async (cid: CID): Promise<Uint8Array> => { const b = (await blocks.get(cid)).slice(); b[0] = b[0]! ^ 1; return b }
    await expect(rebuildModelDelta(content.manifest, bad)).rejects.toBeInstanceOf(InvalidShardError)
  })

  it('refuses layouts and fields that do not fit together', async () => {
    const { content, blocks } = await sample()
    const t0 = content.manifest.tensors[0]!
    const cases: ModelManifest[] = [
      { ...content.manifest, tensors: [{ ...t0, nonzeros: 4 }, content.manifest.tensors[1]!] },
      { ...content.manifest, tensors: [{ ...t0, indexBytes: 2 }, content.manifest.tensors[1]!] },
      { ...content.manifest, tensors: [{ ...t0, indexBytes: 4 }, content.manifest.tensors[1]!] }
    ]
    for (const m of cases) await expect(rebuildModelDelta(m, blocks.get)).rejects.toBeInstanceOf(WireFormatError)
    // more changed values than the tensor has: refused by the wire layer already
    expect(() => validateManifest({ ...content.manifest, tensors: [{ ...t0, nonzeros: 65 }, content.manifest.tensors[1]!] })).toThrow(WireFormatError)
    // delta fields on a full manifest, a delta read as a full model, a full one as a delta
    const full = await createModelContent(model([4], () => 1))
    expect(() => encodeManifest({ ...full.manifest, tensors: [{ ...full.manifest.tensors[0]!, nonzeros: 1, indexBytes: 1 }] })).toThrow(WireFormatError)
    await expect(rebuildSnapshot(content.manifest, blocks.get)).rejects.toBeInstanceOf(InvalidManifestError)
    await expect(rebuildModelDelta(full.manifest, blocks.get)).rejects.toBeInstanceOf(InvalidDeltaError)
  })

  it('any tampered payload is refused with a typed error or yields a valid delta; the base never changes', async () => {
    const { base, content, blocks } = await sample()
    const payload = await blocks.get(content.shards[0]!.cid)
    const copy = structuredClone(base)
    await fc.assert(fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      async (edits) => {
        const bytes = payload.slice()
        for (const [at, value] of edits) bytes[at % bytes.length] = value
        const manifest = await withPayload(content.manifest, bytes, blocks)
        try {
          const out = applyModelDelta(base, await rebuildModelDelta(manifest, blocks.get))
          for (const t of out.tensors) expect(t.data.every(Number.isFinite)).toBe(true)
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidDeltaError)
        }
        expect(base).toEqual(copy)
      }), { numRuns: 300 })
  })
})
