import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  parseIdx, datasetFromIdx, encodeIdx, checkDataset, InvalidIdxFileError, InvalidDatasetError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
} from '../src/train/index.js'
import type { Dataset } from '../src/train/index.js'

/** An IDX file by hand: big-endian magic, dims, then the bytes. */
function idx (magic: number, dims: number[], body: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + body.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, magic)
  dims.forEach((d, i) => { view.setUint32(4 + 4 * i, d) })
  out.set(body, 4 + 4 * dims.length)
  return out
}

const datasetArb = fc.record({
  rows: fc.integer({ min: 1, max: 6 }),
  cols: fc.integer({ min: 1, max: 6 }),
  count: fc.integer({ min: 0, max: 12 }),
  classes: fc.integer({ min: 1, max: 10 }),
  seed: fc.integer()
}).map(({ rows, cols, count, classes, seed }): { data: Dataset, bytes: Uint8Array, classes: number } => {
  let s = seed >>> 0
  const next = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s }
  const bytes = Uint8Array.from({ length: count * rows * cols }, () => next() % 256)
  const ys = Uint8Array.from({ length: count }, () => next() % classes)
  const xs = Float32Array.from(bytes, b => b / 255)
  return { data: { xs, ys, count, inputShape: rows === 1 ? [cols] : [rows, cols], targetShape: [] }, bytes, classes }
})

describe('IDX files', () => {
  it('parses a hand-made image file: dims and payload', () => {
    const file = idx(IDX_IMAGES_MAGIC, [2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255])
    const parsed = parseIdx(file, IDX_IMAGES_MAGIC, 'hand-made')
    expect(parsed.dims).toEqual([2, 2, 3])
    expect([...parsed.bytes]).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255])
  })

  it('names the file and the fault for a wrong magic, a short file and a size mismatch', () => {
    expect(() => parseIdx(idx(IDX_LABELS_MAGIC, [1], [0]), IDX_IMAGES_MAGIC, 'x.idx')).toThrow(/x\.idx: magic number 2049, expected 2051/)
    expect(() => parseIdx(new Uint8Array(3), IDX_LABELS_MAGIC, 'y.idx')).toThrow(InvalidIdxFileError)
    expect(() => parseIdx(idx(IDX_LABELS_MAGIC, [3], [1, 2]), IDX_LABELS_MAGIC, 'z.idx')).toThrow(/header promises 3 values .* holds 2/)
  })

  it('builds a Dataset scaled to 0..1, honouring limit, and refuses labels beyond the classes', () => {
    const images = idx(IDX_IMAGES_MAGIC, [3, 1, 2], [0, 255, 51, 102, 255, 0])
    const labels = idx(IDX_LABELS_MAGIC, [3], [1, 0, 2])
    const data = datasetFromIdx(images, labels, { numClasses: 3, limit: 2 })
    checkDataset(data)
    expect(data.count).toBe(2)
    expect(data.inputShape).toEqual([2])
    expect(data.targetShape).toEqual([])
    expect([...data.xs]).toEqual([0, 1, 0.2, 0.4].map(v => Math.fround(v)))
    expect([...data.ys]).toEqual([1, 0])
    expect(() => datasetFromIdx(images, labels, { numClasses: 2 })).toThrow(/label 2 at 2 is not below 2/)
    expect(() => datasetFromIdx(images, idx(IDX_LABELS_MAGIC, [2], [0, 0]), { numClasses: 3 })).toThrow(/3 images but labels 2 labels/)
    expect(() => datasetFromIdx(images, labels, { numClasses: 3, limit: -1 })).toThrow(InvalidDatasetError)
  })

  it('encodeIdx then datasetFromIdx gives back any slice of a data set exactly', () => {
    fc.assert(fc.property(datasetArb, fc.nat(), fc.nat(), ({ data, bytes, classes }, a, b) => {
      const offset = data.count === 0 ? 0 : a % (data.count + 1)
      const count = (data.count - offset) === 0 ? 0 : b % (data.count - offset + 1)
      const encoded = encodeIdx(data, offset, count)
      const back = datasetFromIdx(encoded.images, encoded.labels, { numClasses: classes })
      const features = data.xs.length / Math.max(1, data.count)
      expect(back.count).toBe(count)
      expect(parseIdx(encoded.images, IDX_IMAGES_MAGIC, 'slice').bytes).toEqual(bytes.subarray(offset * features, (offset + count) * features))
      expect([...back.ys]).toEqual([...data.ys.subarray(offset, offset + count)])
      expect(back.xs).toEqual(data.xs.subarray(offset * features, (offset + count) * features))
    }))
  })

  it('folds flat square images back to rows × cols, and refuses a slice outside the data', () => {
    const data: Dataset = { xs: new Float32Array(2 * 784), ys: new Uint8Array([3, 4]), count: 2, inputShape: [784], targetShape: [] }
    const { images } = encodeIdx(data)
    expect(parseIdx(images, IDX_IMAGES_MAGIC, 'mnist-like').dims).toEqual([2, 28, 28])
    expect(() => encodeIdx(data, 1, 2)).toThrow(/slice 1\+2 is outside the 2 samples/)
    // IDX holds one byte label per image: nothing else can be encoded.
    expect(() => encodeIdx({ ...data, ys: new Float32Array(4), targetShape: [2] })).toThrow(/targetShape/)
    expect(() => encodeIdx({ ...data, ys: Int32Array.from([3, 300]) })).toThrow(/ys\[1\] is 300/)
  })
})
