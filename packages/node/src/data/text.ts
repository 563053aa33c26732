/**
 * Character-level language modelling data from a text: windows of character ids, each
 * with the same window shifted by one character as its targets, so a sequence model
 * (Embedding → LSTM with return_sequences → Dense softmax) learns to predict every next
 * character at once.
 */
import { InvalidDataFileError } from './errors.js'
import { readText } from './read.js'
import type { Dataset } from '@murmur/protocol'

/** Options for `loadTextWindows`. */
export interface LoadTextWindowsOptions {
  /** Characters per sample. */
  window: number
  /**
   * The characters in id order; a peer joining a session passes the session's, so ids agree.
   * Characters outside it are refused.
   * @default the sorted distinct characters of the text
   */
  vocab?: string[]
  /**
   * Characters between the starts of consecutive windows. The default, one window, makes
   * every character a target exactly once; 1 gives every window (window × the memory).
   * @default window
   */
  stride?: number
}

/** A text as next-character samples. */
export interface LoadedTextWindows {
  /** xs: Int32 ids [count, window]; ys: the next ids, Int32 [count, window]; targetShape [window]. */
  dataset: Dataset
  /** The characters, index = id. */
  vocab: string[]
}

function positiveInteger (value: number, name: string, file: string): number {
  if (!Number.isInteger(value) || value < 1) throw new InvalidDataFileError({ file, line: 1 }, `${name} must be a positive integer, got ${value}`)
  return value
}

/**
 * Cut a text into windows of character ids and their next-character targets. `source` is a
 * file path, or `{ text }` for a text already in memory. Characters are Unicode code points.
 */
export async function loadTextWindows (source: string | { text: string, name?: string }, options: LoadTextWindowsOptions): Promise<LoadedTextWindows> {
  const file = typeof source === 'string' ? source : (source.name ?? 'text')
  const text = typeof source === 'string' ? await readText(source) : source.text
  const window = positiveInteger(options.window, 'window', file)
  const stride = positiveInteger(options.stride ?? window, 'stride', file)
  const chars = Array.from(text)
  if (chars.length < window + 1) {
    throw new InvalidDataFileError({ file, line: 1 }, `${chars.length} characters cannot make one window of ${window} and its next character`)
  }
  const vocab = options.vocab ?? [...new Set(chars)].sort()
  const ids = new Map(vocab.map((ch, i) => [ch, i]))
  if (ids.size !== vocab.length) throw new InvalidDataFileError({ file, line: 1 }, 'vocab lists a character twice')
  const coded = new Int32Array(chars.length)
  let line = 1
  let column = 1
  chars.forEach((ch, i) => {
    const id = ids.get(ch)
    if (id === undefined) throw new InvalidDataFileError({ file, line, column }, `character ${JSON.stringify(ch)} is not in the vocab`)
    coded[i] = id
    if (ch === '\n') {
      line++
      column = 1
    } else {
      column++
    }
  })
  const count = Math.floor((chars.length - window - 1) / stride) + 1
  const xs = new Int32Array(count * window)
  const ys = new Int32Array(count * window)
  for (let s = 0; s < count; s++) {
    const start = s * stride
    xs.set(coded.subarray(start, start + window), s * window)
    ys.set(coded.subarray(start + 1, start + 1 + window), s * window)
  }
  return { dataset: { xs, ys, count, inputShape: [window], targetShape: [window] }, vocab: [...vocab] }
}
