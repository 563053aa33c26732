/**
 * Merge rules by name: the built-in ones and those a user registers (Flower's `Strategy` in
 * spirit: a function from the models of one merge to the merged model). Every peer of a
 * session must register a custom rule under the same name before it joins; a session whose
 * rule this peer does not know fails to join with `UnknownMergeRuleError`, never merges
 * differently from the others in silence.
 */
import { MurmurError } from '../errors.js'
import type { ModelSnapshot } from './types.js'

/** The rules every peer knows. */
export const BUILT_IN_RULES = ['variance-corrected', 'plain', 'median', 'trimmed-mean'] as const

/** One of the built-in rules. */
export type BuiltInRule = typeof BUILT_IN_RULES[number]

/** What a custom rule is given for one merge. */
export interface MergeContext {
  /** One weight per model, summing to 1: the peer's own model first (its self-weight), then each neighbour's share. */
  weights: readonly number[]
  /** The session's trim fraction (for rules that trim). */
  trim: number
}

/**
 * A custom merge rule: `models[0]` is this peer's own model, the rest its neighbours'
 * (validated: same names and shapes, finite). Returns the merged model, whose tensors must
 * match `models[0]`'s names and shapes; it must not modify its inputs.
 */
export type CustomMergeRule = (models: readonly ModelSnapshot[], context: MergeContext) => ModelSnapshot

/** A session names a rule that is neither built in nor registered on this peer. */
export class UnknownMergeRuleError extends MurmurError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_UNKNOWN_MERGE_RULE', options)
    this.name = 'UnknownMergeRuleError'
  }
}

const RULE_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/
const custom = new Map<string, CustomMergeRule>()

/** Register a merge rule under `name` (letters, digits, `.`, `_`, `-`; not a built-in name). */
export function registerMergeRule (name: string, rule: CustomMergeRule): void {
  if (!RULE_NAME.test(name)) throw new UnknownMergeRuleError(`merge rule name "${name}" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter`)
  if ((BUILT_IN_RULES as readonly string[]).includes(name)) throw new UnknownMergeRuleError(`"${name}" is a built-in merge rule and cannot be replaced`)
  if (typeof rule !== 'function') throw new UnknownMergeRuleError(`merge rule "${name}" must be a function (models, context) => model`)
  custom.set(name, rule)
}

/** The custom rule registered as `name`, if any. */
export function customMergeRule (name: string): CustomMergeRule | undefined {
  return custom.get(name)
}

/** True for a built-in rule name. */
export function isBuiltInRule (name: string): name is BuiltInRule {
  return (BUILT_IN_RULES as readonly string[]).includes(name)
}

/** Throw `UnknownMergeRuleError` unless `name` is built in or registered here. */
export function assertKnownRule (name: string): void {
  if (isBuiltInRule(name) || custom.has(name)) return
  throw new UnknownMergeRuleError(`the session merges with "${name}", which is neither built in (${BUILT_IN_RULES.join(', ')}) nor registered on this peer: call registerMergeRule("${name}", rule) before joining`)
}
