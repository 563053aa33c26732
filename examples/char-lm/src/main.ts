/** `npm start [-- --rounds N]`: train three peers together, then the baselines, print the perplexities and a sample. */
import { compareCharLm, mean } from './compare.js'
import { generate } from './generate.js'
import { PEER_CHAPTERS } from './node.js'

const flag = process.argv.indexOf('--rounds')
const rounds = flag >= 0 ? Number(process.argv[flag + 1]) : undefined
if (rounds != null && !(Number.isInteger(rounds) && rounds > 0)) throw new Error('--rounds must be a positive whole number')
const result = await compareCharLm({
  ...(rounds != null ? { rounds } : {}),
  onRound: (label, m) => { console.log(`${label.padEnd(10)} round ${String(m.round).padStart(2)} loss=${m.loss.toFixed(3)} perplexity=${(m.metrics.perplexity ?? NaN).toFixed(2)} merged=${m.mergedWith.length}`) }
})
const f = (x: number): string => x.toFixed(2)
console.log(`\n${result.rounds} rounds x ${result.localSteps} local steps; perplexity per character on held-out chapters (lower is better)`)
for (const [i, chapter] of PEER_CHAPTERS.entries()) {
  console.log(`chapter ${String(chapter).padEnd(4)} together ${f(result.merged[i] ?? NaN)}   alone ${f(result.alone[i] ?? NaN)}`)
}
console.log(`merged peers (mean) ${f(mean(result.merged))} | lone peer (mean) ${f(mean(result.alone))} | all data ${f(result.allData)}`)
console.log(`time: together ${result.ms.merged} ms, alone ${result.ms.alone} ms, all data ${result.ms.allData} ms`)
console.log(`\nsample: ${generate(result.model, 'call me ishmael. ', 200)}`)
result.model.dispose()
