export { Session } from './session.js'
export type { SessionInit } from './session.js'
export type { SessionTrainer, SessionEvents, RoundMetrics } from './types.js'
