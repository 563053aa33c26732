/**
 * One peer's model and optimiser: local minibatch steps on its own data, evaluation with the
 * session's metrics, the snapshot in/out that gossip merging needs, and the trained model
 * out. Tensor memory stays flat run after run.
 */
import * as tf from '@tensorflow/tfjs'
import { BatchReader, isInMemory } from './batches.js'
import { datasetBatch, fitBatch, modelSignature, planDataset } from './data.js'
import { InvalidDatasetError, TrainerUsageError } from './errors.js'
import { lossFunction, resolveLoss } from './losses.js'
import { defaultMetrics, resolveMetric } from './metrics.js'
import { cloneModel, createModel, modelConfigFrom } from './model.js'
import { parseModelConfig } from './config.js'
import { makeOptimizer } from './optimizers.js'
import { deriveSeed, mulberry32, shuffleInPlace } from './random.js'
import { readSnapshot, writeSnapshot } from './snapshot.js'
import type { DatasetPlan, ModelSignature } from './data.js'
import type { LossFunction } from './losses.js'
import type { MetricDefinition } from './metrics.js'
import type { Rng } from './random.js'
import type { Batch, Dataset, ModelConfig, ModelSnapshot, TrainingData, TrainingHyperparameters } from './types.js'

/** Options for `Trainer.create` and `Trainer.fromModel`. */
export interface TrainerOptions {
  /**
   * Seeds this peer's initial weights (for `create`) and its batch order.
   * @default config.seed, else a random seed
   */
  seed?: number
  /**
   * Longest run of batches, in milliseconds, before yielding to the event loop, so a page
   * stays responsive while it trains. 0 yields after every batch.
   * @default 8
   */
  yieldEveryMs?: number
  /** For `create`: start from these weights (a pretrained snapshot) instead of a seeded draw. */
  weights?: ModelSnapshot
}

/** What a run of local steps did. */
export interface TrainResult {
  /** Mean training loss over the run's samples. */
  loss: number
  /** Samples the run trained on. */
  samples: number
}

/** Options for `evaluate`. */
export interface EvaluateOptions {
  /**
   * Samples per forward pass, for in-memory data.
   * @default 256
   */
  batchSize?: number
  /** Stop after this many batches; needed for endless streams. @default every batch */
  maxBatches?: number
}

/** Loss and metrics over an evaluated set. */
export interface EvaluateResult {
  /** Mean loss over every evaluated sample. */
  loss: number
  /** Each of `metricNames`, over every evaluated sample (or token). */
  metrics: Record<string, number>
}

/** A batch and whether it is ours to dispose. */
interface Fed {
  batch: Batch
  dispose: tf.Tensor[]
}

const DEFAULT_EVALUATE_BATCH = 256

async function yieldToEventLoop (): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, 0))
}

/** A peer's model and optimiser; create with `Trainer.create` or `Trainer.fromModel`, end with `dispose()`. */
export class Trainer {
  /** The compiled model; read it, but train through the trainer so batch order stays seeded. */
  readonly model: tf.LayersModel
  readonly config: ModelConfig
  /** The seed this trainer was initialised with. */
  readonly seed: number
  /** The metrics `evaluate` reports, the session's headline first. */
  readonly metricNames: string[]
  private readonly metrics: MetricDefinition[]
  private readonly loss: LossFunction
  private readonly signature: ModelSignature
  private readonly yieldEveryMs: number
  private readonly rng: Rng
  private readonly plans = new WeakMap<Dataset, DatasetPlan>()
  private order = new Uint32Array(0)
  private cursor = 0
  private orderOf: Dataset | undefined
  private stream: { of: TrainingData, reader: BatchReader } | undefined
  private busy = false
  private disposed = false

  private constructor (model: tf.LayersModel, config: ModelConfig, seed: number, options: TrainerOptions) {
    this.model = model
    this.config = config
    this.seed = seed
    this.yieldEveryMs = options.yieldEveryMs ?? 8
    this.rng = mulberry32(deriveSeed(seed, 'batches'))
    const loss = resolveLoss(config.loss)
    this.signature = modelSignature(model, config.loss, loss.targets)
    this.loss = lossFunction(loss)
    this.metricNames = config.metrics ?? defaultMetrics(loss.family)
    this.metrics = this.metricNames.map(resolveMetric)
  }

  /** Build, compile and seed the config's model (or load `options.weights` into it). */
  static async create (config: ModelConfig, options: TrainerOptions = {}): Promise<Trainer> {
    const checked = parseModelConfig(config)
    const seed = options.seed ?? checked.seed ?? Math.floor(Math.random() * 2 ** 32)
    const model = await createModel(checked, { seed, weights: options.weights })
    return Trainer.adopt(model, checked, seed, options)
  }

