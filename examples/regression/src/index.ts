/** The regression example: three agencies value Boston tracts together, each knowing one kind of neighbourhood. */
export { loadHousingData, random, FEATURES } from './data.js'
export type { Tract, HousingData } from './data.js'
export { buildValuer, TRAINING } from './model.js'
export { scoreValuer, predictValues } from './evaluate.js'
export type { ValuerScores } from './evaluate.js'
export { compareRegression, meanOf } from './compare.js'
export type { RegressionComparison, CompareOptions } from './compare.js'
