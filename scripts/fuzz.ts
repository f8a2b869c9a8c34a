/**
 * The long fuzz run (item 10): `node dist/scripts/fuzz.js --runs 1000000 [--seed S] [--jobs J]`.
 * The same engine as test/unit/fuzz.test.ts (test/helpers/fuzz.ts), split over J processes by
 * execution index, so a run's figures do not depend on J. Prints executions, time and every
 * finding (with what replays it); exits 1 when there are findings.
 */

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FuzzResult } from '../test/helpers/fuzz.js'

const self = fileURLToPath(import.meta.url)

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const n = Number(process.argv[i + 1])
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} takes a whole number\n`)
    process.exit(1)
  }
  return n
}

const { fuzz } = await import('../test/helpers/fuzz.js')

const runs = option('runs', 100000)
const seed = option('seed', 20261201)
const jobs = Math.max(1, option('jobs', 1))

if (process.argv.includes('--child')) {
  const result = fuzz({ runs, seed, start: option('start', 0), onProgress: (done) => process.send!({ progress: done }) })
  process.send!(result)
  process.exit(0)
}

const t0 = performance.now()
// Figures along the way: a run cut short still says how far it got.
const done: number[] = []
let reported = 0
function progress(job: number, count: number): void {
  done[job] = count
  const total = done.reduce((a, b) => a + (b ?? 0), 0)
  if (total - reported < 50000) return
  reported = total
  process.stderr.write(`fuzz: ${total} executions, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}
const share = Math.ceil(runs / jobs)
const parts = await Promise.all(
  Array.from({ length: jobs }, (_, j) => {
    const start = j * share
    const count = Math.max(0, Math.min(share, runs - start))
    return new Promise<FuzzResult>((resolve, reject) => {
      const child = fork(self, ['--child', '--runs', String(count), '--seed', String(seed), '--start', String(start)])
      child.on('message', (m) => {
        if ('progress' in (m as object)) return progress(j, (m as { progress: number }).progress)
        resolve(m as FuzzResult)
      })
      child.on('exit', (code) => (code ? reject(new Error(`fuzz job ${j} exited with ${code}`)) : undefined))
    })
  }),
)
const findings = parts.flatMap((p) => p.findings)
const refusals: Record<string, number> = {}
for (const p of parts) for (const [k, v] of Object.entries(p.refusals)) refusals[k] = (refusals[k] ?? 0) + v
const seconds = (performance.now() - t0) / 1000
process.stdout.write(
  `executions ${runs}, seed ${seed}, ${jobs} job(s), ${seconds.toFixed(0)} s (${((seconds * 1e6) / runs).toFixed(0)} µs each), findings ${findings.length}\n`,
)
process.stdout.write(`refusals (the project's own errors): ${JSON.stringify(refusals)}\n`)
for (const f of findings) process.stdout.write(JSON.stringify(f) + '\n')
process.exitCode = findings.length ? 1 : 0
