/**
 * How a joining peer settles on the session's config without ever forking the session:
 * a peer that brings a config first gives the members time to deliver theirs, writes its
 * own only into a session that has none, and refuses a session whose model differs from
 * the one it brings. A config this peer cannot build fails the join at once, saying why.
 */
import type * as Y from 'yjs'
import { MurmurError } from '../errors.js'
import { configProblem, getConfig, setConfig } from '../state/index.js'
import type { SessionConfig } from '../state/index.js'
import { InvalidModelConfigError, parseModelConfig } from '../train/index.js'
import type { ModelConfig } from '../train/index.js'
import { sleep } from '../mesh/deadline.js'

/** A peer that brings a model config the session does not train. */
export class SessionConfigConflictError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_SESSION_CONFIG_CONFLICT', options)
    this.name = 'SessionConfigConflictError'
  }
}

/** `join` gave up: its signal fired before the session's config arrived. */
export class SessionJoinAbortedError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_SESSION_JOIN_ABORTED', options)
    this.name = 'SessionJoinAbortedError'
  }
}

/** What `settleConfig` needs to know. */
export interface SettleConfigOptions {
  session: string
  /** The config this peer brings, if any (its model is checked against the session's). */
  mine?: SessionConfig
  /** Write `mine` when no config arrives within `createAfter`. */
  create: boolean
  /** @default 2000 */
  createAfter?: number
  signal?: AbortSignal
}

/** The session's config and this peer's parsed model: waited for, or created from `mine` when none arrives. */
export async function settleConfig (doc: Y.Doc, options: SettleConfigOptions): Promise<{ config: SessionConfig, model: ModelConfig }> {
  const { session, mine, signal } = options
  if (mine != null && options.create) {
    // writing our config into a fresh document before syncing would fork the session
    const wait = AbortSignal.timeout(options.createAfter ?? 2000)
    const existing = getConfig(doc) ?? await waitForConfig(doc, session, signal != null ? AbortSignal.any([signal, wait]) : wait).catch(() => undefined)
    if (signal?.aborted === true) throw new SessionJoinAbortedError(`joining session ${session} was aborted`)
    if (existing == null) setConfig(doc, mine)
  }
  const config = await waitForConfig(doc, session, signal)
  if (mine != null && canonicalJson(config.model) !== canonicalJson(mine.model)) {
    throw new SessionConfigConflictError(`session "${session}" trains a different model than the one this peer brings (${describeModelDifference(config.model, mine.model)}): join without a model to train the session's model, or use another session id`)
  }
  try {
    return { config, model: parseModelConfig(config.model) }
  } catch (err) {
    throw new InvalidModelConfigError(`session "${session}" has a model config this peer cannot build: ${(err as Error).message}`, { cause: err })
  }
}

/** The document's config once it is there; a config this peer cannot read fails at once, saying why. */
async function waitForConfig (doc: Y.Doc, session: string, signal?: AbortSignal): Promise<SessionConfig> {
  for (;;) {
    const config = getConfig(doc)
    if (config != null) return config
    const problem = configProblem(doc)
    if (problem != null) throw new InvalidModelConfigError(`session "${session}" has a config this peer cannot use: ${problem}`)
    if (signal?.aborted === true) throw new SessionJoinAbortedError(`no config for session ${session} arrived`)
    await sleep(100, signal)
  }
}

/** JSON with object keys sorted, so two peers' configs compare equal whatever their key order. */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
  })
}

/** Which top-level model fields differ, for an error message. */
export function describeModelDifference (theirs: unknown, mine: unknown): string {
  const a = (theirs ?? {}) as Record<string, unknown>
  const b = (mine ?? {}) as Record<string, unknown>
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(k => canonicalJson(a[k]) !== canonicalJson(b[k]))
  return keys.length > 0 ? `differs in ${keys.join(', ')}` : 'differs'
}