  /**
   * Train a user's own model (Sequential or functional) from its current, possibly
   * pretrained, weights. The trainer trains a copy built from the model's JSON, exactly as
   * other peers build it from `modelConfigFrom`; the user's object is left as it is.
   */
  static async fromModel (model: tf.LayersModel, hyper: TrainingHyperparameters, options: Omit<TrainerOptions, 'weights'> = {}): Promise<Trainer> {
    const config = modelConfigFrom(model, hyper)
    return await Trainer.create(config, { ...options, weights: readSnapshot(model) })
  }

  private static adopt (model: tf.LayersModel, config: ModelConfig, seed: number, options: TrainerOptions): Trainer {
    try {
      return new Trainer(model, config, seed, options)
    } catch (err) {
      model.optimizer?.dispose()
      model.dispose()
      throw err
    }
  }

  /**
   * Run `steps` minibatch steps. In-memory samples are drawn in a seeded shuffled order;
   * batches from a stream are taken as they come, the stream started over when it runs out
   * (if it can be). A stream that cannot be started over ends the run early: `samples` says
   * how far it got.
   */
  async trainSteps (data: TrainingData, steps: number): Promise<TrainResult> {
    this.assertUsable()
    if (this.busy) throw new TrainerUsageError('trainSteps called while another run is going; await it first')
    if (!Number.isInteger(steps) || steps < 1) throw new TrainerUsageError(`steps must be a positive integer, got ${steps}`)
    const plan = isInMemory(data) ? this.plan(data) : undefined
    if (plan != null && (data as Dataset).count === 0) throw new InvalidDatasetError('cannot train on an empty data set')
    this.busy = true
    try {
      let lossSum = 0
      let samples = 0
      let lastYield = performance.now()
      for (let step = 0; step < steps; step++) {
        const fed = plan != null ? this.nextInMemory(data as Dataset, plan) : await this.nextStreamed(data)
        if (fed == null) break
        const n = fed.batch.xs.shape[0] ?? 0
        try {
          const loss = await this.model.trainOnBatch(fed.batch.xs, fed.batch.ys)
          lossSum += (typeof loss === 'number' ? loss : (loss[0] ?? NaN)) * n
        } finally {
          tf.dispose(fed.dispose)
        }
        samples += n
        this.assertUsable()
        if (performance.now() - lastYield >= this.yieldEveryMs) {
          await yieldToEventLoop()
          this.assertUsable()
          lastYield = performance.now()
        }
      }
      if (samples === 0) {
        throw new InvalidDatasetError('the data yielded no batches; a generator object runs only once: pass an object whose [Symbol.iterator] makes a new generator, or a tf.data.Dataset, to train on it again')
      }
      return { loss: lossSum / samples, samples }
    } finally {
      this.busy = false
    }
  }

  /**
   * Loss and metrics over all of `data` (or its first `maxBatches` batches), in batches so
   * memory stays bounded. Means are over every sample, so batch sizes do not skew them.
   */
  async evaluate (data: TrainingData, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.assertUsable()
    const maxBatches = options.maxBatches ?? Infinity
    if (!(maxBatches >= 1)) throw new TrainerUsageError(`maxBatches must be at least 1, got ${options.maxBatches}`)
    const batches = isInMemory(data) ? this.inMemoryPass(data, Math.max(1, options.batchSize ?? DEFAULT_EVALUATE_BATCH)) : this.streamedPass(data)
    let samples = 0
    let lossSum = 0
    const sums = this.metrics.map(() => 0)
    const counts = this.metrics.map(() => 0)
    let lastYield = performance.now()
    let seen = 0
    for await (const fed of batches) {
      const n = fed.batch.xs.shape[0] ?? 0
      let parts: number[]
      try {
        parts = await this.evaluateBatch(fed.batch, counts)
      } finally {
        tf.dispose(fed.dispose)
      }
      lossSum += (parts[0] as number) * n
      samples += n
      this.metrics.forEach((_, m) => { sums[m] = (sums[m] as number) + (parts[m + 1] as number) })
      this.assertUsable()
      if (performance.now() - lastYield >= this.yieldEveryMs) {
        await yieldToEventLoop()
        this.assertUsable()
        lastYield = performance.now()
      }
      if (++seen >= maxBatches) break
    }
    if (samples === 0) throw new InvalidDatasetError('cannot evaluate on an empty data set')
    const metrics: Record<string, number> = {}
    this.metrics.forEach((metric, m) => {
      metrics[this.metricNames[m] as string] = metric.finish((sums[m] as number) / (counts[m] as number))
    })
    return { loss: lossSum / samples, metrics }
  }

  /** Named Float32Array copies of every weight, trainable and not. */
  getSnapshot (): ModelSnapshot {
    this.assertUsable()
    return readSnapshot(this.model)
  }

  /** Replace every weight with a snapshot's values; refuses one that does not fit the model. */
  setSnapshot (snapshot: ModelSnapshot): void {
    this.assertUsable()
    writeSnapshot(this.model, snapshot)
  }

