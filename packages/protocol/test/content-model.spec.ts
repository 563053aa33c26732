import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  InvalidManifestError, InvalidModelContentError, InvalidShardError, cidForBytes, createModelContent, rebuildSnapshot
} from '../src/content/index.js'
import { maxCodecError } from '../src/learn/codec.js'
import { Encoding, MessageTooLargeError, WireFormatError, decodeManifest } from '../src/wire/index.js'
import type { ModelContent } from '../src/content/index.js'
import type { ValueEncoding } from '../src/learn/codec.js'
import type { ModelSnapshot, NamedTensor } from '../src/learn/types.js'
import type { CID } from 'multiformats/cid'

const tensorArb = fc.record({
  shape: fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }),
  kind: fc.constantFrom('weight' as const, 'bias' as const, 'norm' as const),
  seed: fc.float32Array({ minLength: 1, maxLength: 50, noNaN: true, noDefaultInfinity: true })
}).map(({ shape, kind, seed }) => {
  const n = shape.reduce((a, b) => a * b, 1)
  return { shape, kind, data: Float32Array.from({ length: n }, (_, i) => seed[i % seed.length] as number) }
})
const snapshotArb: fc.Arbitrary<ModelSnapshot> = fc.array(tensorArb, { maxLength: 6 })
  .map(ts => ({ tensors: ts.map((t, i) => ({ ...t, name: `layer${i}/kernel` })) }))

function blocks (content: ModelContent): (cid: CID) => Promise<Uint8Array> {
  const byCid = new Map(content.shards.map(s => [s.cid.toString(), s.bytes]))
  return async cid => {
    const bytes = byCid.get(cid.toString())
    if (bytes == null) throw new Error(`test: no shard ${cid.toString()}`)
    return bytes
  }
}

function snapshot (...lengths: number[]): ModelSnapshot {
  return {
    tensors: lengths.map((n, i): NamedTensor => ({
      name: `t${i}`, shape: [n], kind: i % 2 === 0 ? 'weight' : 'bias', data: Float32Array.from({ length: n }, (_, j) => Math.sin(i * 1000 + j))
    }))
  }
}

