/** `npm start`: train the three mailboxes together, then the baselines, print the figures and sort two messages. */
import { MAILBOX_NAMES, compareText, meanOf } from './compare.js'
import { toDataset } from './data.js'
import { spamProbability } from './evaluate.js'
import { bagOfWords, messageText } from './tokenize.js'

const result = await compareText({
  onRound: (label, m) => { console.log(`${label.padEnd(10)} round ${String(m.round).padStart(2)} loss=${m.loss.toFixed(4)} accuracy=${(m.metrics.accuracy ?? NaN).toFixed(4)} merged=${m.mergedWith.length}`) }
})
const f = (x: number): string => x.toFixed(3)
console.log(`\n${result.rounds} rounds x ${result.localSteps} local steps; accuracy on the same held-out mail (spam caught / ham kept)`)
for (const [i, name] of MAILBOX_NAMES.entries()) {
  const m = result.merged[i]
  const a = result.alone[i]
  if (m == null || a == null) continue
  console.log(`${name.padEnd(22)} together ${f(m.accuracy)} (${f(m.spamCaught)} / ${f(m.hamKept)})   alone ${f(a.accuracy)} (${f(a.spamCaught)} / ${f(a.hamKept)})`)
}
console.log(`merged peers (mean) ${f(meanOf(result.merged, 'accuracy'))} | lone peer (mean) ${f(meanOf(result.alone, 'accuracy'))} | all data ${f(result.allData.accuracy)}`)
console.log(`time: loading ${result.ms.load} ms, together ${result.ms.merged} ms, alone ${result.ms.alone} ms, all data ${result.ms.allData} ms`)

const samples = [
  'Subject: URGENT: claim your FREE prize\n\nCongratulations! You have been selected to receive a cash reward. Click here now to claim your money, limited time offer, act now!',
  'Subject: Re: build failure on the test box\n\nThanks, I pulled your patch and the tests pass now. Can we talk about the release notes at the meeting tomorrow?'
]
const probabilities = spamProbability(result.filter, toDataset(samples.map(s => bagOfWords(messageText(s))), samples.map(() => 0)))
for (const [i, s] of samples.entries()) console.log(`P(spam)=${(probabilities[i] ?? NaN).toFixed(3)}  ${s.split('\n')[0]}`)
result.filter.dispose()
