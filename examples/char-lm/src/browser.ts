/**
 * What a browser page needs to take part in the char-lm session: the text preparation, the
 * model and sampling, with no Node imports (the page brings its own text).
 */
export { CHARS, VOCAB_SIZE, OTHER, DEFAULT_WINDOW, normalizeText, encodeText, decodeIds, contextWindow, textWindows } from './corpus.js'
export type { WindowOptions } from './corpus.js'
export { buildCharModel, TRAINING } from './model.js'
export type { CharModelOptions } from './model.js'
export { generate, perplexity } from './generate.js'
export type { GenerateOptions } from './generate.js'
