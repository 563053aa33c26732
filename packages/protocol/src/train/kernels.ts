/**
 * Gradient kernels some tfjs backends lack. tfjs-backend-wasm 4.22 has no
 * Conv2DBackpropFilter, so a CNN cannot train on WASM, the backend GPU-less browsers and
 * every Node peer measure fastest; nor UnsortedSegmentSum, the gradient of Gather, so an
 * Embedding layer cannot train there either; nor the two gradients of a depthwise
 * convolution (DepthwiseConv2D, SeparableConv2D). The kernels below are the cpu backend's
 * algorithms over the backend's own buffers, registered only where a kernel is missing.
 */
import * as tf from '@tensorflow/tfjs'
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs'

/** What the kernel needs of a backend: both are part of tfjs's KernelBackend contract. */
interface BufferBackend {
  readSync: (dataId: TensorInfo['dataId']) => unknown
  write: (values: Float32Array | Int32Array, shape: number[], dtype: 'float32' | 'int32') => TensorInfo['dataId']
}

type Pad = Parameters<typeof tf.backend_util.computeConv2DInfo>[4]

function conv2DBackpropFilter ({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const b = backend as BufferBackend
  const x = inputs.x as TensorInfo
  const dy = inputs.dy as TensorInfo
  const a = attrs as { strides: number | [number, number], pad: Pad, dataFormat: 'NHWC' | 'NCHW', dimRoundingMode?: 'floor' | 'round' | 'ceil', filterShape: [number, number, number, number] }
  const format = tf.backend_util.convertConv2DDataFormat(a.dataFormat)
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, format)
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const xs = b.readSync(x.dataId) as Float32Array
  const dys = b.readSync(dy.dataId) as Float32Array
  const last = format === 'channelsLast'
  // Strides of x and dy in [batch, row, col, channel] order, whatever the layout in memory.
  const xStride = last
    ? [inHeight * inWidth * inChannels, inWidth * inChannels, inChannels, 1]
    : [inChannels * inHeight * inWidth, inWidth, 1, inHeight * inWidth]
  const dyStride = last
    ? [outHeight * outWidth * outChannels, outWidth * outChannels, outChannels, 1]
    : [outChannels * outHeight * outWidth, outWidth, 1, outHeight * outWidth]
  const [xb, xr, xc, xd] = xStride as [number, number, number, number]
  const [yb, yr, yc, yd] = dyStride as [number, number, number, number]
  const dW = new Float32Array(filterHeight * filterWidth * inChannels * outChannels)
  const acc = new Float64Array(inChannels * outChannels)
  for (let wR = 0; wR < filterHeight; wR++) {
    const yRMin = Math.max(0, Math.ceil((top - wR) / strideHeight))
    const yRMax = Math.min(outHeight, (inHeight + top - wR) / strideHeight)
    for (let wC = 0; wC < filterWidth; wC++) {
      const yCMin = Math.max(0, Math.ceil((left - wC) / strideWidth))
      const yCMax = Math.min(outWidth, (inWidth + left - wC) / strideWidth)
      acc.fill(0)
      for (let n = 0; n < batchSize; n++) {
        for (let yR = yRMin; yR < yRMax; yR++) {
          const xRow = n * xb + (wR + yR * strideHeight - top) * xr
          const yRow = n * yb + yR * yr
          for (let yC = yCMin; yC < yCMax; yC++) {
            const xBase = xRow + (wC + yC * strideWidth - left) * xc
            const yBase = yRow + yC * yc
            for (let d1 = 0; d1 < inChannels; d1++) {
              const xv = xs[xBase + d1 * xd] as number
              if (xv === 0) continue
              const row = d1 * outChannels
              for (let d2 = 0; d2 < outChannels; d2++) acc[row + d2] = (acc[row + d2] as number) + xv * (dys[yBase + d2 * yd] as number)
            }
          }
        }
      }
      dW.set(acc, (wR * filterWidth + wC) * inChannels * outChannels)
    }
  }
  const shape = [filterHeight, filterWidth, inChannels, outChannels]
  return { dataId: b.write(dW, shape, 'float32'), shape, dtype: 'float32' }
}

/** Sum the rows of x into `numSegments` rows, row i into row segmentIds[i]; ids outside the range are dropped, as in tfjs. */
function unsortedSegmentSum ({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const b = backend as BufferBackend
  const x = inputs.x as TensorInfo
  const ids = inputs.segmentIds as TensorInfo
  const numSegments = (attrs as { numSegments: number }).numSegments
  const values = b.readSync(x.dataId) as Float32Array | Int32Array
  const segments = b.readSync(ids.dataId) as ArrayLike<number>
  const rows = segments.length
  const width = rows === 0 ? 0 : values.length / rows
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * width) : new Float32Array(numSegments * width)
  for (let i = 0; i < rows; i++) {
    const s = segments[i] as number
    if (s < 0 || s >= numSegments) continue
    for (let j = 0; j < width; j++) out[s * width + j] = (out[s * width + j] as number) + (values[i * width + j] as number)
  }
  const shape = [numSegments, ...x.shape.slice(ids.shape.length)]
  const dtype = x.dtype === 'int32' ? 'int32' : 'float32'
  return { dataId: b.write(out, shape, dtype), shape, dtype }
}

