/**
 * One peer's model and optimiser: local minibatch steps on its own data, evaluation, and
 * the snapshot in/out that gossip merging needs. Tensor memory stays flat run after run.
 */
import * as tf from '@tensorflow/tfjs'
import { InvalidDatasetError, TrainerUsageError } from './errors.js'
import { createModel, parseModelConfig } from './model.js'
import { checkDataset } from './partition.js'
import { deriveSeed, mulberry32, shuffleInPlace } from './random.js'
import { readSnapshot, writeSnapshot } from './snapshot.js'
import type { Rng } from './random.js'
import type { Dataset, ModelConfig, ModelSnapshot } from './types.js'

/** Options for `Trainer.create`. */
export interface TrainerOptions {
  /**
   * Seeds this peer's initial weights and its batch order.
   * @default config.seed, else a random seed
   */
  seed?: number
  /**
   * Longest run of batches, in milliseconds, before yielding to the event loop, so a page
   * stays responsive while it trains. 0 yields after every batch.
   * @default 8
   */
  yieldEveryMs?: number
}

/** What a run of local steps did. */
export interface TrainResult {
  /** Mean training loss over the run's batches. */
  loss: number
  /** Samples the run trained on (steps × batch size). */
  samples: number
}

/** Loss and accuracy on a data set. */
export interface EvaluateResult {
  loss: number
  /** Fraction of samples whose highest-scoring class is the label, 0..1. */
  accuracy: number
}

async function yieldToEventLoop (): Promise<void> {
  await new Promise<void>(resolve => setTimeout(resolve, 0))
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

/** A peer's model and optimiser; create with `Trainer.create`, end with `dispose()`. */
export class Trainer {
  /** The compiled model; read it, but train through the trainer so batch order stays seeded. */
  readonly model: tf.LayersModel
  readonly config: ModelConfig
  /** The seed this trainer was initialised with. */
  readonly seed: number
  private readonly yieldEveryMs: number
  private readonly rng: Rng
  private readonly featureShape: number[]
  private readonly outputClasses: number
  private readonly sparseTargets: boolean
  private readonly checked = new WeakSet<Dataset>()
  private order = new Uint32Array(0)
  private cursor = 0
  private orderOf: Dataset | undefined
  private busy = false
  private disposed = false

  private constructor (model: tf.LayersModel, config: ModelConfig, seed: number, options: TrainerOptions) {
    this.model = model
    this.config = config
    this.seed = seed
    this.yieldEveryMs = options.yieldEveryMs ?? 8
    this.rng = mulberry32(deriveSeed(seed, 'batches'))
    const input = model.inputs[0]?.shape ?? []
    const output = model.outputs[0]?.shape ?? []
    this.featureShape = input.slice(1).map(d => d ?? 1)
    this.outputClasses = output[output.length - 1] ?? 1
    this.sparseTargets = config.loss.toLowerCase().startsWith('sparse')
  }

  /** Build, compile and seed the config's model. */
  static async create (config: ModelConfig, options: TrainerOptions = {}): Promise<Trainer> {
    const checked = parseModelConfig(config)
    const seed = options.seed ?? checked.seed ?? Math.floor(Math.random() * 2 ** 32)
    const model = await createModel(checked, { seed })
    return new Trainer(model, checked, seed, options)
  }

  /** Run `steps` minibatch steps on `data`, batches drawn in a seeded shuffled order. */
  async trainSteps (data: Dataset, steps: number): Promise<TrainResult> {
    this.assertUsable()
    if (this.busy) throw new TrainerUsageError('trainSteps called while another run is going; await it first')
    if (!Number.isInteger(steps) || steps < 1) throw new TrainerUsageError(`steps must be a positive integer, got ${steps}`)
    this.check(data)
    this.busy = true
    try {
      const batchSize = Math.min(this.config.batchSize, data.count)
      let lossSum = 0
      let samples = 0
      let lastYield = performance.now()
      for (let step = 0; step < steps; step++) {
        const indices = this.nextBatch(data, batchSize)
        const [x, y] = tf.tidy(() => this.toTensors(data, indices))
        try {
          const loss = await this.model.trainOnBatch(x, y)
          lossSum += typeof loss === 'number' ? loss : (loss[0] ?? NaN)
        } finally {
          tf.dispose([x, y])
        }
        samples += indices.length
        this.assertUsable()
        if (performance.now() - lastYield >= this.yieldEveryMs) {
          await yieldToEventLoop()
          this.assertUsable()
          lastYield = performance.now()
        }
      }
      return { loss: lossSum / steps, samples }
    } finally {
      this.busy = false
    }
  }

  /** Mean loss and accuracy over all of `data`, in batches so memory stays bounded. */
  async evaluate (data: Dataset, options: { batchSize?: number } = {}): Promise<EvaluateResult> {
    this.assertUsable()
    this.check(data)
    if (data.count === 0) throw new InvalidDatasetError('cannot evaluate on an empty data set')
    const batchSize = Math.max(1, options.batchSize ?? 256)
    let lossSum = 0
    let correct = 0
    for (let start = 0; start < data.count; start += batchSize) {
      const indices = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i)
      const [loss, hits] = tf.tidy(() => {
        const [x, y] = this.toTensors(data, indices)
        const predicted = this.model.predict(x) as tf.Tensor
        const labels = tf.tensor1d(Int32Array.from(indices, i => data.labels[i] as number), 'int32')
        // evaluate() applies the compiled loss (whatever its name) and returns the batch mean.
        const meanLoss = this.model.evaluate(x, y, { batchSize: indices.length }) as tf.Scalar
        return [tf.mul(meanLoss, indices.length), tf.sum(tf.cast(tf.equal(tf.argMax(predicted, -1), labels), 'int32'))]
      })
      try {
        const [l, h] = await Promise.all([loss.data(), hits.data()])
        lossSum += l[0] ?? NaN
        correct += h[0] ?? 0
      } finally {
        tf.dispose([loss, hits])
      }
      this.assertUsable()
      await yieldToEventLoop()
    }
    return { loss: lossSum / data.count, accuracy: correct / data.count }
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

  private check (data: Dataset): void {
    if (this.checked.has(data)) return
    checkDataset(data)
    if (product(data.inputShape) !== product(this.featureShape)) {
      throw new InvalidDatasetError(`samples of shape [${data.inputShape.join(', ')}] do not fit model input [${this.featureShape.join(', ')}]`)
    }
    if (data.numClasses > this.outputClasses) {
      throw new InvalidDatasetError(`data set has ${data.numClasses} classes, the model outputs ${this.outputClasses}`)
    }
    this.checked.add(data)
  }

  /** The next `size` indices of a shuffled pass over `data`, reshuffling at the end of each pass. */
  private nextBatch (data: Dataset, size: number): Uint32Array {
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

  /** Inputs and targets for the given samples; call inside tf.tidy. */
  private toTensors (data: Dataset, indices: ArrayLike<number>): [tf.Tensor, tf.Tensor] {
    const f = product(this.featureShape)
    // A fresh buffer each time: the cpu backend adopts the array it is given.
    const features = new Float32Array(indices.length * f)
    const labels = new Int32Array(indices.length)
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i] as number
      features.set(data.images.subarray(j * f, (j + 1) * f), i * f)
      labels[i] = data.labels[j] as number
    }
    const x = tf.tensor(features, [indices.length, ...this.featureShape])
    const y = this.sparseTargets
      ? tf.tensor2d(Float32Array.from(labels), [indices.length, 1])
      : tf.oneHot(tf.tensor1d(labels, 'int32'), this.outputClasses).toFloat()
    return [x, y]
  }
}
