import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { Trainer } from '@murmur/protocol'
import type { ModelConfig } from '@murmur/protocol'
import { fileSystem, registerFileSystemRouter, DatasetNotFoundError } from '../src/data/index.js'

let dir: string

beforeAll(async () => {
  await tf.setBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'murmur-model-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const config: ModelConfig = {
  architecture: {
    class_name: 'Sequential',
    config: {
      name: 'saved',
      layers: [
        { class_name: 'Dense', config: { name: 'h', units: 6, activation: 'relu', batch_input_shape: [null, 3] } },
        { class_name: 'LayerNormalization', config: { name: 'ln' } },
        { class_name: 'Dense', config: { name: 'out', units: 2, activation: 'softmax' } }
      ]
    }
  },
  optimizer: { name: 'adam', learningRate: 0.05 },
  batchSize: 8,
  localSteps: 5,
  loss: 'sparseCategoricalCrossentropy'
}

const data = {
  xs: Float32Array.from({ length: 3 * 40 }, (_, i) => Math.sin(i * 1.7)),
  ys: Int32Array.from({ length: 40 }, (_, i) => Math.sin(i * 5.1) > 0 ? 1 : 0),
  count: 40,
  inputShape: [3],
  targetShape: []
}

describe('file:// models in Node', () => {
  it('saves a trained model as model.json + weights.bin and loads it back predicting the same', async () => {
    const trainer = await Trainer.create(config, { seed: 1 })
    await trainer.trainSteps(data, 20)
    const model = trainer.exportModel()
    trainer.dispose()
    const x = tf.tensor2d(data.xs.subarray(0, 15), [5, 3])
    try {
      const folder = join(dir, 'trained')
      // Pure tfjs has no file:// handler: this works only through the router, registered once however often asked.
      await expect(model.save(`file://${folder}`)).rejects.toThrow(/Cannot find any save handlers/)
      registerFileSystemRouter()
      registerFileSystemRouter()
      expect(tf.io.getSaveHandlers(`file://${folder}`)).toHaveLength(1)
      expect(tf.io.getLoadHandlers(`file://${folder}`)).toHaveLength(1)
      const result = await model.save(`file://${folder}`)
      expect(result.modelArtifactsInfo.weightDataBytes).toBe(4 * (3 * 6 + 6 + 6 + 6 + 6 * 2 + 2))
      expect((await readdir(folder)).sort()).toEqual(['model.json', 'weights.bin'])
      const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON
      expect(json.weightsManifest[0]?.paths).toEqual(['./weights.bin'])
      expect(json.weightsManifest[0]?.weights.map(w => w.name)).toEqual(['h/kernel', 'h/bias', 'ln/gamma', 'ln/beta', 'out/kernel', 'out/bias'])
      const loaded = await tf.loadLayersModel(`file://${join(folder, 'model.json')}`)
      const fromFolder = await tf.loadLayersModel(fileSystem(folder))
      try {
        const expected = (model.predict(x) as tf.Tensor).dataSync()
        expect((loaded.predict(x) as tf.Tensor).dataSync()).toEqual(expected)
        expect((fromFolder.predict(x) as tf.Tensor).dataSync()).toEqual(expected)
        // Saving again replaces both files whole; nothing temporary is left behind.
        await loaded.save(fileSystem(folder))
        expect((await readdir(folder)).sort()).toEqual(['model.json', 'weights.bin'])
      } finally {
        loaded.dispose()
        fromFolder.dispose()
      }
    } finally {
      model.dispose()
      x.dispose()
    }
  })

  it('a trainer started from a loaded model trains on from its weights', async () => {
    const trainer = await Trainer.create(config, { seed: 2 })
    const model = trainer.exportModel()
    const folder = join(dir, 'pretrained')
    await model.save(fileSystem(folder))
    model.dispose()
    const loaded = await tf.loadLayersModel(fileSystem(folder))
    try {
      const { architecture: _, ...hyper } = config
      const again = await Trainer.fromModel(loaded, hyper)
      try {
        expect(again.getSnapshot()).toEqual(trainer.getSnapshot())
      } finally {
        again.dispose()
      }
    } finally {
      loaded.dispose()
      trainer.dispose()
    }
  })

  it('says what is missing or broken', async () => {
    await expect(tf.loadLayersModel(fileSystem(join(dir, 'nothing')))).rejects.toThrow(DatasetNotFoundError)
    const broken = join(dir, 'broken')
    await rm(broken, { recursive: true, force: true })
    await fileSystem(broken).save?.({ modelTopology: {}, weightSpecs: [], weightData: new ArrayBuffer(0) })
    await writeFile(join(broken, 'model.json'), '{ not json')
    await expect(tf.loadLayersModel(fileSystem(broken))).rejects.toThrow(/model.json is not a tfjs model.json/)
  })
})
