/**
 * Reading batches from whatever a user has: a generator, any (async) iterable, or a
 * tf.data.Dataset. A reader can start the source over when it runs out (training runs many
 * passes), which arrays, iterable objects and tf.data.Datasets allow and a generator object,
 * its own iterator, does not.
 */
import type * as tf from '@tensorflow/tfjs'
import type { Batch, Dataset, TrainingData } from './types.js'

type Streamed = Exclude<TrainingData, Dataset>

/** Whether the data is samples held in memory. */
export function isInMemory (data: TrainingData): data is Dataset {
  const d = data as Partial<Dataset>
  return typeof d === 'object' && d !== null && 'xs' in d && 'ys' in d && typeof d.count === 'number' && Array.isArray(d.inputShape)
}

function isTfDataset (data: Streamed): data is tf.data.Dataset<Batch> {
  return typeof (data as Partial<tf.data.Dataset<Batch>>).iterator === 'function' &&
    typeof (data as Partial<tf.data.Dataset<Batch>>).batch === 'function'
}

/** Something with a `next()` like every iterator here. */
interface Pull {
  next: () => Promise<IteratorResult<Batch>> | IteratorResult<Batch>
}

/** Pulls batches one at a time from an iterable or a tf.data.Dataset. */
export class BatchReader {
  /**
   * Whether the batches are the reader's to dispose after use: yes for generators and
   * tf.data (tfjs's own convention in fitDataset), no for an array, whose tensors the
   * caller keeps for the next pass.
   */
  readonly owned: boolean
  private readonly data: Streamed
  private current: Pull | undefined

  constructor (data: Streamed) {
    this.data = data
    this.owned = !Array.isArray(data)
  }

  /** The next batch, starting the source over once if it has run out and `restart` is set; undefined when none is left. */
  async next (restart: boolean): Promise<Batch | undefined> {
    const first = this.current == null
    this.current ??= await this.open()
    const result = await this.current.next()
    if (result.done !== true && result.value != null) return result.value
    this.current = undefined
    // A source that was just opened and is already empty will not fill up on a restart.
    if (!restart || first) return undefined
    this.current = await this.open()
    const again = await this.current.next()
    return again.done !== true && again.value != null ? again.value : undefined
  }

  private async open (): Promise<Pull> {
    const data = this.data
    if (isTfDataset(data)) return await data.iterator()
    const asyncOpen = (data as Partial<AsyncIterable<Batch>>)[Symbol.asyncIterator]
    if (typeof asyncOpen === 'function') return asyncOpen.call(data)
    return (data as Iterable<Batch>)[Symbol.iterator]()
  }
}
