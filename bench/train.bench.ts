/**
 * Training throughput per tfjs backend available in Node here (samples/s), and what one
 * gossip merge costs next to one local epoch: the merge must stay a small part of a round.
 *
 *   node dist/train.bench.js
 *   MURMUR_BENCH_STEPS=60 MURMUR_BENCH_EPOCH=3750 node dist/train.bench.js
 *
 * Every figure that is compared is measured in this one run, backends interleaved.
 */
import * as tf from '@tensorflow/tfjs'
import { Trainer, mnistMlp, mnistCnn, mergeModels, validateModel, createModelContent, rebuildSnapshot } from '@murmur/protocol'
import type { ModelConfig, ModelSnapshot, Dataset } from '@murmur/protocol'
import { loadMnist, initNodeBackend } from '@murmur/node'

const steps = Number(process.env.MURMUR_BENCH_STEPS ?? 60)
const epochSamples = Number(process.env.MURMUR_BENCH_EPOCH ?? 3750) // 60 000 images over 16 peers
const choice = await initNodeBackend()
const backends = ['wasm', 'cpu'].filter(b => choice.timings[b] != null || b === choice.backend)
const train = await loadMnist({ split: 'train', limit: epochSamples })
const test = await loadMnist({ split: 'test', limit: 1000 })

interface Row { backend: string, model: string, params: number, trainRate: number, evalRate: number, epochMs: number }

async function measure (backend: string, name: string, config: ModelConfig, data: Dataset): Promise<Row> {
  await tf.setBackend(backend)
  const trainer = await Trainer.create(config, { seed: 1, yieldEveryMs: 1_000_000 })
  try {
    await trainer.trainSteps(data, 3) // warm-up: kernels, weights upload
    let t0 = performance.now()
    const { samples } = await trainer.trainSteps(data, steps)
    const trainMs = performance.now() - t0
    t0 = performance.now()
    await trainer.evaluate(test)
    const evalMs = performance.now() - t0
    const params = trainer.getSnapshot().tensors.reduce((s, t) => s + t.data.length, 0)
    const trainRate = samples / trainMs * 1000
    return { backend, model: name, params, trainRate, evalRate: test.count / evalMs * 1000, epochMs: data.count / trainRate * 1000 }
  } finally {
    trainer.dispose()
  }
}

function best<T> (xs: T[], key: (x: T) => number): T {
  return xs.reduce((a, b) => key(b) < key(a) ? b : a)
}

/** One merge as a session does it: decode the neighbours' fetched models, validate, merge (k neighbours + self). */
async function timeMerge (own: ModelSnapshot, k: number, rule: 'variance-corrected' | 'plain'): Promise<{ mergeMs: number, decodeMs: number, encodeMs: number }> {
  const perturbed = (s: ModelSnapshot, j: number): ModelSnapshot => ({ ...s, tensors: s.tensors.map(t => ({ ...t, data: t.data.map((v, i) => v + 0.01 * Math.sin(i * (j + 1))) })) })
  const neighbours = Array.from({ length: k }, (_, j) => perturbed(own, j))
  const runs = 7
  const enc: number[] = []; const dec: number[] = []; const mer: number[] = []
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now()
    const contents = await Promise.all(neighbours.map(async n => await createModelContent(n, { encoding: 'fp16' })))
    enc.push((performance.now() - t0) / k)
    t0 = performance.now()
    const decoded = await Promise.all(contents.map(async c => {
      const blocks = new Map(c.shards.map(s => [s.cid.toString(), s.bytes]))
      return await rebuildSnapshot(c.manifest, async cid => blocks.get(cid.toString()) as Uint8Array)
    }))
    dec.push(performance.now() - t0)
    t0 = performance.now()
    for (const d of decoded) validateModel(d, own)
    mergeModels([own, ...decoded], { rule, weights: [1, ...decoded.map(() => 1)] })
    mer.push(performance.now() - t0)
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  return { mergeMs: med(mer), decodeMs: med(dec), encodeMs: med(enc) }
}

console.log(`backend chosen by probe: ${choice.backend} (${Object.entries(choice.timings).map(([b, ms]) => `${b} ${ms.toFixed(1)} ms`).join(', ')} per 256×256 matmul)`)
console.log(`${steps} steps of batch 32 per measurement, best of 3 interleaved passes; evaluation on ${test.count} images; epoch = ${epochSamples} images (60 000 over 16 peers)\n`)

const models: Array<[string, ModelConfig]> = [['MLP 784-128-10', mnistMlp()], ['CNN (2 conv + pool)', mnistCnn()]]
const rows: Row[] = []
for (const [name, config] of models) {
  const passes: Row[] = []
  for (let pass = 0; pass < 3; pass++) for (const b of backends) passes.push(await measure(b, name, config, train))
  for (const b of backends) rows.push(best(passes.filter(r => r.backend === b), r => -r.trainRate))
}

console.log('| model | params | backend | train samples/s | eval samples/s | × cpu (train) |')
console.log('|---|---:|---|---:|---:|---:|')
for (const r of rows) {
  const cpu = rows.find(x => x.model === r.model && x.backend === 'cpu')
  console.log(`| ${r.model} | ${r.params.toLocaleString('en')} | ${r.backend} | ${r.trainRate.toFixed(0)} | ${r.evalRate.toFixed(0)} | ${cpu == null ? '–' : (r.trainRate / cpu.trainRate).toFixed(1)} |`)
}

await tf.setBackend(choice.backend)
console.log(`\nOne merge (fp16 decode of k neighbours + validate + merge with own) vs one local epoch (${epochSamples} images) on ${choice.backend}:\n`)
console.log('| model | rule | k | decode ms | validate + merge ms | encode (publish) ms | epoch ms | (decode + merge) / epoch |')
console.log('|---|---|---:|---:|---:|---:|---:|---:|')
for (const [name, config] of models) {
  const trainer = await Trainer.create(config, { seed: 2 })
  const own = trainer.getSnapshot()
  trainer.dispose()
  const epochMs = (rows.find(r => r.model === name && r.backend === choice.backend) as Row).epochMs
  for (const rule of ['variance-corrected', 'plain'] as const) {
    for (const k of [2, 4]) {
      const m = await timeMerge(own, k, rule)
      console.log(`| ${name} | ${rule} | ${k} | ${m.decodeMs.toFixed(2)} | ${m.mergeMs.toFixed(2)} | ${m.encodeMs.toFixed(2)} | ${epochMs.toFixed(0)} | ${((m.decodeMs + m.mergeMs) / epochMs).toFixed(4)} |`)
    }
  }
}
