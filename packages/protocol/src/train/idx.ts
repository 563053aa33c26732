/**
 * The IDX format of LeCun's MNIST files (also Fashion-MNIST): a big-endian header of a
 * magic number (0x0000 0x08 <dims>), one uint32 per dimension, then unsigned bytes.
 * Pure parsing, so a browser that fetched the bytes and a Node peer that read a file
 * build the same `Dataset`.
 */
import { MurmurError } from '../errors.js'
import { InvalidDatasetError } from './errors.js'
import type { Dataset } from './types.js'

/** Magic number of an IDX file of unsigned-byte images (3 dimensions: count, rows, cols). */
export const IDX_IMAGES_MAGIC = 2051
/** Magic number of an IDX file of unsigned-byte labels (1 dimension: count). */
export const IDX_LABELS_MAGIC = 2049

/** Bytes that claim to be IDX but whose header or size is wrong. */
export class InvalidIdxFileError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_IDX_FILE')
    this.name = 'InvalidIdxFileError'
  }
}

/** The dimensions and unsigned-byte payload of one IDX file. */
export interface IdxArray {
  dims: number[]
  bytes: Uint8Array
}

/** Parse an IDX buffer, checking its magic number and that its size matches the header. */
export function parseIdx (buffer: Uint8Array, expectedMagic: number, source: string): IdxArray {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  if (buffer.byteLength < 8) throw new InvalidIdxFileError(`${source}: ${buffer.byteLength} bytes is too short for an IDX header`)
  const magic = view.getUint32(0)
  if (magic !== expectedMagic) throw new InvalidIdxFileError(`${source}: magic number ${magic}, expected ${expectedMagic}`)
  const rank = magic & 0xFF
  const header = 4 + 4 * rank
  if (buffer.byteLength < header) throw new InvalidIdxFileError(`${source}: truncated header`)
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i))
  const size = dims.reduce((a, b) => a * b, 1)
  if (buffer.byteLength !== header + size) {
    throw new InvalidIdxFileError(`${source}: header promises ${size} values (${dims.join('×')}), file holds ${buffer.byteLength - header}`)
  }
  return { dims, bytes: buffer.subarray(header) }
}

/** Options of `datasetFromIdx`. */
export interface DatasetFromIdxOptions {
  /** Labels must be below this. */
  numClasses: number
  /** Keep only the first `limit` samples (the files' own order). */
  limit?: number
  /** Names the files in error messages. @default 'images' and 'labels' */
  imagesSource?: string
  labelsSource?: string
}

/**
 * Build a Dataset from an IDX image file and its label file (their raw bytes), pixels
 * scaled to 0..1 and each image flattened to rows × cols features; `ys` holds one class
 * index per image (targetShape []).
 */
export function datasetFromIdx (images: Uint8Array, labels: Uint8Array, opts: DatasetFromIdxOptions): Dataset {
  const { numClasses, limit } = opts
  const imagesSource = opts.imagesSource ?? 'images'
  const labelsSource = opts.labelsSource ?? 'labels'
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new InvalidDatasetError(`limit must be a non-negative integer, got ${limit}`)
  const img = parseIdx(images, IDX_IMAGES_MAGIC, imagesSource)
  const lab = parseIdx(labels, IDX_LABELS_MAGIC, labelsSource)
  const [count, rows, cols] = img.dims as [number, number, number]
  if (lab.dims[0] !== count) throw new InvalidIdxFileError(`${imagesSource} holds ${count} images but ${labelsSource} ${lab.dims[0]} labels`)
  const n = Math.min(count, limit ?? count)
  const pixels = new Float32Array(n * rows * cols)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (img.bytes[i] as number) / 255
  // a plain copy, not a view that would pin the whole file in memory
  const labelBytes = new Uint8Array(lab.bytes.subarray(0, n))
  for (let i = 0; i < n; i++) {
    if ((labelBytes[i] as number) >= numClasses) throw new InvalidIdxFileError(`${labelsSource}: label ${labelBytes[i]} at ${i} is not below ${numClasses}`)
  }
  return { xs: pixels, ys: labelBytes, count: n, inputShape: [rows * cols], targetShape: [] }
}

/**
 * Encode samples `offset .. offset + count` of a Dataset as an IDX image file and label
 * file, the inverse of `datasetFromIdx` (pixels back to bytes 0..255): how a server hands
 * each device its own slice of a data set. Needs one class index below 256 per sample.
 */
export function encodeIdx (data: Dataset, offset = 0, count = data.count - offset): { images: Uint8Array, labels: Uint8Array } {
  if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count > data.count) {
    throw new InvalidDatasetError(`slice ${offset}+${count} is outside the ${data.count} samples`)
  }
  if (data.targetShape.length !== 0) throw new InvalidDatasetError(`IDX labels are one class index per sample (targetShape []), got targetShape [${data.targetShape.join(', ')}]`)
  for (let i = offset; i < offset + count; i++) {
    const label = data.ys[i] as number
    if (!Number.isInteger(label) || label < 0 || label > 255) throw new InvalidDatasetError(`ys[${i}] is ${label}; IDX labels are bytes 0..255`)
  }
  const features = data.inputShape.reduce((a, b) => a * b, 1)
  // IDX images are count × rows × cols: keep a 2-D shape, or fold a flat square one back
  const side = Math.round(Math.sqrt(features))
  const rows = data.inputShape.length >= 2 ? (data.inputShape[0] as number) : side * side === features ? side : 1
  const cols = features / rows
  const images = new Uint8Array(16 + count * features)
  const iv = new DataView(images.buffer)
  iv.setUint32(0, IDX_IMAGES_MAGIC)
  iv.setUint32(4, count)
  iv.setUint32(8, rows)
  iv.setUint32(12, cols)
  const start = offset * features
  for (let i = 0; i < count * features; i++) {
    images[16 + i] = Math.min(255, Math.max(0, Math.round((data.xs[start + i] as number) * 255)))
  }
  const labels = new Uint8Array(8 + count)
  const lv = new DataView(labels.buffer)
  lv.setUint32(0, IDX_LABELS_MAGIC)
  lv.setUint32(4, count)
  labels.set(data.ys.subarray(offset, offset + count), 8)
  return { images, labels }
}
