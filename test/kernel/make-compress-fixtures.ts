/**
 * Writes test/fixtures/compress-6.1/: the custom 6.1 kernel with every PSTORE_*_COMPRESS built in
 * (prepare.sh 6.1-compress) booted with each pstore.compress= value, on regions that hold both
 * its own records and pstore-sim's. Not a test: run by hand (test/fixtures/README.md):
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/kernel/make-compress-fixtures.ts [boots]
 *
 * A chain of boots, each algorithm twice (lz4, lz4, lz4hc, lz4hc, zstd, … none, none): boot N
 * starts from the region boot N−1 left (zones 0 and 1: that kernel's Oops and Panic, written with
 * its algorithm), with pstore-sim's records spliced into zones 2–3 (an Oops and a panic written
 * with boot N's algorithm) and 4–5 (the same with boot N−1's). It lists /sys/fs/pstore, oopses
 * (LKDTM) and panics. So every listing shows: the kernel's records read by the same algorithm
 * (the second boot of a pair) or another (the first), pstore-sim's records read by their own
 * algorithm and by another. Then a 6.12 custom kernel lists the region the second lz4 boot left
 * (a 6.1 board's lz4 dump read after an upgrade to 6.12).
 *
 * Each boot NN-ALG/: image.bin.gz (the region it booted from), listing.json (the kernel's
 * files), params.json; the last region after.bin.gz.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { cli } from './compat-helpers.js'
import { fixtureDir, kernelRecord, listingJson, reportBoot, writeJson } from './fixture-writer.js'
import { type KernelRamoopsParams, type KernelSelector, kernelInfo, prepareKernel, runKernel } from './harness.js'

/** lz4 and zstd first (the algorithms boards use most), lz4hc right after lz4 (each reads the other's records). */
export const ALL_ALGORITHMS = ['lz4', 'lz4hc', 'zstd', 'lzo', '842', 'deflate', 'none'] as const
/**
 * PSTORE_SIM_COMPRESS_KERNEL=6.1-custom PSTORE_SIM_COMPRESS_CHAIN=deflate,none: the same chain on the
 * plain custom kernel (deflate only), into compress-6.1-custom/.
 */
const CHAIN_ALGORITHMS: readonly string[] = process.env.PSTORE_SIM_COMPRESS_CHAIN?.split(',') ?? ALL_ALGORITHMS
const KERNEL = (process.env.PSTORE_SIM_COMPRESS_KERNEL ?? '6.1-compress') as KernelSelector
export const COMPRESS_SET = KERNEL === '6.1-compress' ? 'compress-6.1' : `compress-${KERNEL}`
export const PARAMS: KernelRamoopsParams = { memSize: 0x40000, recordSize: 0x8000, consoleSize: 0x4000, ftraceSize: 0, pmsgSize: 0x1000, ecc: 0 }
/** pstore-sim's setup flags for PARAMS on 6.1.192 as the custom kernel sees it (all frontends, no ftrace zone). */
export const SIM_FLAGS = [
  '--kernel',
  '6.1.192',
  '--mem-size',
  '0x40000',
  '--record-size',
  '0x8000',
  '--console-size',
  '0x4000',
  '--ftrace-size',
  '0',
  '--pmsg-size',
  '0x1000',
  '--ecc',
  '0',
  '--frontends',
  'console,pmsg,ftrace',
]
/** The same, plus what a reader of the kernel's view takes (inspect, mount). */
export const SIM_VIEW_FLAGS = [...SIM_FLAGS, '--exact-names']
/** Wall-clock seconds of pstore-sim's records (the kernel's come from QEMU's RTC, 2024-01-01). */
const SIM_TIME = 1704067200

export function bootName(n: number): string {
  return `${String(n).padStart(2, '0')}-${CHAIN_ALGORITHMS[Math.floor((n - 1) / 2)]}`
}

const hex = (n: number) => '0x' + n.toString(16)

/**
 * pstore-sim's records, to splice into the kernel's region: an image whose zones `first` and
 * `first + 1` hold an Oops and a panic written with `algorithm` (the zones before: Oopses, filler).
 */
async function simRecords(
  dir: string,
  algorithm: string,
  first: number,
  time: number,
): Promise<{ image: Buffer; zones: Array<{ offset: number; size: number }> }> {
  const image = path.join(dir, `sim-${algorithm}-${first}.bin`)
  await cli(['format', image, ...SIM_FLAGS, '--force'])
  const dump = (reason: string, at: number) => cli(['panic', image, '--reason', reason, '--time', String(at), '--compress', algorithm, ...SIM_FLAGS])
  for (let zone = 0; zone <= first; zone++) await dump('oops', time + zone)
  await dump('panic', time + first + 1)
  const inspection = JSON.parse(await cli(['inspect', image, '--json', ...SIM_VIEW_FLAGS])) as { zones: Array<{ type: string; offset: number; size: number }> }
  return { image: fs.readFileSync(image), zones: inspection.zones.filter((z) => z.type === 'dmesg') }
}

