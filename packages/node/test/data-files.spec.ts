import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { checkDataset, Trainer } from '@murmur/protocol'
import type { ModelConfig } from '@murmur/protocol'
import { loadCsv, loadJsonLines, loadTextWindows, DatasetNotFoundError, InvalidDataFileError } from '../src/data/index.js'

let dir: string

beforeAll(async () => {
  await tf.setBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'murmur-data-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function file (name: string, text: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, text)
  return path
}

describe('loadCsv', () => {
  it('reads numeric features and a class column by name: sorted class names, Int32 indices', async () => {
    const path = await file('iris.csv', 'sepal,petal,"species"\r\n5.1,1.4,setosa\r\n6.3,"4.9",virginica\r\n5.8,4.0,versicolor\r\n4.9,1.5,setosa\r\n')
    const { dataset, classNames, features, target } = await loadCsv(path, { target: 'species' })
    checkDataset(dataset)
    expect(classNames).toEqual(['setosa', 'versicolor', 'virginica'])
    expect(features).toEqual(['sepal', 'petal'])
    expect(target).toBe('species')
    expect(dataset.inputShape).toEqual([2])
    expect(dataset.targetShape).toEqual([])
    expect(dataset.ys).toBeInstanceOf(Int32Array)
    expect(Array.from(dataset.ys)).toEqual([0, 2, 1, 0])
    expect(Array.from(dataset.xs)).toEqual([5.1, 1.4, 6.3, 4.9, 5.8, 4.0, 4.9, 1.5].map(Math.fround))
    // A fixed class list keeps indices the same on a peer whose file lacks a class.
    const pinned = await loadCsv(path, { target: -1, classNames: ['virginica', 'versicolor', 'setosa', 'other'] })
    expect(Array.from(pinned.dataset.ys)).toEqual([2, 0, 1, 2])
    await expect(loadCsv(path, { target: 2, classNames: ['setosa'] })).rejects.toThrow(`${path}:3:3: class "virginica" is not one of the given classNames`)
  })

  it('reads a numeric target as regression values, by index and without a header; quoted fields hold commas and newlines', async () => {
    const path = await file('houses.csv', '3,"1,5",250.5\n2,0.5,120\n4,"2\n",300\n')
    await expect(loadCsv(path, { target: 2, header: false })).rejects.toThrow(`${path}:1:2: column "column 2" holds "1,5", not a number`)
    const plain = await file('plain.csv', 'rooms,age,price\n3,15,250.5\n2,40,120\n4,2,300\n')
    const { dataset, classNames } = await loadCsv(plain, { target: 'price' })
    expect(classNames).toBeUndefined()
    expect(dataset.ys).toBeInstanceOf(Float32Array)
    expect(Array.from(dataset.ys)).toEqual([250.5, 120, 300])
    const quoted = await file('quoted.csv', 'a,note,y\n1,"said ""hi"", then\nleft",0\n2,plain,1\n')
    await expect(loadCsv(quoted, { target: 'y' })).rejects.toThrow(`${quoted}:2:2: column "note" holds "said \\"hi\\", then\\nleft", not a number`)
    const noHeader = await loadCsv(plain, { target: 0, header: false, classes: false }).catch((e: unknown) => e)
    expect(noHeader).toBeInstanceOf(InvalidDataFileError)
    expect((noHeader as InvalidDataFileError).line).toBe(1)
  })

  it('names the file, line and column of whatever is wrong', async () => {
    const path = await file('bad.csv', 'x1,x2,label\n1,2,a\n3,,b\n')
    const err = await loadCsv(path, { target: 'label' }).catch((e: unknown) => e) as InvalidDataFileError
    expect(err).toBeInstanceOf(InvalidDataFileError)
    expect([err.file, err.line, err.column]).toEqual([path, 3, 2])
    expect(err.message).toBe(`${path}:3:2: column "x2" holds "", not a number; feature columns must be numeric`)
    const ragged = await file('ragged.csv', 'x1,x2,label\n1,2,a\n3,4\n')
    await expect(loadCsv(ragged, { target: 'label' })).rejects.toThrow(`${ragged}:3: 2 fields, the header has 3`)
    await expect(loadCsv(path, { target: 'colour' })).rejects.toThrow(/no column is named "colour"; the header names "x1", "x2", "label"/)
    const named = await file('named.csv', 'x1,x2,label\n1,2,0\n3,4,b\n')
    await expect(loadCsv(named, { target: 'label', classes: false })).rejects.toThrow(`${named}:3:3: target column "label" holds "b", not a number (classes is false)`)
    const open = await file('open.csv', 'a,b\n1,"2\n')
    await expect(loadCsv(open, { target: 'b' })).rejects.toThrow(`${open}:2:3: a quoted field is never closed`)
    await expect(loadCsv(join(dir, 'missing.csv'), { target: 0 })).rejects.toThrow(DatasetNotFoundError)
  })

  it('feeds the trainer: a class column trains a softmax classifier', async () => {
    const rows = ['f1,f2,kind']
    for (let i = 0; i < 90; i++) rows.push(`${(i % 3) + 0.1 * ((i * 7) % 5)},${2 - (i % 3)},${['low', 'mid', 'high'][i % 3] as string}`)
    const { dataset, classNames } = await loadCsv(await file('kinds.csv', rows.join('\n')), { target: 'kind' })
    expect(classNames).toEqual(['high', 'low', 'mid'])
    const config: ModelConfig = {
      architecture: { class_name: 'Sequential', config: { name: 'csv', layers: [{ class_name: 'Dense', config: { name: 'out', units: 3, activation: 'softmax', batch_input_shape: [null, 2] } }] } },
      optimizer: { name: 'adam', learningRate: 0.1 },
      batchSize: 16,
      localSteps: 10,
      loss: 'sparseCategoricalCrossentropy'
    }
    const trainer = await Trainer.create(config, { seed: 1 })
    try {
      await trainer.trainSteps(dataset, 100)
      expect((await trainer.evaluate(dataset)).metrics.accuracy).toBeGreaterThan(0.95)
    } finally {
      trainer.dispose()
    }
  })
})

describe('loadJsonLines', () => {
  it('reads array samples with numeric, array or class-name targets; dotted fields reach into objects', async () => {
    const path = await file('points.jsonl', '{"input":{"v":[1,2]},"label":"cat"}\n\n{"input":{"v":[3,4]},"label":"dog"}\r\n{"input":{"v":[5,6]},"label":"cat"}\n')
    const { dataset, classNames } = await loadJsonLines(path, { x: 'input.v', y: 'label' })
    checkDataset(dataset)
    expect(classNames).toEqual(['cat', 'dog'])
    expect(Array.from(dataset.ys)).toEqual([0, 1, 0])
    expect(Array.from(dataset.xs)).toEqual([1, 2, 3, 4, 5, 6])
    expect(dataset.inputShape).toEqual([2])
    const grids = await file('grids.jsonl', '{"x":[[1,2],[3,4]],"y":[0.5,1]}\n{"x":[[5,6],[7,8]],"y":[1.5,2]}\n')
    const two = await loadJsonLines(grids, { x: 'x', y: 'y' })
    expect(two.dataset.inputShape).toEqual([2, 2])
    expect(two.dataset.targetShape).toEqual([2])
    expect(Array.from(two.dataset.ys)).toEqual([0.5, 1, 1.5, 2])
    expect(two.classNames).toBeUndefined()
    const scalars = await loadJsonLines(await file('scalars.jsonl', '{"x":1,"y":2}\n{"x":3,"y":6}\n'), { x: 'x', y: 'y' })
    expect(scalars.dataset.inputShape).toEqual([1])
    expect(scalars.dataset.targetShape).toEqual([])
  })

  it('names the file, line and column of bad JSON, missing fields and shapes that change', async () => {
    const syntax = await file('syntax.jsonl', '{"x":[1],"y":0}\n{"x":[2] "y":1}\n')
    const err = await loadJsonLines(syntax, { x: 'x', y: 'y' }).catch((e: unknown) => e) as InvalidDataFileError
    expect(err).toBeInstanceOf(InvalidDataFileError)
    expect([err.line, err.column]).toEqual([2, 10])
    expect(err.message).toMatch(new RegExp(`^${syntax}:2:10: not JSON`))
    const missing = await file('missing.jsonl', '{"x":[1],"y":0}\n{"x":[2]}\n')
    await expect(loadJsonLines(missing, { x: 'x', y: 'y' })).rejects.toThrow(`${missing}:2: no field "y"`)
    const shape = await file('shape.jsonl', '{"x":[1,2],"y":0}\n{"y":1,"x":[2,3,4]}\n')
    await expect(loadJsonLines(shape, { x: 'x', y: 'y' })).rejects.toThrow(`${shape}:2:8: field "x": shape [3], the first sample's is [2]`)
    const text = await file('text.jsonl', '{"x":[1,"a"],"y":0}\n')
    await expect(loadJsonLines(text, { x: 'x', y: 'y' })).rejects.toThrow(`${text}:1:2: field "x": "a" is not a number or an array of numbers`)
    const mixed = await file('mixed.jsonl', '{"x":[1],"y":"a"}\n{"x":[1],"y":2}\n')
    await expect(loadJsonLines(mixed, { x: 'x', y: 'y' })).rejects.toThrow(`${mixed}:2:10: field "y": 2 is not a class name`)
  })
})

describe('loadTextWindows', () => {
  it('cuts a text into windows of ids and their next-character targets', async () => {
    const { dataset, vocab } = await loadTextWindows({ text: 'abcabcab' }, { window: 3 })
    expect(vocab).toEqual(['a', 'b', 'c'])
    checkDataset(dataset)
    expect(dataset.xs).toBeInstanceOf(Int32Array)
    expect(dataset.ys).toBeInstanceOf(Int32Array)
    expect(dataset.inputShape).toEqual([3])
    expect(dataset.targetShape).toEqual([3])
    // Non-overlapping windows by default: "abc"→"bca", "abc"→"bca" (8 characters hold two).
    expect(dataset.count).toBe(2)
    expect(Array.from(dataset.xs)).toEqual([0, 1, 2, 0, 1, 2])
    expect(Array.from(dataset.ys)).toEqual([1, 2, 0, 1, 2, 0])
    const every = await loadTextWindows({ text: 'abcabcab' }, { window: 3, stride: 1 })
    expect(every.dataset.count).toBe(5)
    expect(Array.from(every.dataset.xs.subarray(3, 6))).toEqual([1, 2, 0])
    expect(Array.from(every.dataset.ys.subarray(12, 15))).toEqual([2, 0, 1])
  })

  it('reads a file, keeps a given vocab, and names the line and column of a character outside it', async () => {
    const path = await file('poem.txt', 'ab\nba\nabc\n')
    const { dataset, vocab } = await loadTextWindows(path, { window: 4, vocab: ['\n', 'a', 'b', 'c', 'd'] })
    expect(vocab).toEqual(['\n', 'a', 'b', 'c', 'd'])
    expect(Array.from(dataset.xs.subarray(0, 4))).toEqual([1, 2, 0, 2])
    await expect(loadTextWindows(path, { window: 4, vocab: ['\n', 'a', 'b'] })).rejects.toThrow(`${path}:3:3: character "c" is not in the vocab`)
    await expect(loadTextWindows({ text: 'abc' }, { window: 3 })).rejects.toThrow(/3 characters cannot make one window of 3/)
    await expect(loadTextWindows({ text: 'abc' }, { window: 0 })).rejects.toThrow(/window must be a positive integer/)
  })
})
