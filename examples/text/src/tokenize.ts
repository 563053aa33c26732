/**
 * Text to a bag of words with no shared vocabulary: each word is hashed into one of
 * `buckets` slots (the "hashing trick"). Peers tokenise their own mail on their own and the
 * same word lands in the same slot everywhere, so nobody has to collect everyone's words to
 * agree on a vocabulary first.
 *
 * A bag rather than token ids into an Embedding: whether a spam word occurs says most of
 * what there is to say, and a bag needs no padding or sequence length (the char-lm example
 * shows ids into an Embedding).
 */

/** How messages become rows of word slots. */
export interface TokenizerOptions {
  /** Slots words are hashed into (the model's input width). @default 2048 */
  buckets?: number
}

export const DEFAULT_BUCKETS = 2048

/** The subject and body of a raw e-mail (headers other than Subject say more about who collected it than about spam). */
export function messageText (raw: string): string {
  const split = raw.search(/\r?\n\r?\n/)
  const headers = split < 0 ? raw : raw.slice(0, split)
  const body = split < 0 ? '' : raw.slice(split)
  const subject = /^Subject:(.*)$/im.exec(headers)?.[1] ?? ''
  return `${subject}\n${body}`
}

/** Lower-case words of 2-20 letters, HTML tags and entities dropped. */
export function words (text: string): string[] {
  const plain = text.toLowerCase().replace(/<[^>]*>/g, ' ').replace(/&[a-z#0-9]+;/g, ' ')
  return plain.match(/[a-z][a-z']{1,19}/g) ?? []
}

/** FNV-1a hash of a word into 0..buckets-1. */
export function tokenId (word: string, buckets = DEFAULT_BUCKETS): number {
  let h = 0x811c9dc5
  for (let i = 0; i < word.length; i++) {
    h ^= word.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % buckets
}

/** Which slots a text's words fall in: 1 where any word does, else 0. */
export function bagOfWords (text: string, options: TokenizerOptions = {}): Float32Array {
  const buckets = options.buckets ?? DEFAULT_BUCKETS
  const bag = new Float32Array(buckets)
  for (const w of words(text)) bag[tokenId(w, buckets)] = 1
  return bag
}
