/**
 * Seeded initial weights. tfjs's initialisers draw from Math.random, so two builds of one
 * config differ and a seed means nothing; here every weight a layer initialises at random
 * is re-drawn on the JS side from a stream of (seed, weight name), following the layer's
 * configured initialiser, so one seed gives the same model on every backend and platform.
 */
import * as tf from '@tensorflow/tfjs'
import { deriveSeed, mulberry32, normal } from './random.js'
import type { Rng } from './random.js'

/** Activations whose kernels start from He (Kaiming) uniform when configured with Glorot, tfjs's default. */
const RELU_LIKE = new Set(['relu', 'relu6', 'elu', 'leakyRelu', 'leaky_relu'])

/** Initialisers that are constants: the same on every peer without a seed. */
const CONSTANT = new Set(['Zeros', 'Ones', 'Constant', 'Identity'])

/** The layer-config key of each weight's initialiser, where it is not `<name>Initializer`. */
const INITIALIZER_KEY: Record<string, string> = {
  recurrent_kernel: 'recurrentInitializer',
  depthwise_kernel: 'depthwiseInitializer',
  pointwise_kernel: 'pointwiseInitializer',
  moving_mean: 'movingMeanInitializer',
  moving_variance: 'movingVarianceInitializer'
}

interface InitializerSpec {
  className: string
  config: Record<string, unknown>
}

type Draw = (rng: Rng, shape: number[]) => Float32Array

function size (shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

function fans (shape: number[]): [number, number] {
  if (shape.length < 2) return [shape[0] ?? 1, shape[0] ?? 1]
  // Keras convention: conv kernels are [...spatial, in, out]; the spatial size scales both fans.
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1)
  return [(shape[shape.length - 2] as number) * receptive, (shape[shape.length - 1] as number) * receptive]
}

function uniform (low: number, high: number): Draw {
  return (rng, shape) => Float32Array.from({ length: size(shape) }, () => low + (high - low) * rng())
}

function gaussian (mean: number, stddev: number, truncated: boolean): Draw {
  return (rng, shape) => Float32Array.from({ length: size(shape) }, () => {
    // Truncated: redraw anything beyond two standard deviations, as tf.truncatedNormal does.
    for (;;) {
      const z = normal(rng)
      if (!truncated || Math.abs(z) <= 2) return mean + stddev * z
    }
  })
}

/**
 * tfjs's VarianceScaling, which Glorot, He and LeCun are settings of: 'uniform' within
 * ±sqrt(3·scale/n), 'normal' a normal of stddev sqrt(scale/n) truncated at two stddevs, as
 * tfjs draws them.
 */
function varianceScaling (scale: number, mode: string, distribution: string): Draw {
  return (rng, shape) => {
    const [fanIn, fanOut] = fans(shape)
    const n = mode === 'fanIn' ? fanIn : mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2
    const variance = scale / Math.max(1, n)
    if (distribution === 'uniform') {
      const limit = Math.sqrt(3 * variance)
      return uniform(-limit, limit)(rng, shape)
    }
    return gaussian(0, Math.sqrt(variance), true)(rng, shape)
  }
}

/** Orthonormal rows (or columns, whichever are fewer) by Gram–Schmidt on a seeded normal matrix. */
function orthogonal (gain: number): Draw {
  return (rng, shape) => {
    const rows = size(shape.slice(0, -1))
    const cols = shape[shape.length - 1] ?? 1
    const n = Math.min(rows, cols)
    const m = Math.max(rows, cols)
    const vectors: Float64Array[] = []
    while (vectors.length < n) {
      const v = Float64Array.from({ length: m }, () => normal(rng))
      for (const u of vectors) {
        let dot = 0
        for (let i = 0; i < m; i++) dot += (v[i] as number) * (u[i] as number)
        for (let i = 0; i < m; i++) v[i] = (v[i] as number) - dot * (u[i] as number)
      }
      let norm = 0
      for (const x of v) norm += x * x
      norm = Math.sqrt(norm)
      // A draw that falls (numerically) in the span of the others is drawn again.
      if (norm < 1e-6) continue
      vectors.push(v.map(x => x / norm))
    }
    const out = new Float32Array(rows * cols)
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        out[r * cols + c] = gain * (rows <= cols ? (vectors[r] as Float64Array)[c] as number : (vectors[c] as Float64Array)[r] as number)
      }
    }
    return out
  }
}

function num (value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback
}

