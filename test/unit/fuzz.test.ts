/**
 * The engine fuzzers: a bounded, deterministic run of each backend in CI. ramoops' engine is
 * test/helpers/fuzz.ts; pstore/blk's and ERST's test/helpers/fuzzBackends.ts, efi-pstore's
 * test/helpers/fuzzEfi.ts, whose oracle is the kernel's read rules (test/helpers/readRules/). The long run is `npm run fuzz -- --runs 1000000`
 * (same code, more executions, every backend; figures in docs/testing.md). FUZZ_RUNS (ramoops,
 * 1,500) and FUZZ_BACKEND_RUNS (each other backend: 2,000 in `npm test`, 500 in `npm run
 * test:unit`) change the counts.
 */
import t from 'tap'
import { execute, fuzz, syntheticSeeds } from '../helpers/fuzz.js'
import { BACKEND_FUZZERS, executeBackend, fuzzBackend } from '../helpers/fuzzBackends.js'
import { efiUndecided } from '../helpers/fuzzEfi.js'

// `npm run test:unit` (PSTORE_SIM_TEST_TIER=unit: the everyday tier, under a minute) runs a
// quarter of the other backends' executions, the same first 500 of each; `npm test` (CI) all of them
const unitTier = process.env.PSTORE_SIM_TEST_TIER === 'unit'
const runs = Number(process.env.FUZZ_RUNS ?? 1500)
const backendRuns = Number(process.env.FUZZ_BACKEND_RUNS ?? (unitTier ? 500 : 2000))
const seed = Number(process.env.FUZZ_SEED ?? 20261201)

t.test(`fuzz ramoops: ${runs} executions, seed ${seed}`, async (t) => {
  const result = fuzz({ runs, seed, onProgress: (done) => process.stderr.write(`fuzz: ${done} executions\n`) })
  t.comment(`executions ${result.executions}, ${(result.ms / 1000).toFixed(1)} s, findings ${result.findings.length}`)
  t.comment(`refusals (the project's own errors): ${JSON.stringify(result.refusals)}`)
  for (const f of result.findings.slice(0, 20)) t.comment(JSON.stringify(f, null, 1))
  t.equal(result.findings.length, 0, 'nothing but PstoreSimError thrown, no write outside its zones')
  t.ok(Object.keys(result.refusals).length > 0, 'the mutations reached the refusal paths')
})

for (const { name } of BACKEND_FUZZERS) {
  t.test(`fuzz ${name} against the kernel's read rules: ${backendRuns} executions, seed ${seed}`, async (t) => {
    efiUndecided(true)
    const result = fuzzBackend(name, { runs: backendRuns, seed })
    if (name === 'efi') t.comment(`read passes the rules leave undecided (the firmware reading past its copy of the store): ${efiUndecided()}`)
    t.comment(
      `executions ${result.executions}, ${(result.ms / 1000).toFixed(1)} s, slowest ${result.slowestMs.toFixed(0)} ms, findings ${result.findings.length}`,
    )
    t.comment(`refusals (the project's own errors): ${JSON.stringify(result.refusals)}`)
    for (const f of result.findings.slice(0, 20)) t.comment(JSON.stringify(f, null, 1))
    t.equal(result.findings.length, 0, "the kernel's listing, only our errors, under 2 s, writes in their zones, file view = memory view")
  })
}

// What the fuzzers found, replayed by execution index (small simulated regions). Each also has an
// explicit test elsewhere, which does not depend on the fuzzer's code staying the same.
const regressions: Array<[number, string]> = [
  [909, 'pmsg on 5.4: an empty zone with start 0x7fffffff wrote past the region (RangeError)'],
  [1021, 'pmsg on 4.14: an empty zone with start 1024 > capacity wrote past the region (RangeError)'],
]
t.test('fuzz regressions: ramoops', async (t) => {
  const seeds = syntheticSeeds()
  for (const [execution, what] of regressions) t.equal(execute(seeds, 20261201, execution), undefined, `execution ${execution}: ${what}`)
})

// [backend, seed, execution, what]; the explicit tests are in test/blk.test.ts
const backendRegressions: Array<[string, number, number, string]> = [
  [
    'blk',
    20261207,
    194,
    'blk-short-kmsg-datalen-ends-pass: a dmesg zone with datalen 39 (< the kmsg header) ended only the dmesg zones; the kernel ends the whole pass (no pmsg, console file)',
  ],
]
t.test('fuzz regressions: other backends', async (t) => {
  for (const [backend, s, execution, what] of backendRegressions)
    t.equal(executeBackend(backend, s, execution), undefined, `${backend} ${s}/${execution}: ${what}`)
})
