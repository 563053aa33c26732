/** `npm start`: train the three sites together, then the baselines, and print the figures. */
import { SITE_NAMES, compareTabular, meanOf } from './compare.js'

const result = await compareTabular({
  onRound: (label, m) => { console.log(`${label.padEnd(10)} round ${String(m.round).padStart(2)} loss=${m.loss.toFixed(4)} binaryAccuracy=${(m.metrics.binaryAccuracy ?? NaN).toFixed(4)} merged=${m.mergedWith.length}`) }
})
const f = (x: number): string => x.toFixed(3)
console.log(`\n${result.rounds} rounds x ${result.localSteps} local steps; event F1 / recall / precision on the same held-out readings`)
for (const [i, name] of SITE_NAMES.entries()) {
  const m = result.merged[i]
  const a = result.alone[i]
  if (m == null || a == null) continue
  console.log(`${name.padEnd(10)} together F1 ${f(m.f1)} (recall ${f(m.recall)}, precision ${f(m.precision)})   alone F1 ${f(a.f1)} (recall ${f(a.recall)}, precision ${f(a.precision)})`)
}
console.log(`merged peers (mean) F1 ${f(meanOf(result.merged, 'f1'))} | lone peer (mean) F1 ${f(meanOf(result.alone, 'f1'))} | all data F1 ${f(result.allData.f1)}`)
console.log(`time: together ${result.ms.merged} ms, alone ${result.ms.alone} ms, all data ${result.ms.allData} ms`)
