/**
 * The long fuzz run: `node dist/scripts/fuzz.js --runs 1000000 [--seed S] [--jobs J] [--backend B]`.
 * The same engines as test/unit/fuzz.test.ts: ramoops' (test/helpers/fuzz.ts) and every other
 * backend's (test/helpers/fuzzBackends.ts, with the kernel's read rules as the oracle). `--runs`
 * is the total, shared evenly among the backends (`--backend all`, the default, or one name);
 * each backend's share is split over J processes by execution index, so a run's figures do not
 * depend on J. Prints executions, time and every finding (with what replays it) per backend;
 * exits 1 when there are findings.
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
const { BACKEND_FUZZERS, fuzzBackend } = await import('../test/helpers/fuzzBackends.js')

const runs = option('runs', 100000)
const seed = option('seed', 20261201)
const jobs = Math.max(1, option('jobs', 1))
const known = ['ramoops', ...BACKEND_FUZZERS.map((f) => f.name)]
const backendArg = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1] : 'all'
if (backendArg !== 'all' && !known.includes(backendArg)) {
  process.stderr.write(`fuzz: --backend "${backendArg}" is not one of all, ${known.join(', ')}\n`)
  process.exit(1)
}
const backends = backendArg === 'all' ? known : [backendArg]

type Result = FuzzResult & { slowestMs?: number }

if (process.argv.includes('--child')) {
  const start = option('start', 0)
  const onProgress = (done: number) => process.send!({ progress: done })
  const result: Result = backendArg === 'ramoops' ? fuzz({ runs, seed, start, onProgress }) : fuzzBackend(backendArg, { runs, seed, start, onProgress })
  process.send!(result)
  process.exit(0)
}

const t0 = performance.now()
// Figures along the way: a run cut short still says how far it got.
const done = new Map<string, number>()
let reported = 0
function progress(key: string, count: number): void {
  done.set(key, count)
  const total = [...done.values()].reduce((a, b) => a + b, 0)
  if (total - reported < 50000) return
  reported = total
  const per = backends.map((b) => `${b} ${[...done].filter(([k]) => k.startsWith(`${b}:`)).reduce((a, [, v]) => a + v, 0)}`).join(', ')
  process.stderr.write(`fuzz: ${total} executions (${per}), ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}

function runJob(backend: string, start: number, count: number, key: string): Promise<Result> {
  return new Promise<Result>((resolve, reject) => {
    const child = fork(self, ['--child', '--backend', backend, '--runs', String(count), '--seed', String(seed), '--start', String(start)])
    child.on('message', (m) => {
      if ('progress' in (m as object)) return progress(key, (m as { progress: number }).progress)
      resolve(m as Result)
    })
    child.on('exit', (code) => (code ? reject(new Error(`fuzz job ${key} exited with ${code}`)) : undefined))
  })
}

/** Every backend's share, J jobs at a time (one backend after the other: each job loads its seeds once). */
const perBackend = Math.ceil(runs / backends.length)
let failures = 0
for (const backend of backends) {
  const b0 = performance.now()
  const share = Math.ceil(perBackend / jobs)
  const parts = await Promise.all(
    Array.from({ length: jobs }, (_, j) => runJob(backend, j * share, Math.max(0, Math.min(share, perBackend - j * share)), `${backend}:${j}`)),
  )
  const findings = parts.flatMap((p) => p.findings)
  const refusals: Record<string, number> = {}
  for (const p of parts) for (const [k, v] of Object.entries(p.refusals)) refusals[k] = (refusals[k] ?? 0) + v
  const seconds = (performance.now() - b0) / 1000
  const slowest = Math.max(0, ...parts.map((p) => p.slowestMs ?? 0))
  process.stdout.write(
    `${backend}: executions ${perBackend}, seed ${seed}, ${jobs} job(s), ${seconds.toFixed(0)} s (${((seconds * 1e6 * jobs) / Math.max(1, perBackend)).toFixed(0)} µs each per job)` +
      `${slowest ? `, slowest ${slowest.toFixed(0)} ms` : ''}, findings ${findings.length}\n`,
  )
  process.stdout.write(`${backend}: refusals (the project's own errors): ${JSON.stringify(refusals)}\n`)
  for (const f of findings) process.stdout.write(`${backend}: ${JSON.stringify(f)}\n`)
  failures += findings.length
}
process.stdout.write(`total: ${perBackend * backends.length} executions, ${((performance.now() - t0) / 1000).toFixed(0)} s, findings ${failures}\n`)
process.exitCode = failures ? 1 : 0
