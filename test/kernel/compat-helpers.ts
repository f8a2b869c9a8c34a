/**
 * Helpers for the compat suites (compat-suite.ts): pstore-sim (the built CLI) and a real kernel
 * (harness.ts) on the same region images. Setups are written once as module parameters and turned
 * into both the CLI's setup flags and the kernel's ramoops options, so both sides always agree;
 * a `Target` says which kernel pstore-sim must behave like (version, frontends, System.map).
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'
import type { KernelFile, KernelInfo, KernelRamoopsParams, KernelSelector } from './harness.js'

/** The kernel pstore-sim plays: its exact version (ftrace signature), its frontends, its symbols. */
export interface Target {
  kernel: KernelSelector
  /** 6.1.192, 6.12.107: pstore-sim's --kernel */
  version: string
  /** built here: ramoops built in, console/pmsg/ftrace frontends (Debian's kernels have none) */
  custom: boolean
  /** the kernel's System.map: pstore-sim prints ftrace symbols with it as kallsyms does */
  systemMap: string
}

export function targetOf(info: KernelInfo): Target {
  return { kernel: info.selector, version: info.kernelVersion, custom: info.kind === 'custom', systemMap: info.systemMap }
}

/**
 * A ramoops setup: the kernel's module parameters (ecc as the module takes it: 1 means 16; the
 * region where the harness puts it) + a name and the guest's CPUs.
 */
export interface Setup extends Omit<KernelRamoopsParams, 'memAddress' | 'maxReason'> {
  name: string
  /** QEMU -smp = nr_cpu_ids = pstore-sim --cpus (per-CPU ftrace zones) */
  cpus: number
}

const hex = (n: number): string => '0x' + n.toString(16)

/** pstore-sim setup flags for `s` on the target kernel. */
export function setupFlags(s: Setup, target: Target): string[] {
  return [
    '--kernel',
    target.version,
    '--cpus',
    String(s.cpus),
    '--mem-size',
    hex(s.memSize),
    '--record-size',
    hex(s.recordSize),
    '--console-size',
    hex(s.consoleSize),
    '--ftrace-size',
    hex(s.ftraceSize),
    '--pmsg-size',
    hex(s.pmsgSize),
    '--ecc',
    String(s.ecc),
  ]
}

/**
 * The same setup as the target kernel sees it: Debian's kernels have no console/pmsg/ftrace
 * frontend; the custom ones have all three and print ftrace symbols from their System.map.
 */
export function kernelViewFlags(s: Setup, target: Target): string[] {
  const fe = target.custom ? ['--frontends', 'console,pmsg,ftrace', '--system-map', target.systemMap] : ['--frontends', 'none']
  return [...setupFlags(s, target), ...fe, '--exact-names']
}

export function kernelParams(s: Setup): KernelRamoopsParams {
  return { memSize: s.memSize, recordSize: s.recordSize, consoleSize: s.consoleSize, ftraceSize: s.ftraceSize, pmsgSize: s.pmsgSize, ecc: s.ecc }
}

/** ECC parity bytes per block as ramoops derives them from the `ecc` parameter. */
export function eccBytes(s: Setup): number {
  return s.ecc === 1 ? 16 : s.ecc
}

