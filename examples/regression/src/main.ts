/** `npm start`: train the three agencies together, then the baselines, and print the figures. */
import { compareRegression, meanOf } from './compare.js'

const result = await compareRegression({
  onRound: (label, m) => { console.log(`${label.padEnd(10)} round ${String(m.round).padStart(2)} loss=${m.loss.toFixed(3)} mae=${(m.metrics.mae ?? NaN).toFixed(3)} rmse=${(m.metrics.rmse ?? NaN).toFixed(3)} merged=${m.mergedWith.length}`) }
})
const f = (x: number): string => x.toFixed(3)
const BANDS = ['lowest lstat', 'middle lstat', 'highest lstat']
console.log(`\n${result.rounds} rounds x ${result.localSteps} local steps; R² / RMSE / MAE ($1000s) on the same held-out tracts`)
for (const [i, name] of BANDS.entries()) {
  const m = result.merged[i]
  const a = result.alone[i]
  if (m == null || a == null) continue
  console.log(`${name.padEnd(14)} together R² ${f(m.r2)} rmse ${f(m.rmse)} mae ${f(m.mae)}   alone R² ${f(a.r2)} rmse ${f(a.rmse)} mae ${f(a.mae)}`)
}
console.log(`merged peers (mean) R² ${f(meanOf(result.merged, 'r2'))} rmse ${f(meanOf(result.merged, 'rmse'))} | lone peer (mean) R² ${f(meanOf(result.alone, 'r2'))} rmse ${f(meanOf(result.alone, 'rmse'))} | all data R² ${f(result.allData.r2)} rmse ${f(result.allData.rmse)}`)
console.log(`time: together ${result.ms.merged} ms, alone ${result.ms.alone} ms, all data ${result.ms.allData} ms`)
