/**
 * What one kernel boot costs, this tree's harness against another tree's (a checkout of the
 * baseline commit), interleaved A B A B so both see the same load: wall time of runKernel per
 * scenario (a custom kernel's list boot and its writes+panic boot, a Debian list boot, an OVMF boot,
 * an ERST crash boot), the medians side by side and their ratio.
 *
 *   git archive BASE src package.json test/helpers test/kernel/harness.ts scripts/kernel | tar -x -C /tmp/base
 *   ln -s "$PWD/node_modules" /tmp/base/node_modules
 *   BASE_CACHE=~/.cache/pstore-sim NEW_CACHE=/tmp/new-cache \
 *     node --require=./test/helpers/esbuildLoader.cjs test/kernel/bench-boot.ts /tmp/base [REPS]
 *
 * Each side boots with its own kernel cache (PSTORE_SIM_CACHE: the initramfs holds that side's
 * scripts/kernel/init.sh): prepare both first (`PSTORE_SIM_CACHE=… scripts/kernel/prepare.sh KERNEL`
 * from each tree). One QEMU at a time.
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import * as ours from './harness.js'

type Harness = typeof ours
const [baseDir, repsArg] = process.argv.slice(2)
if (!baseDir) {
  console.error('usage: bench-boot.ts BASE_TREE [REPS] (BASE_CACHE, NEW_CACHE: the two kernel caches)')
  process.exit(2)
}
const reps = Number(repsArg ?? 3)
const base = (await import(pathToFileURL(path.resolve(baseDir, 'test/kernel/harness.ts')).href)) as Harness
const defaultCache = path.join(os.homedir(), '.cache/pstore-sim')
const sides: { name: string; h: Harness; cache: string }[] = [
  { name: 'base', h: base, cache: process.env.BASE_CACHE ?? defaultCache },
  { name: 'new', h: ours, cache: process.env.NEW_CACHE ?? defaultCache },
]

const demo = { memSize: 0x100000, recordSize: 0x4000, consoleSize: 0x4000, ftraceSize: 0x4000, pmsgSize: 0x4000, ecc: 0 }
// the size compat-erst-suite.ts boots with
const ERST_SIZE = 0x10000
const writes = ['kmsg:bench+marker', 'pmsg:bench+pmsg', 'ftrace:on', 'kmsg-cpus:traced', 'ftrace:off', 'oops', 'panic']
type Opts = Parameters<Harness['runKernel']>[0]
const scenarios: { label: string; opts: () => Opts }[] = [
  { label: '6.1-custom list, 2 CPUs', opts: () => ({ kernel: '6.1-custom', image: Buffer.alloc(demo.memSize), params: demo, cpus: 2, actions: ['list'] }) },
  { label: '6.1-custom writes+oops+panic', opts: () => ({ kernel: '6.1-custom', image: Buffer.alloc(demo.memSize), params: demo, cpus: 2, actions: writes }) },
  { label: '6.12-custom list', opts: () => ({ kernel: '6.12-custom', image: Buffer.alloc(demo.memSize), params: demo, actions: ['list'] }) },
  { label: '6.1-debian list', opts: () => ({ kernel: '6.1-debian', image: Buffer.alloc(demo.memSize), params: demo, actions: ['list'] }) },
  {
    label: '6.12-debian efi list',
    opts: () => ({ kernel: '6.12-debian', image: readFileSync(ours.OVMF_VARS), efi: {}, actions: ['list'] }),
  },
  {
    label: '6.1-debian erst oops+panic',
    opts: () => ({ kernel: '6.1-debian', image: Buffer.alloc(ERST_SIZE), erst: { size: ERST_SIZE }, actions: ['kmsg:bench', 'oops', 'sleep:2', 'panic'] }),
  },
]

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const load = (): string => os.loadavg()[0].toFixed(1)
console.log(`${reps} boots per side and scenario, interleaved; wall ms of runKernel (median), load ${load()}`)
console.log(['scenario'.padEnd(30), 'base'.padStart(8), 'new'.padStart(8), 'new/base'.padStart(9), '  load'].join(' '))
for (const s of scenarios) {
  const times: Record<string, number[]> = { base: [], new: [] }
  for (let i = 0; i < reps; i++) {
    for (const side of i % 2 ? [...sides].reverse() : sides) {
      process.env.PSTORE_SIM_CACHE = side.cache
      const r = await side.h.runKernel(s.opts())
      times[side.name].push(r.timings.totalMs)
    }
  }
  const [b, n] = [median(times.base), median(times.new)]
  console.log([s.label.padEnd(30), String(b).padStart(8), String(n).padStart(8), (n / b).toFixed(2).padStart(9), `  ${load()}`].join(' '))
}