/** `pstore-sim ARGS`; throws (with stderr) unless it exits 0. */
export async function cli(args: string[], input?: Buffer | string): Promise<string> {
  const r = await pstoreSim(args, input)
  if (r.code !== 0) throw new Error(`pstore-sim ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
  return r.stdout.toString()
}

// ------------------------------------------------------------------------------ pstore-sim side
export interface Workload {
  console: string
  pmsg: string
  /** "cpu ip parent_ip" lines */
  ftrace: string
  /** wall-clock times (seconds, µs precision) of the oops and the panic record */
  oopsTime: number
  panicTime: number
  oopsNoCompress?: boolean
}

/**
 * pstore-sim formats IMAGE (all frontends: it writes every zone) and writes console lines, a pmsg
 * message, ftrace records, an oops, then a panic: dmesg-ramoops-0 (oops) and dmesg-ramoops-1 (panic).
 */
export async function formatAndWrite(image: string, s: Setup, w: Workload, target: Target): Promise<void> {
  await cli(['format', image, ...setupFlags(s, target), '--frontends', 'console,pmsg,ftrace'])
  await cli(['console', image, w.console])
  await cli(['pmsg', image, w.pmsg])
  if (s.ftraceSize > 0) await cli(['ftrace', image, '-'], w.ftrace)
  await cli(['panic', image, '--reason', 'oops', '--time', String(w.oopsTime), ...(w.oopsNoCompress ? ['--no-compress'] : [])])
  await cli(['panic', image, '--reason', 'panic', '--time', String(w.panicTime)])
}

export interface ZoneInfo {
  type: string
  index: number
  offset: number
  size: number
  capacity: number
  start: number
  used: number
  bootOutcome: string
  ecc?: { correctedBytes: number; badBlocks: number }
}

export interface Prediction {
  zones: ZoneInfo[]
  unusedTail: { offset: number; size: number }
  setup: { eccSize: number; eccBlockSize: number }
  records: Array<{ name: string; size: number; kernelSize: number; mtime: string | null; compressed: boolean; contentBase64?: string }>
}

/** `inspect --json --content` as the target kernel would see IMAGE (its frontends, exact names). */
export async function predict(image: string, s: Setup, target: Target): Promise<Prediction> {
  return JSON.parse(await cli(['inspect', image, '--json', '--content', ...kernelViewFlags(s, target)])) as Prediction
}

// helpers/mount.ts declares a narrower structural test type than tap's (ok() returning void)
type HelperTest = Parameters<typeof mountImage>[0]
const asHelper = (t: Test): HelperTest => t as unknown as HelperTest

/** tempDir() for a tap Test. */
export function testDir(t: Test, prefix = 'pstore-sim-compat-'): string {
  return tempDir(asHelper(t), prefix)
}

/** mountImage() for a tap Test (umount guaranteed at teardown). */
export function mountFor(t: Test, image: string, mountpoint: string, extra: string[]): ReturnType<typeof mountImage> {
  return mountImage(asHelper(t), image, mountpoint, extra)
}

/**
 * The region pstore-sim expects after a boot of IMAGE (+ `rm` of RM files through the mount): a
 * copy of IMAGE mounted rw as the target kernel sees it, files removed, unmounted. (A custom
 * kernel logs its boot into the console zone: compare those regions with `maskZones`.)
 */
export async function simulatedBoot(t: Test, image: string, s: Setup, dir: string, target: Target, rm: string[] = []): Promise<Buffer> {
  const copy = path.join(dir, `sim-boot-${path.basename(image)}`)
  fs.copyFileSync(image, copy)
  const mnt = path.join(dir, `mnt-${path.basename(copy)}`)
  fs.mkdirSync(mnt, { recursive: true })
  await mountFor(t, copy, mnt, kernelViewFlags(s, target))
  for (const name of rm) {
    const r = await run('rm', [path.join(mnt, name)])
    if (r.code !== 0) throw new Error(`rm ${name} through the pstore-sim mount failed: ${r.stderr}`)
  }
  const u = await pstoreSim(['umount', mnt])
  if (u.code !== 0) throw new Error(`umount ${mnt}: ${u.stderr}`)
  return fs.readFileSync(copy)
}

// ------------------------------------------------------------------------------ comparisons
/** Where OFFSET falls: zone, and the part of the zone (header field, data, parity), or the tail. */
export function locate(offset: number, zones: ZoneInfo[], tail: { offset: number; size: number }, eccSize: number, blockSize = 128): string {
  for (const z of zones) {
    if (offset < z.offset || offset >= z.offset + z.size) continue
    const rel = offset - z.offset
    const name = `${z.type}[${z.index}]@0x${z.offset.toString(16)}`
    let part: string
    if (rel < 4) part = 'header.sig'
    else if (rel < 8) part = 'header.start'
    else if (rel < 12) part = 'header.size'
    else if (rel < 12 + z.capacity) part = `data+${rel - 12} (block ${Math.floor((rel - 12) / blockSize)})`
    else if (eccSize > 0) {
      const k = Math.ceil((z.size - 12 - eccSize) / (blockSize + eccSize))
      const p = rel - 12 - z.capacity
      part = p < k * eccSize ? `data parity of block ${Math.floor(p / eccSize)}` : 'header parity'
    } else part = 'beyond capacity'
    return `${name} ${part}`
  }
  if (offset >= tail.offset && offset < tail.offset + tail.size) return `unused tail @0x${tail.offset.toString(16)}`
  return 'outside every zone'
}

/**
 * '' when equal, else every differing run of bytes (up to LIMIT runs) with its offset, the zone it
 * falls in and both values.
 */
export function regionDiff(actual: Buffer, expected: Buffer, p: Prediction, labels = ['kernel', 'pstore-sim'], limit = 40): string {
  if (actual.length !== expected.length) return `lengths differ: ${labels[0]} ${actual.length} vs ${labels[1]} ${expected.length}`
  const runs: Array<[number, number]> = []
  let total = 0
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] === expected[i]) continue
    total++
    const last = runs[runs.length - 1]
    if (last && last[1] === i) last[1] = i + 1
    else runs.push([i, i + 1])
  }
  if (total === 0) return ''
  const lines = runs.slice(0, limit).map(([a, b]) => {
    const n = Math.min(b - a, 16)
    const range = b - a === 1 ? `0x${a.toString(16)}` : `0x${a.toString(16)}..0x${(b - 1).toString(16)}`
    return `  ${range} (${b - a} B) in ${locate(a, p.zones, p.unusedTail, p.setup.eccSize, p.setup.eccBlockSize)}: ${labels[0]} ${actual.subarray(a, a + n).toString('hex')} vs ${labels[1]} ${expected.subarray(a, a + n).toString('hex')}`
  })
  if (runs.length > limit) lines.push(`  … and ${runs.length - limit} more runs`)
  return `${total} bytes differ in ${runs.length} runs:\n${lines.join('\n')}`
}

/**
 * A copy of REGION with the zones of TYPES zeroed: a custom kernel writes its own boot log into
 * the console zone, so only the rest of the region can be compared byte for byte.
 */
export function maskZones(region: Buffer, p: Prediction, types: string[]): Buffer {
  const out = Buffer.from(region)
  for (const z of p.zones) if (types.includes(z.type)) out.fill(0, z.offset, z.offset + z.size)
  return out
}

/** First differing byte of two contents, with a little context, or '' when equal. */
export function contentDiff(a: Buffer, b: Buffer): string {
  if (a.equals(b)) return ''
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  const ctx = (x: Buffer): string => JSON.stringify(x.subarray(Math.max(0, i - 16), i + 24).toString('latin1'))
  return `lengths ${a.length} vs ${b.length}, first difference at byte ${i}: ${ctx(a)} vs ${ctx(b)}`
}

export const mtimeOf = (f: KernelFile): string => `${f.mtimeSec}.${String(f.mtimeNsec).padStart(9, '0')}`

/** `sec.nsec` of a record time given as seconds with µs precision, as the dmesg header keeps it. */
export function headerTime(sec: number): string {
  const whole = Math.floor(sec)
  const usec = Math.round((sec - whole) * 1e6)
  return `${whole}.${String(usec * 1000).padStart(9, '0')}`
}

/**
 * The parts of zones (`console[0] header.start`, `dmesg[1] data`, …) where A and B differ, sorted
 * and without offsets: what a boot or an erase touched.
 */
export function changedParts(a: Buffer, b: Buffer, p: Prediction): string[] {
  const parts = new Set<string>()
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue
    parts.add(
      locate(i, p.zones, p.unusedTail, p.setup.eccSize, p.setup.eccBlockSize)
        .replace(/@0x[0-9a-f]+/, '')
        .replace(/data\+\d+ \(block \d+\)/, 'data')
        .replace(/data parity of block \d+/, 'data parity'),
    )
  }
  return [...parts].sort()
}

/** The header parts zaps of ZONES rewrite: start, size and, with ECC, the header parity (sorted). */
export function zapParts(zones: string[], eccSize: number): string[] {
  return zones.flatMap((zone) => [`${zone} header.size`, `${zone} header.start`, ...(eccSize ? [`${zone} header parity`] : [])]).sort()
}

/**
 * Runs FN after every job queued before it (one at a time), starting now: pstore-sim's work for
 * later cases overlaps the current kernel boot. A failed job does not stop the queue; its error
 * goes to whoever awaits it.
 */
export class Pipeline {
  private tail: Promise<unknown> = Promise.resolve()
  add<T>(fn: () => Promise<T>): Promise<T> {
    const job = this.tail.then(fn)
    this.tail = job.catch(() => undefined)
    job.catch(() => undefined) // awaited later by its test: no unhandled rejection meanwhile
    return job
  }
}
