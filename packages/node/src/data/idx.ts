/**
 * Reading IDX files (LeCun's MNIST format) from disk. The format itself is parsed by
 * `@murmur/protocol` (`parseIdx`, `datasetFromIdx`), shared with browsers; this file only
 * finds, reads and gunzips the files.
 */
import { readFile } from 'node:fs/promises'
import { gunzip } from 'node:zlib'
import { promisify } from 'node:util'
import { datasetFromIdx } from '@murmur/protocol'
import { DatasetNotFoundError } from './errors.js'
import type { Dataset } from '@murmur/protocol'

export { parseIdx, datasetFromIdx, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, InvalidIdxFileError } from '@murmur/protocol'
export type { IdxArray } from '@murmur/protocol'

const gunzipAsync = promisify(gunzip)

/** Read one IDX file's bytes, gunzipping `.gz`; a missing file says what to install. */
export async function readIdxFile (path: string, missingHint: string): Promise<Uint8Array> {
  let buffer: Uint8Array
  try {
    buffer = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetNotFoundError(`${path} not found; ${missingHint}`, { cause: err })
    throw err
  }
  return path.endsWith('.gz') ? await gunzipAsync(buffer) : buffer
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
 * flattened to rows × cols features; `ys` holds one class index per image (targetShape []).
 */
export async function loadIdxPair (options: IdxPairOptions): Promise<Dataset> {
  const { imagesPath, labelsPath, numClasses, limit, missingHint } = options
  const [images, labels] = await Promise.all([readIdxFile(imagesPath, missingHint), readIdxFile(labelsPath, missingHint)])
  return datasetFromIdx(images, labels, { numClasses, limit, imagesSource: imagesPath, labelsSource: labelsPath })
}