  /**
   * Call after a merge replaced the weights: applies `config.optimizerState`. 'reset' swaps
   * in a fresh optimiser and disposes the old one's state; 'keep' does nothing.
   */
  afterMerge (): void {
    this.assertUsable()
    if (this.busy) throw new TrainerUsageError('afterMerge called while a run is going; await it first')
    if ((this.config.optimizerState ?? 'reset') === 'keep') return
    const old = this.model.optimizer
    this.model.optimizer = makeOptimizer(this.config.optimizer)
    old?.dispose()
  }

  /**
   * A standalone copy of the model with its current weights, to `predict` with or `save`.
   * It owns its weights: disposing the trainer leaves it working, and it must be disposed
   * on its own. Not compiled; compile it to train it further.
   */
  exportModel (): tf.LayersModel {
    this.assertUsable()
    return cloneModel(this.model)
  }

  /** Free the model's and optimiser's tensors; the trainer cannot be used afterwards. */
  dispose (): void {
    if (this.disposed) return
    this.disposed = true
    // The model owns its optimiser only when compiled from a name; ours is an instance.
    this.model.optimizer?.dispose()
    this.model.dispose()
  }

  private assertUsable (): void {
    if (this.disposed) throw new TrainerUsageError('trainer was disposed')
  }

  private plan (data: Dataset): DatasetPlan {
    let plan = this.plans.get(data)
    if (plan == null) {
      plan = planDataset(data, this.signature)
      this.plans.set(data, plan)
    }
    return plan
  }

  /** Loss mean and each metric's sum for one batch, read back in one transfer. */
  private async evaluateBatch (batch: Batch, counts: number[]): Promise<number[]> {
    const packed = tf.tidy(() => {
      const predicted = this.model.predict(batch.xs, { batchSize: batch.xs.shape[0] }) as tf.Tensor
      const parts: tf.Tensor[] = [tf.mean(this.loss(batch.ys, predicted))]
      this.metrics.forEach((metric, m) => {
        const { sum, count } = metric.batch(batch.ys, predicted)
        counts[m] = (counts[m] as number) + count
        parts.push(tf.reshape(sum, []))
      })
      return tf.stack(parts)
    })
    try {
      return Array.from(await packed.data())
    } finally {
      packed.dispose()
    }
  }

  private nextInMemory (data: Dataset, plan: DatasetPlan): Fed {
    const indices = this.nextIndices(data, Math.min(this.config.batchSize, data.count))
    const batch = tf.tidy(() => datasetBatch(data, plan, indices))
    return { batch, dispose: [batch.xs, batch.ys] }
  }

  private async nextStreamed (data: TrainingData): Promise<Fed | undefined> {
    if (this.stream?.of !== data) this.stream = { of: data, reader: new BatchReader(data as Exclude<TrainingData, Dataset>) }
    const { reader } = this.stream
    const raw = await reader.next(true)
    return raw == null ? undefined : this.fit(raw, reader.owned)
  }

  /** Shape-check a streamed batch; what to dispose afterwards: whatever fitting made, and the batch itself if it is ours. */
  private fit (raw: Batch, owned: boolean): Fed {
    let batch: Batch
    try {
      batch = fitBatch(raw, this.signature)
    } catch (err) {
      if (owned) tf.dispose([raw.xs, raw.ys])
      throw err
    }
    const made = [batch.xs, batch.ys].filter(t => t !== raw.xs && t !== raw.ys)
    return { batch, dispose: owned ? [raw.xs, raw.ys, ...made] : made }
  }

  private async * inMemoryPass (data: Dataset, batchSize: number): AsyncGenerator<Fed> {
    const plan = this.plan(data)
    for (let start = 0; start < data.count; start += batchSize) {
      const indices = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i)
      const batch = tf.tidy(() => datasetBatch(data, plan, indices))
      yield { batch, dispose: [batch.xs, batch.ys] }
    }
  }

  private async * streamedPass (data: TrainingData): AsyncGenerator<Fed> {
    const reader = new BatchReader(data as Exclude<TrainingData, Dataset>)
    for (let raw = await reader.next(false); raw != null; raw = await reader.next(false)) {
      yield this.fit(raw, reader.owned)
    }
  }

  /** The next `size` indices of a shuffled pass over `data`, reshuffling at the end of each pass. */
  private nextIndices (data: Dataset, size: number): Uint32Array {
    if (this.orderOf !== data || this.order.length !== data.count) {
      this.order = shuffleInPlace(Uint32Array.from({ length: data.count }, (_, i) => i), this.rng)
      this.cursor = 0
      this.orderOf = data
    }
    const out = new Uint32Array(size)
    for (let i = 0; i < size; i++) {
      if (this.cursor >= this.order.length) {
        shuffleInPlace(this.order, this.rng)
        this.cursor = 0
      }
      out[i] = this.order[this.cursor++] as number
    }
    return out
  }
}