type DepthwiseAttrs = { strides: number | [number, number], dilations: number | [number, number], pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil' }

/** The gradient of a depthwise convolution with respect to its filter (NHWC, as tfjs's depthwise ops are). */
function depthwiseBackpropFilter ({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const b = backend as BufferBackend
  const x = inputs.x as TensorInfo
  const dy = inputs.dy as TensorInfo
  const a = attrs as DepthwiseAttrs & { filterShape: [number, number, number, number] }
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, a.dilations, a.pad, a.dimRoundingMode, true)
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const chMul = outChannels / inChannels
  const xs = b.readSync(x.dataId) as Float32Array
  const dys = b.readSync(dy.dataId) as Float32Array
  const dW = new Float32Array(filterHeight * filterWidth * outChannels)
  for (let wR = 0; wR < filterHeight; wR++) {
    const yRMin = Math.max(0, Math.ceil((top - wR) / strideHeight))
    const yRMax = Math.min(outHeight, (inHeight + top - wR) / strideHeight)
    for (let wC = 0; wC < filterWidth; wC++) {
      const yCMin = Math.max(0, Math.ceil((left - wC) / strideWidth))
      const yCMax = Math.min(outWidth, (inWidth + left - wC) / strideWidth)
      for (let d2 = 0; d2 < outChannels; d2++) {
        const d1 = Math.trunc(d2 / chMul)
        let dot = 0
        for (let n = 0; n < batchSize; n++) {
          for (let yR = yRMin; yR < yRMax; yR++) {
            const xR = wR + yR * strideHeight - top
            for (let yC = yCMin; yC < yCMax; yC++) {
              const xC = wC + yC * strideWidth - left
              dot += (xs[((n * inHeight + xR) * inWidth + xC) * inChannels + d1] as number) * (dys[((n * outHeight + yR) * outWidth + yC) * outChannels + d2] as number)
            }
          }
        }
        // Filter layout [height, width, inChannels, multiplier]: d2 = d1 · chMul + dm.
        dW[(wR * filterWidth + wC) * outChannels + d2] = dot
      }
    }
  }
  const shape = [filterHeight, filterWidth, inChannels, chMul]
  return { dataId: b.write(dW, shape, 'float32'), shape, dtype: 'float32' }
}

/** The gradient of a depthwise convolution with respect to its input (NHWC). */
function depthwiseBackpropInput ({ inputs, backend, attrs }: Parameters<KernelConfig['kernelFunc']>[0]): TensorInfo {
  const b = backend as BufferBackend
  const dy = inputs.dy as TensorInfo
  const filter = inputs.filter as TensorInfo
  const a = attrs as DepthwiseAttrs & { inputShape: [number, number, number, number] }
  const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as [number, number, number, number], a.strides, a.dilations, a.pad, a.dimRoundingMode, true)
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = filterHeight - 1 - info.padInfo.top
  const left = filterWidth - 1 - info.padInfo.left
  const chMul = outChannels / inChannels
  const dys = b.readSync(dy.dataId) as Float32Array
  const w = b.readSync(filter.dataId) as Float32Array
  const dx = new Float32Array(batchSize * inHeight * inWidth * inChannels)
  for (let n = 0; n < batchSize; n++) {
    for (let d1 = 0; d1 < inChannels; d1++) {
      for (let xR = 0; xR < inHeight; xR++) {
        const rCorner = xR - top
        const yRMin = Math.max(0, Math.ceil(rCorner / strideHeight))
        const yRMax = Math.min(outHeight, (filterHeight + rCorner) / strideHeight)
        for (let xC = 0; xC < inWidth; xC++) {
          const cCorner = xC - left
          const yCMin = Math.max(0, Math.ceil(cCorner / strideWidth))
          const yCMax = Math.min(outWidth, (filterWidth + cCorner) / strideWidth)
          let dot = 0
          for (let yR = yRMin; yR < yRMax; yR++) {
            const wR = yR * strideHeight - rCorner
            for (let yC = yCMin; yC < yCMax; yC++) {
              const wC = yC * strideWidth - cCorner
              const dyBase = ((n * outHeight + yR) * outWidth + yC) * outChannels
              const wBase = (((filterHeight - 1 - wR) * filterWidth + (filterWidth - 1 - wC)) * inChannels + d1) * chMul
              for (let dm = 0; dm < chMul; dm++) dot += (dys[dyBase + d1 * chMul + dm] as number) * (w[wBase + dm] as number)
            }
          }
          dx[((n * inHeight + xR) * inWidth + xC) * inChannels + d1] = dot
        }
      }
    }
  }
  const shape = [batchSize, inHeight, inWidth, inChannels]
  return { dataId: b.write(dx, shape, 'float32'), shape, dtype: 'float32' }
}

/** Kernels known to be missing on some backends, and those backends. */
const PATCHES: Array<{ kernelName: string, kernelFunc: KernelConfig['kernelFunc'], backends: string[] }> = [
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter as KernelConfig['kernelFunc'], backends: ['wasm'] },
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSum as KernelConfig['kernelFunc'], backends: ['wasm'] },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', kernelFunc: depthwiseBackpropFilter as KernelConfig['kernelFunc'], backends: ['wasm'] },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', kernelFunc: depthwiseBackpropInput as KernelConfig['kernelFunc'], backends: ['wasm'] }
]

/** Register the missing gradient kernels; idempotent, and a no-op where a backend has its own. */
export function registerTrainingKernels (): void {
  for (const { kernelName, kernelFunc, backends } of PATCHES) {
    for (const backendName of backends) {
      if (tf.getKernel(kernelName, backendName) == null) tf.registerKernel({ kernelName, backendName, kernelFunc })
    }
  }
}
