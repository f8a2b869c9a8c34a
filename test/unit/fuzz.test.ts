/**
 * The engine fuzzer (test/helpers/fuzz.ts): a bounded, deterministic run in CI. The long run
 * is `scripts/fuzz.sh --runs 1000000` (same code, more executions, figures in the README).
 */
import t from 'tap'
import { execute, fuzz, syntheticSeeds } from '../helpers/fuzz.js'

const runs = Number(process.env.FUZZ_RUNS ?? 1500)
const seed = Number(process.env.FUZZ_SEED ?? 20261201)

t.test(`fuzz: ${runs} executions, seed ${seed}`, async (t) => {
  const result = fuzz({ runs, seed, onProgress: (done) => process.stderr.write(`fuzz: ${done} executions\n`) })
  t.comment(`executions ${result.executions}, ${(result.ms / 1000).toFixed(1)} s, findings ${result.findings.length}`)
  t.comment(`refusals (the project's own errors): ${JSON.stringify(result.refusals)}`)
  for (const f of result.findings.slice(0, 20)) t.comment(JSON.stringify(f, null, 1))
  t.equal(result.findings.length, 0, 'nothing but PstoreSimError thrown, no write outside its zones')
  t.ok(Object.keys(result.refusals).length > 0, 'the mutations reached the refusal paths')
})

// What the fuzzer found, replayed by execution index (seed 20261201, small simulated regions).
// Each also has an explicit test in engineRobustness.test.ts, which does not depend on the
// fuzzer's code staying the same.
const regressions: Array<[number, string]> = [
  [909, 'pmsg on 5.4: an empty zone with start 0x7fffffff wrote past the region (RangeError)'],
  [1021, 'pmsg on 4.14: an empty zone with start 1024 > capacity wrote past the region (RangeError)'],
]
t.test('fuzz regressions', async (t) => {
  const seeds = syntheticSeeds()
  for (const [execution, what] of regressions) t.equal(execute(seeds, 20261201, execution), undefined, `execution ${execution}: ${what}`)
})
