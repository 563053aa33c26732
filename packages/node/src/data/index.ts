/**
 * data: what a Node peer trains with: real data sets read from local files, and the tfjs
 * backend (WASM, chosen by measurement) it trains on.
 */
export { loadMnist, loadFashionMnist, FASHION_MNIST_DIR } from './mnist.js'
export type { LoadMnistOptions } from './mnist.js'
export { parseIdx, loadIdxPair, DatasetNotFoundError, InvalidIdxFileError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js'
export type { IdxArray, IdxPairOptions } from './idx.js'
export { initNodeBackend, wasmBinaryDir } from './backend.js'
export type { NodeBackendChoice } from './backend.js'
