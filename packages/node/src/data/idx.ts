/**
 * The IDX format of LeCun's MNIST files (also Fashion-MNIST): a big-endian header of a
 * magic number (0x0000 0x08 <dims>), one uint32 per dimension, then unsigned bytes.
 */
import { readFile } from 'node:fs/promises'
import { gunzip } from 'node:zlib'
import { promisify } from 'node:util'
import { InvalidDatasetError, MurmurError } from '@murmur/protocol'
import type { Dataset } from '@murmur/protocol'

/** Magic number of an IDX file of unsigned-byte images (3 dimensions: count, rows, cols). */
export const IDX_IMAGES_MAGIC = 2051
/** Magic number of an IDX file of unsigned-byte labels (1 dimension: count). */
export const IDX_LABELS_MAGIC = 2049

/** A data set's files are not where they should be, with what to install to get them. */
export class DatasetNotFoundError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DATASET_NOT_FOUND', options)
    this.name = 'DatasetNotFoundError'
  }
}

/** A file that claims to be IDX but whose header or size is wrong. */
export class InvalidIdxFileError extends MurmurError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_IDX_FILE')
    this.name = 'InvalidIdxFileError'
  }
}

const gunzipAsync = promisify(gunzip)

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

async function readIdx (path: string, expectedMagic: number, missingHint: string): Promise<IdxArray> {
  let buffer: Uint8Array
  try {
    buffer = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetNotFoundError(`${path} not found; ${missingHint}`, { cause: err })
    throw err
  }
  if (path.endsWith('.gz')) buffer = await gunzipAsync(buffer)
  return parseIdx(buffer, expectedMagic, path)
}

/** Where an IDX image/label pair lives and how to read it. */
export interface IdxPairOptions {
  imagesPath: string
  labelsPath: string
  numClasses: number
  /** Keep only the first `limit` samples (the files' own order). */
  limit?: number
  /** What to tell the user when the files are missing, e.g. which package installs them. */
  missingHint: string
}

/**
 * Read an image file and its label file into a Dataset, pixels scaled to 0..1 and each image
 * flattened to rows × cols features.
 */
export async function loadIdxPair (options: IdxPairOptions): Promise<Dataset> {
  const { imagesPath, labelsPath, numClasses, limit, missingHint } = options
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new InvalidDatasetError(`limit must be a non-negative integer, got ${limit}`)
  const [images, labels] = await Promise.all([
    readIdx(imagesPath, IDX_IMAGES_MAGIC, missingHint),
    readIdx(labelsPath, IDX_LABELS_MAGIC, missingHint)
  ])
  const [count, rows, cols] = images.dims as [number, number, number]
  if (labels.dims[0] !== count) throw new InvalidIdxFileError(`${imagesPath} holds ${count} images but ${labelsPath} ${labels.dims[0]} labels`)
  const n = Math.min(count, limit ?? count)
  const pixels = new Float32Array(n * rows * cols)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (images.bytes[i] as number) / 255
  // A plain copy, not a Buffer view that would pin the whole file in memory.
  const labelBytes = new Uint8Array(labels.bytes.subarray(0, n))
  for (let i = 0; i < n; i++) {
    if ((labelBytes[i] as number) >= numClasses) throw new InvalidIdxFileError(`${labelsPath}: label ${labelBytes[i]} at ${i} is not below ${numClasses}`)
  }
  return { images: pixels, labels: labelBytes, count: n, inputShape: [rows * cols], numClasses }
}
