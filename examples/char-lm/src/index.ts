/** The char-lm example: a character-level GRU language model trained across peers on Moby-Dick. Browser pages import `@murmur/example-char-lm/browser`. */
export * from './browser.js'
export { loadChapters, loadCorpus, PEER_CHAPTERS, TEST_CHAPTERS } from './node.js'
export type { Chapter, CorpusData, CorpusOptions } from './node.js'
export { compareCharLm, mean } from './compare.js'
export type { CharLmComparison, CompareOptions } from './compare.js'