/** Copies dmesg zones `first` and `first + 1` of `from` into `into`. */
function splice(into: Buffer, from: Awaited<ReturnType<typeof simRecords>>, first: number): void {
  for (const k of [first, first + 1]) from.image.copy(into, from.zones[k].offset, from.zones[k].offset, from.zones[k].offset + from.zones[k].size)
}

/** The region the second lz4 boot left (the kernel's and pstore-sim's lz4 records) listed by Debian's 6.12.107. */
async function upgradeTo612(region: Buffer, boots: object[], after: string): Promise<void> {
  const kernel: KernelSelector = '6.12-debian'
  await prepareKernel(kernel)
  const r = await runKernel({ kernel, image: region, params: PARAMS, actions: ['list'], timeoutMs: 240_000 })
  reportBoot(`6.12-debian reading ${after}'s dump`, r)
  const name = `6.12-reads-${after}`
  const dir = fixtureDir(COMPRESS_SET, name)
  fs.writeFileSync(path.join(dir, 'image.bin.gz'), gzipSync(region, { level: 9 }))
  writeJson(path.join(dir, 'listing.json'), listingJson(r))
  const info = kernelInfo(kernel)
  writeJson(path.join(dir, 'params.json'), { kernel: info && kernelRecord(kernel, info), actions: ['list'], cmdline: r.cmdline })
  boots.push({ name, kernel, seconds: Math.round(r.timings.totalMs / 100) / 10 })
}

/** The set's params.json and the last region, after every boot (a chain cut short still leaves a consistent set). */
function writeSet(info: NonNullable<ReturnType<typeof kernelInfo>>, boots: object[], region: Buffer): void {
  fs.writeFileSync(path.join(fixtureDir(COMPRESS_SET, ''), 'after.bin.gz'), gzipSync(region, { level: 9 }))
  writeJson(path.join(fixtureDir(COMPRESS_SET, ''), 'params.json'), {
    kernel: kernelRecord(KERNEL, info),
    params: Object.fromEntries(Object.entries(PARAMS).map(([k, v]) => [k, hex(v)])),
    simFlags: SIM_FLAGS,
    boots,
  })
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? CHAIN_ALGORITHMS.length * 2)
  const kernel = KERNEL
  await prepareKernel(kernel)
  const info = kernelInfo(kernel)
  if (!info) throw new Error(`${kernel} not prepared`)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-compress-'))
  const zero = path.join(work, 'zero.bin')
  await cli(['format', zero, ...SIM_FLAGS, '--force'])
  let region: Buffer = fs.readFileSync(zero)
  let boots: object[] = []
  let previous: string = CHAIN_ALGORITHMS[0]
  let first = 1
  // PSTORE_SIM_COMPRESS_RESUME=1: go on after the set's last boot (its after.bin.gz and params.json)
  if (process.env.PSTORE_SIM_COMPRESS_RESUME === '1') {
    const set = JSON.parse(fs.readFileSync(path.join(fixtureDir(COMPRESS_SET, ''), 'params.json'), 'utf8')) as {
      boots: Array<{ name: string; algorithm?: string }>
    }
    boots = set.boots
    const chain = set.boots.filter((b) => b.algorithm)
    first = chain.length + 1
    previous = chain[chain.length - 1].algorithm as string
    region = gunzipSync(fs.readFileSync(path.join(fixtureDir(COMPRESS_SET, ''), 'after.bin.gz')))
  }
  for (let n = first; n <= count; n++) {
    const algorithm = CHAIN_ALGORITHMS[Math.floor((n - 1) / 2)]
    const image = Buffer.from(region)
    splice(image, await simRecords(work, algorithm, 2, SIM_TIME + 100 * n), 2)
    splice(image, await simRecords(work, previous, 4, SIM_TIME + 100 * n + 50), 4)
    const actions = ['list', 'oops', 'sleep:1', 'panic']
    const r = await runKernel({ kernel, image, params: PARAMS, actions, extraCmdline: [`pstore.compress=${algorithm}`], timeoutMs: 240_000 })
    reportBoot(`${bootName(n)} (pstore.compress=${algorithm})`, r)
    const dir = fixtureDir(COMPRESS_SET, bootName(n))
    fs.writeFileSync(path.join(dir, 'image.bin.gz'), gzipSync(image, { level: 9 }))
    writeJson(path.join(dir, 'listing.json'), listingJson(r))
    const klog = r.serial
      .split('\n')
      .filter((l) => /(^|\] )(pstore|ramoops):/.test(l))
      .map((l) => l.replace(/\r$/, ''))
    writeJson(path.join(dir, 'params.json'), {
      algorithm,
      previous,
      zonesFromPstoreSim: { '2-3': algorithm, '4-5': previous },
      actions,
      cmdline: r.cmdline,
      panicked: r.panicked,
      klog,
    })
    boots.push({ name: bootName(n), algorithm, seconds: Math.round(r.timings.totalMs / 100) / 10 })
    region = Buffer.from(r.region)
    previous = algorithm
    if (bootName(n) === '02-lz4' || (bootName(n) === '02-deflate' && KERNEL !== '6.1-compress')) await upgradeTo612(region, boots, bootName(n))
    writeSet(info, boots, region)
  }
  fs.rmSync(work, { recursive: true, force: true })
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`)
    process.exit(1)
  })
}
