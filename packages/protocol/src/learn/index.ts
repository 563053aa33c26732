/**
 * learn: the math of merging and sending models, on plain Float32Arrays (no tfjs, no
 * platform): averaging rules, robust merges, model validation, sparsification and codecs.
 */
export * from './types.js'
export * from './errors.js'
export * from './average.js'
export * from './robust.js'
export * from './model.js'
export * from './rules.js'
export * from './validate.js'
export * from './topk.js'
export { topKIndices } from './select.js'
export * from './codec.js'
export { getMergeBackend, setMergeBackend } from './simd.js'
export type { MergeBackend } from './simd.js'
