/** The tabular example: event detection on a sensor network, three sites training one detector together. */
export { loadSensorData, featureRows, random, shuffle, SITES, FEATURES } from './data.js'
export type { Reading, SensorData } from './data.js'
export { buildDetector, TRAINING } from './model.js'
export { scoreDetector } from './evaluate.js'
export type { DetectorScores } from './evaluate.js'
export { compareTabular, meanOf, SITE_NAMES } from './compare.js'
export type { TabularComparison, CompareOptions } from './compare.js'
