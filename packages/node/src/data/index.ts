/**
 * data: what a Node peer trains with: real data sets read from local files (MNIST,
 * Fashion-MNIST), users' own files (CSV, JSON Lines, plain text for character models), models
 * saved to and loaded from disk, and the tfjs backend (WASM, chosen by measurement) it
 * trains on.
 */
export { loadMnist, loadFashionMnist, FASHION_MNIST_DIR } from './mnist.js'
export type { LoadMnistOptions } from './mnist.js'
export { parseIdx, loadIdxPair, InvalidIdxFileError, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx.js'
export type { IdxArray, IdxPairOptions } from './idx.js'
export { DatasetNotFoundError, InvalidDataFileError } from './errors.js'
export type { FilePosition } from './errors.js'
export { loadCsv } from './csv.js'
export type { LoadCsvOptions, LoadedCsv } from './csv.js'
export { loadJsonLines } from './jsonl.js'
export type { LoadJsonLinesOptions, LoadedJsonLines } from './jsonl.js'
export { loadTextWindows } from './text.js'
export type { LoadTextWindowsOptions, LoadedTextWindows } from './text.js'
export { fileSystem, registerFileSystemRouter } from './model-files.js'
export { initNodeBackend, wasmBinaryDir } from './backend.js'
export type { NodeBackendChoice } from './backend.js'
