/**
 * Saving and loading tfjs models as files in Node. Pure @tensorflow/tfjs has no file system
 * handler (`model.save('file://…')` throws "Cannot find any save handlers"; tfjs-node, which
 * has one, cannot be installed here), so this is that handler: a folder with `model.json`
 * (topology and weights manifest) and `weights.bin`, the layout tfjs-node and the tfjs
 * converter write and `tf.loadLayersModel` reads.
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as tf from '@tensorflow/tfjs'
import { DatasetNotFoundError } from './errors.js'

const MODEL_FILE = 'model.json'
const WEIGHTS_FILE = 'weights.bin'
const SCHEME = 'file://'

/** Write a file whole or not at all: into a temporary file beside it, then renamed over it. */
async function writeAtomically (path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(temp, data)
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
}

/** model.json's path for a load: the path itself, or model.json inside it when it is a folder. */
async function modelJsonPath (path: string): Promise<string> {
  try {
    return (await stat(path)).isDirectory() ? join(path, MODEL_FILE) : path
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new DatasetNotFoundError(`no model at ${path}`, { cause: err })
    throw err
  }
}

function asBytes (data: tf.io.WeightData | undefined): Uint8Array {
  if (data == null) return new Uint8Array(0)
  return new Uint8Array(Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data)
}

/**
 * A tfjs IO handler for a folder on disk. `save` writes `<path>/model.json` and
 * `<path>/weights.bin` (creating the folder; each file replaced atomically, weights first,
 * so a crash never leaves a model.json pointing at missing weights); `load` reads
 * `<path>/model.json`, or `path` itself when it names the JSON file, and the weight files
 * its manifest lists.
 */
export function fileSystem (path: string): tf.io.IOHandler {
  const folder = resolve(path)
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('fileSystem saves layers models (JSON topology), not a binary graph')
      await mkdir(folder, { recursive: true })
      const weights = asBytes(artifacts.weightData)
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }]
      const json: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightsManifest: manifest,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        ...(artifacts.trainingConfig != null ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature != null ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata != null ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
        ...(artifacts.modelInitializer != null ? { modelInitializer: artifacts.modelInitializer } : {})
      }
      await writeAtomically(join(folder, WEIGHTS_FILE), weights)
      await writeAtomically(join(folder, MODEL_FILE), JSON.stringify(json))
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: Buffer.byteLength(JSON.stringify(artifacts.modelTopology), 'utf8'),
          weightSpecsBytes: Buffer.byteLength(JSON.stringify(artifacts.weightSpecs ?? []), 'utf8'),
          weightDataBytes: weights.byteLength
        }
      }
    },
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = await modelJsonPath(folder)
      let json: tf.io.ModelJSON
      try {
        json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON
      } catch (err) {
        throw new Error(`${jsonPath} is not a tfjs model.json: ${(err as Error).message}`, { cause: err })
      }
      if (json.modelTopology == null) throw new Error(`${jsonPath} holds no modelTopology`)
      return await tf.io.getModelArtifactsForJSON(json, async manifest => {
        const specs: tf.io.WeightsManifestEntry[] = []
        const buffers: ArrayBuffer[] = []
        for (const group of manifest) {
          specs.push(...group.weights)
          for (const file of group.paths) {
            const bytes = await readFile(join(dirname(jsonPath), file))
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(buffers)]
      })
    }
  }
}

/** The handler for a `file://` URL, or null for anything else, as tfjs's routers expect. */
function route (url: string | string[]): tf.io.IOHandler | null {
  if (typeof url !== 'string' || !url.startsWith(SCHEME)) return null
  return fileSystem(url.slice(SCHEME.length))
}

// tfjs's routers return null for URLs they do not handle (its own do), which its type leaves out.
const router = route as Parameters<typeof tf.io.registerSaveRouter>[0]

let registered = false

/**
 * Let `model.save('file://dir')` and `tf.loadLayersModel('file://dir/model.json')` use
 * `fileSystem`. Idempotent: a second call changes nothing.
 */
export function registerFileSystemRouter (): void {
  if (registered) return
  registered = true
  tf.io.registerSaveRouter(router)
  tf.io.registerLoadRouter(router)
}
