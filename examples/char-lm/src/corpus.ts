/**
 * Text to training windows for a character-level language model, with nothing but plain
 * arrays (no Node, no tfjs), so a browser page prepares its text exactly as a Node peer
 * does. The character set is fixed rather than read off a corpus: peers that never see each
 * other's text still agree on every id, and so on the model's input and output width.
 */
import type { Dataset } from '@murmur/protocol'

/** The characters the model knows; id 0 stands for any other (digits, symbols). */
export const CHARS = ' !"\'(),-.:;?abcdefghijklmnopqrstuvwxyz'
/** Ids in all: CHARS plus the "other" id 0. */
export const VOCAB_SIZE = CHARS.length + 1
/** What `decodeIds` writes for id 0. */
export const OTHER = '#'
/** Characters per window (the model's context). */
export const DEFAULT_WINDOW = 16

const ID = new Map([...CHARS].map((c, i) => [c, i + 1]))
const SPACE = 1

/** Lower-case, with dashes, curly quotes and runs of white space folded into the characters the model knows. */
export function normalizeText (text: string): string {
  return text.toLowerCase()
    .replace(/[\u2014\u2013]/g, '-')
    .replace(/[\u2018\u2019]/g, '\'')
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/\s+/g, ' ')
}

/** Character ids of a (normalised) text. */
export function encodeText (text: string): Int32Array {
  const chars = [...normalizeText(text)]
  return Int32Array.from(chars, c => ID.get(c) ?? 0)
}

/** Text of character ids. */
export function decodeIds (ids: ArrayLike<number>): string {
  let out = ''
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] ?? 0
    out += id === 0 ? OTHER : (CHARS[id - 1] ?? OTHER)
  }
  return out
}

/** How a text is cut into windows. */
export interface WindowOptions {
  /** Characters per window. @default DEFAULT_WINDOW */
  length?: number
  /** Characters from one window's start to the next. @default length (windows do not overlap) */
  stride?: number
  /** Keep at most this many windows (the first ones). @default all */
  maxWindows?: number
}

/** The last `length` ids of `ids`, left-padded with spaces when there are fewer (a short prompt). */
export function contextWindow (ids: ArrayLike<number>, length = DEFAULT_WINDOW): Int32Array {
  const out = new Int32Array(length).fill(SPACE)
  const take = Math.min(length, ids.length)
  for (let t = 0; t < take; t++) out[length - take + t] = ids[ids.length - take + t] ?? 0
  return out
}

/**
 * Training windows of a text: each window's input is `length` character ids, its target the
 * character that follows each of them, so every position is a prediction.
 */
export function textWindows (ids: Int32Array, options: WindowOptions = {}): Dataset {
  const length = options.length ?? DEFAULT_WINDOW
  const stride = options.stride ?? length
  const available = ids.length > length ? Math.floor((ids.length - length - 1) / stride) + 1 : 0
  const count = Math.min(available, options.maxWindows ?? Infinity)
  const xs = new Int32Array(count * length)
  const ys = new Int32Array(count * length)
  for (let w = 0; w < count; w++) {
    const start = w * stride
    xs.set(ids.subarray(start, start + length), w * length)
    ys.set(ids.subarray(start + 1, start + length + 1), w * length)
  }
  return { xs, ys, count, inputShape: [length], targetShape: [length] }
}