/** The seeded draw for an initialiser spec; undefined for constants and unknown classes. */
function drawFor (spec: InitializerSpec): Draw | undefined {
  const c = spec.config
  switch (spec.className) {
    case 'GlorotUniform': return varianceScaling(1, 'fanAvg', 'uniform')
    case 'GlorotNormal': return varianceScaling(1, 'fanAvg', 'normal')
    case 'HeUniform': return varianceScaling(2, 'fanIn', 'uniform')
    case 'HeNormal': return varianceScaling(2, 'fanIn', 'normal')
    case 'LeCunUniform': return varianceScaling(1, 'fanIn', 'uniform')
    case 'LeCunNormal': return varianceScaling(1, 'fanIn', 'normal')
    case 'VarianceScaling': return varianceScaling(num(c.scale, 1), String(c.mode ?? 'fanIn'), String(c.distribution ?? 'normal'))
    case 'RandomUniform': return uniform(num(c.minval, -0.05), num(c.maxval, 0.05))
    case 'RandomNormal': return gaussian(num(c.mean, 0), num(c.stddev, 0.05), false)
    case 'TruncatedNormal': return gaussian(num(c.mean, 0), num(c.stddev, 0.05), true)
    case 'Orthogonal': return orthogonal(num(c.gain, 1))
    default: return undefined
  }
}

/** Glorot in any spelling: tfjs serialises glorotNormal and glorotUniform as VarianceScaling. */
function isGlorot (spec: InitializerSpec): boolean {
  if (spec.className === 'GlorotUniform' || spec.className === 'GlorotNormal') return true
  return spec.className === 'VarianceScaling' && num(spec.config.scale, 1) === 1 && spec.config.mode === 'fanAvg'
}

function isSpec (value: unknown): value is InitializerSpec {
  return typeof value === 'object' && value !== null && typeof (value as InitializerSpec).className === 'string'
}

/** A layer's initialiser for one of its weights, searching wrapped layers' configs too. */
function initializerOf (config: Record<string, unknown>, key: string): InitializerSpec | undefined {
  const own = config[key]
  if (isSpec(own)) return own
  // Wrappers (TimeDistributed, Bidirectional) keep the wrapped layer's config under `layer`.
  const inner = config.layer
  if (typeof inner === 'object' && inner !== null) {
    const innerConfig = (inner as { config?: unknown }).config
    if (typeof innerConfig === 'object' && innerConfig !== null) return initializerOf(innerConfig as Record<string, unknown>, key)
  }
  return undefined
}

/** Every non-model layer, looking inside nested models. */
export function collectLayers (model: tf.LayersModel, out: tf.layers.Layer[] = []): tf.layers.Layer[] {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) collectLayers(layer, out)
    else out.push(layer)
  }
  return out
}

/** Whether a weight's current values are all equal, the mark of a constant initialiser. */
function isConstant (w: tf.LayerVariable): boolean {
  const values = w.read().dataSync()
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return false
  return true
}

/**
 * Re-draw every randomly initialised weight from the seed, following each layer's configured
 * initialiser (Glorot, He, LeCun, variance scaling, uniform, normal, truncated normal,
 * orthogonal): kernels, recurrent kernels, embeddings, and any other weight a layer starts at
 * random. Constant initialisers (biases, LayerNormalization's gamma and beta) are left as
 * they are: already the same everywhere. Kernels of relu-like layers configured with Glorot
 * (tfjs's default, which its JSON cannot tell from a deliberate choice) start from He
 * uniform instead, which keeps deep relu stacks from fading out. A
 * weight whose initialiser is unknown (a custom class) but holds random values is drawn
 * Glorot uniform. Each weight's stream comes from (seed, weight name).
 */
export function seedWeights (model: tf.LayersModel, seed: number): void {
  tf.tidy(() => {
    for (const layer of collectLayers(model)) {
      const config = layer.getConfig() as Record<string, unknown>
      const activation = config.activation
      for (const w of layer.weights) {
        const name = w.originalName
        const local = name.slice(name.lastIndexOf('/') + 1)
        const key = INITIALIZER_KEY[local] ?? `${local.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())}Initializer`
        const spec = initializerOf(config, key)
        if (spec != null && CONSTANT.has(spec.className)) continue
        let draw = spec == null ? undefined : drawFor(spec)
        if (spec != null && isGlorot(spec) && local === 'kernel' && typeof activation === 'string' && RELU_LIKE.has(activation)) {
          draw = varianceScaling(2, 'fanIn', 'uniform')
        }
        if (draw == null) {
          // No initialiser we know: seed it if it was drawn at random, keep it if it is a constant.
          if (isConstant(w)) continue
          draw = varianceScaling(1, 'fanAvg', 'uniform')
        }
        const shape = w.shape.map(d => d ?? 1)
        w.write(tf.tensor(draw(mulberry32(deriveSeed(seed, name)), shape), shape))
      }
    }
  })
}