describe('model content', () => {
  it.each(['fp32', 'fp16', 'int8'] as ValueEncoding[])('round-trips snapshot → shards → snapshot in %s', async (encoding) => {
    await fc.assert(fc.asyncProperty(snapshotArb, fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 40 }), async (snap, shardSize, chunkSize) => {
      const content = await createModelContent(snap, { encoding, shardSize, chunkSize, modelId: 'm', version: 3, samples: 7, author: 'me', createdAt: 1 })
      expect(content.manifestCid.equals(await cidForBytes(content.manifestBytes))).toBe(true)
      const manifest = decodeManifest(content.manifestBytes)
      expect(manifest).toEqual(content.manifest)
      expect(content.shards.slice(0, -1).every(s => s.bytes.byteLength === shardSize)).toBe(true)
      const back = await rebuildSnapshot(manifest, blocks(content))
      expect(back.tensors.map(t => [t.name, t.shape, t.kind])).toEqual(snap.tensors.map(t => [t.name, t.shape, t.kind]))
      back.tensors.forEach((t, i) => {
        const orig = (snap.tensors[i] as NamedTensor).data
        if (encoding === 'fp32') {
          expect(new Uint32Array(t.data.buffer)).toEqual(new Uint32Array(orig.buffer, orig.byteOffset, orig.length))
        } else {
          const bound = maxCodecError(orig, encoding, { chunkSize })
          t.data.forEach((x, j) => expect(Math.abs(x - (orig[j] as number))).toBeLessThanOrEqual(bound))
        }
      })
    }), { numRuns: 40 })
  })

  it('cuts fixed-size shards, with tensors spanning shard boundaries', async () => {
    const snap = snapshot(100, 37, 3)
    const content = await createModelContent(snap, { shardSize: 64, architecture: '{"layers":[]}', modelId: 'span' })
    expect(content.manifest.totalBytes).toBe(560)
    expect(content.shards.map(s => s.bytes.byteLength)).toEqual([64, 64, 64, 64, 64, 64, 64, 64, 48])
    const t1 = content.manifest.tensors[1]
    expect(t1).toMatchObject({ offset: 400, length: 148, elements: 37 })
    // tensor 1 covers bytes 400..548: shards 6, 7 and 8
    const back = await rebuildSnapshot(content.manifest, blocks(content))
    expect(back.tensors[1]?.data).toEqual(snap.tensors[1]?.data)
    expect(new Set(content.shards.map(s => s.cid.toString())).size).toBe(9)
    expect(content.manifest.architecture).toBe('{"layers":[]}')
  })

  it('rejects a shard with one flipped byte, naming its CID', async () => {
    const content = await createModelContent(snapshot(300, 20), { shardSize: 256 })
    await fc.assert(fc.asyncProperty(fc.nat({ max: content.shards.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, xor) => {
      const victim = content.shards[which] as ModelContent['shards'][number]
      const bad = victim.bytes.slice()
      bad[at % bad.length] = (bad[at % bad.length] as number) ^ xor
      const get = blocks(content)
      const err = await rebuildSnapshot(content.manifest, async cid => cid.equals(victim.cid) ? bad : get(cid)).catch(e => e)
      expect(err).toBeInstanceOf(InvalidShardError)
      expect((err as InvalidShardError).cid.equals(victim.cid)).toBe(true)
      expect((err as InvalidShardError).code).toBe('ERR_INVALID_SHARD')
    }), { numRuns: 30 })
  })

  it('rejects shards of the wrong length', async () => {
    const content = await createModelContent(snapshot(32), { shardSize: 64 })
    expect(content.shards).toHaveLength(2)
    const get = blocks(content)
    const first = content.shards[0] as ModelContent['shards'][number]
    await expect(rebuildSnapshot(content.manifest, async cid => cid.equals(first.cid) ? first.bytes.subarray(0, 63) : get(cid)))
      .rejects.toThrow(InvalidShardError)
    // shards that match their CIDs but not the manifest's layout: 2 shards of 100 would hold 128 bytes too
    await expect(rebuildSnapshot({ ...content.manifest, shardSize: 100 }, get)).rejects.toThrow(/has 64 bytes, the manifest needs 100/)
  })

  it('rejects a manifest whose byte ranges do not fit its encoding', async () => {
    const content = await createModelContent(snapshot(10, 10), { encoding: 'fp32' })
    const lying = { ...content.manifest, encoding: Encoding.FP16 }
    const err = await rebuildSnapshot(lying, blocks(content)).catch(e => e)
    expect(err).toBeInstanceOf(InvalidManifestError)
    expect(err).toBeInstanceOf(WireFormatError)
    await expect(rebuildSnapshot({ ...content.manifest, totalBytes: 81 }, blocks(content))).rejects.toThrow(WireFormatError)
  })

  it('records parent, chunk size and defaults; an empty model has no shards', async () => {
    const parent = await createModelContent(snapshot(4))
    const child = await createModelContent(snapshot(5), { encoding: 'int8', chunkSize: 2, parent: parent.manifestCid, createdAt: 9 })
    expect(child.manifest).toMatchObject({ encoding: Encoding.INT8, chunkSize: 2, version: 0, samples: 0, author: '', modelId: '', createdAt: 9 })
    expect(child.manifest.tensors[0]?.length).toBe(5 + 4 * 3)
    expect(decodeManifest(child.manifestBytes).parent).toEqual(parent.manifestCid.bytes)
    expect(parent.manifest.parent).toBeUndefined()
    const empty = await createModelContent({ tensors: [] })
    expect(empty.shards).toHaveLength(0)
    expect(await rebuildSnapshot(empty.manifest, async () => { throw new Error('no shard expected') })).toEqual({ tensors: [] })
  })

  it('refuses snapshots and options that cannot make a model', async () => {
    const ok = snapshot(4)
    const t = ok.tensors[0] as NamedTensor
    await expect(createModelContent({ tensors: [{ ...t, shape: [5] }] })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent({ tensors: [t, t] })).rejects.toThrow(/duplicate/)
    await expect(createModelContent({ tensors: [{ ...t, name: '' }] })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent({ tensors: [{ ...t, shape: [2, -2] }] })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent(ok, { shardSize: 0 })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent(ok, { shardSize: 2 * 1024 * 1024 })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent(ok, { version: -1 })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent(ok, { encoding: 'bf16' as ValueEncoding })).rejects.toThrow(InvalidModelContentError)
    await expect(createModelContent(ok, { architecture: 'x'.repeat(1024 * 1024) })).rejects.toThrow(MessageTooLargeError)
  })
})
