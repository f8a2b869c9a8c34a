/**
 * pstore-sim and a real kernel on the same region images, both ways. `compatSuite(kernel)` registers
 * every case that applies to KERNEL; the compat-<kernel>.test.ts files call it, one tap process per
 * kernel (tap runs two at a time). See test/kernel/README.md.
 *
 * 1. pstore-sim writes → the kernel reads: the kernel's listing equals `inspect --json --content`
 *    (as that kernel sees it), and its boot changes exactly the bytes a pstore-sim mount + umount
 *    changes (custom kernels log their own boot into the console zone: that zone is masked).
 * 2. the kernel writes → pstore-sim reads: each dump mounted read-only in pstore-sim shows what the
 *    kernel's next boot lists (ls/stat/cat), and the dump is not modified. Debian kernels: panic,
 *    then two oopses. Custom kernels: console, pmsg, ftrace (1 and 2 CPUs, ECC), oops, panic.
 * 3. erase both ways: `rm` through a pstore-sim mount and `rm` in the guest give the same region
 *    (custom kernels: ftrace-ramoops-0 of two per-CPU zones too).
 * 4. ECC: bytes flipped within the correctable limit are corrected as pstore-sim predicts.
 * 5. read-pass quirks on crafted zones: an unpadded microsecond field, a dmesg zone without a
 *    header, a header-only dmesg zone (the kernel's read loop stops there).
 *
 * pstore-sim's side of cases 1, 3, 4, 5 runs in a queue while earlier cases boot the kernel.
 */

import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { cat, ls, pstoreSim, sha256, statFiles } from '../helpers/mount.js'
import {
  changedParts,
  cli,
  contentDiff,
  eccBytes,
  formatAndWrite,
  headerTime,
  kernelParams,
  kernelViewFlags,
  maskZones,
  mountFor,
  mtimeOf,
  Pipeline,
  type Prediction,
  predict,
  regionDiff,
  type Setup,
  setupFlags,
  simulatedBoot,
  type Target,
  targetOf,
  testDir,
  type Workload,
  zapParts,
} from './compat-helpers.js'
import { type KernelFile, type KernelInfo, type KernelRegion, type KernelRun, type KernelSelector, runKernel, runKernelBatch } from './harness.js'
import { kernelSuite } from './skip.js'

type Tap = Test

const RTC_2024 = Date.UTC(2024, 0, 1) / 1000

/** pstore-sim-written setups of case 1. */
const SETUPS: Array<{ what: string; setup: Setup; oopsNoCompress?: boolean }> = [
  {
    what: '(a) demo layout, ftrace per CPU (2 CPUs)',
    setup: { name: 'demo', memSize: 0x100000, recordSize: 0x8000, consoleSize: 0x8000, pmsgSize: 0x1000, ftraceSize: 0x2000, ecc: 0, cpus: 2 },
  },
  {
    what: '(b) 4 KiB records, no ftrace',
    setup: { name: 'rec4k', memSize: 0x40000, recordSize: 0x1000, consoleSize: 0x1000, pmsgSize: 0x1000, ftraceSize: 0, ecc: 0, cpus: 1 },
  },
  {
    what: '(c) ECC 16 (ecc=1), uncompressed oops',
    setup: { name: 'ecc16', memSize: 0x80000, recordSize: 0x4000, consoleSize: 0x4000, pmsgSize: 0x2000, ftraceSize: 0x2000, ecc: 1, cpus: 1 },
    oopsNoCompress: true,
  },
  {
    what: '(d) ECC 32, ftrace per CPU (2 CPUs)',
    setup: { name: 'ecc32', memSize: 0x40000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 32, cpus: 2 },
  },
  {
    what: '(e) unused tail: record 0x7000 (rounded down to 0x4000) leaves a remainder, the tail holds a pattern',
    setup: { name: 'tail', memSize: 0x100000, recordSize: 0x7000, consoleSize: 0x4000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 0, cpus: 1 },
    oopsNoCompress: true,
  },
  {
    what: '(g) zones that are not powers of two: 3 CPUs share 0x1000 of ftrace (odd per-CPU size), mem_size 0x5d000',
    setup: { name: 'odd', memSize: 0x5d000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 0, cpus: 3 },
  },
]

function workload(s: Setup, i: number, oopsNoCompress = false): Workload {
  const ftrace: string[] = []
  for (let n = 0; n < 2 * s.cpus + 2; n++)
    ftrace.push(`${n % s.cpus} ffffffff8100${(0x1000 + n * 0x40).toString(16)} ffffffff8120${(0x2000 + n * 0x10).toString(16)}`)
  return {
    console: `compat ${s.name}: console line 1\nconsole line 2 with some text\nconsole line 3\n`,
    pmsg: `compat ${s.name}: a pmsg message\n`,
    ftrace: ftrace.join('\n') + '\n',
    oopsTime: RTC_2024 + 3600 + i * 100 + 0.123456,
    panicTime: RTC_2024 + 3600 + i * 100 + 50.25,
    oopsNoCompress,
  }
}

/** Which frontend files pstore-sim writes that the target kernel lists. */
function expectedNames(s: Setup, target: Target): string[] {
  const names = ['console-ramoops-0', 'dmesg-ramoops-0', 'dmesg-ramoops-1', 'pmsg-ramoops-0']
  // only a kernel with the ftrace frontend merges the per-CPU zones into a file
  if (target.custom && s.ftraceSize > 0) names.push('ftrace-ramoops-0')
  return names.sort()
}

// ---------------------------------------------------------------------------------- checks
/** The kernel's listing equals pstore-sim's prediction: names, sizes, bytes, dmesg mtimes. */
function checkListing(t: Tap, files: KernelFile[], pred: Prediction, dmesgTimes?: string[]): void {
  const kernelNames = files.map((f) => f.name).sort()
  const predNames = pred.records.map((r) => r.name).sort()
  t.same(kernelNames, predNames, 'same file names as predicted')
  for (const rec of pred.records) {
    const f = files.find((k) => k.name === rec.name)
    if (!f) continue
    const want = Buffer.from(rec.contentBase64 ?? '', 'base64')
    t.equal(f.size, rec.kernelSize, `${rec.name}: kernel i_size ${f.size} = predicted ${rec.kernelSize}`)
    t.equal(f.content.length, rec.size, `${rec.name}: ${f.content.length} bytes read = predicted ${rec.size}`)
    const d = contentDiff(f.content, want)
    t.ok(d === '', `${rec.name}: content byte for byte${d ? ': kernel vs pstore-sim ' + d : ''}`)
    if (rec.name.startsWith('dmesg-')) t.equal(mtimeOf(f), rec.mtime, `${rec.name}: mtime ${mtimeOf(f)} = record time`)
  }
  if (dmesgTimes) {
    dmesgTimes.forEach((time, i) => {
      const f = files.find((k) => k.name === `dmesg-ramoops-${i}`)
      t.equal(f && mtimeOf(f), time, `dmesg-ramoops-${i}: mtime is the time pstore-sim wrote (${time})`)
    })
  }
}

/**
 * The kernel's region equals pstore-sim's; a custom kernel's console zone (its own boot log) is
 * left out, after checking that it does hold this boot's log.
 */
function checkRegion(t: Tap, target: Target, kernel: Buffer, expected: Buffer, pred: Prediction, what: string): void {
  let a = kernel
  let b = expected
  if (target.custom) {
    const con = pred.zones.find((z) => z.type === 'console')
    // a small console zone wraps: only the end of the boot log is sure to be there (under load a
    // 4 KiB zone lost "Run /init" to later lines), and the kernel's last line is its halt
    if (con)
      t.match(consoleText(kernel, con), /reboot: (Power off not available: )?System halted/, "the console zone holds the kernel's boot log (masked below)")
    a = maskZones(kernel, pred, ['console'])
    b = maskZones(expected, pred, ['console'])
  }
  const d = regionDiff(a, b, pred)
  t.ok(d === '', `${what}${target.custom ? ' (console zone masked)' : ''}${d ? ':\n' + d : ''}`)
}

/**
 * A console zone's text in write order: a full ring starts at the header's `start` and wraps
 * (the halt line itself may straddle the wrap).
 */
function consoleText(region: Buffer, zone: { offset: number; capacity: number }): string {
  const start = region.readUInt32LE(zone.offset + 4)
  const size = region.readUInt32LE(zone.offset + 8)
  const data = region.subarray(zone.offset + 12, zone.offset + 12 + zone.capacity)
  if (size < zone.capacity || start >= zone.capacity) return data.subarray(0, Math.min(size, zone.capacity)).toString('latin1')
  return Buffer.concat([data.subarray(start), data.subarray(0, start)]).toString('latin1')
}

/** Mounts DUMP read-only in pstore-sim: ls/stat/cat show the kernel's listing; DUMP unchanged. */
async function checkMountShows(t: Tap, dir: string, dump: Buffer, setup: Setup, target: Target, kernelFiles: KernelFile[], label: string): Promise<void> {
  const image = path.join(dir, `${label}.bin`)
  fs.writeFileSync(image, dump)
  const sum = sha256(dump)
  const mnt = path.join(dir, `mnt-${label}`)
  fs.mkdirSync(mnt)
  await mountFor(t, image, mnt, ['-o', 'ro', ...kernelViewFlags(setup, target)])
  const names = await ls(mnt)
  t.same(names, kernelFiles.map((f) => f.name).sort(), `${label}: ls shows the kernel's files`)
  const stats = await statFiles(mnt, names)
  for (const f of kernelFiles) {
    const st = stats.find((s) => s.name === f.name)
    if (!st) continue
    // ftrace: the kernel's i_size is the binary size; pstore-sim's mount reports what cat returns
    // (deliberate, README; `inspect` gives the kernel's i_size and case 1 checks it)
    const size = f.name.startsWith('ftrace-') ? f.content.length : f.size
    t.equal(
      st.size,
      size,
      `${label}/${f.name}: stat size ${st.size} = ${f.name.startsWith('ftrace-') ? "the length of the kernel's text" : "kernel's i_size"} ${size}`,
    )
    if (f.name.startsWith('dmesg-')) {
      t.same([st.mtime, st.mtimeNsec], [f.mtimeSec, f.mtimeNsec], `${label}/${f.name}: mtime ${st.mtime}.${st.mtimeNsec} = kernel's ${mtimeOf(f)}`)
    }
    const c = await cat(path.join(mnt, f.name))
    t.equal(c.code, 0, `${label}/${f.name}: cat succeeds`)
    const d = contentDiff(c.stdout, f.content)
    t.ok(d === '' && sha256(c.stdout) === f.sha256, `${label}/${f.name}: cat sha256 = kernel's ${f.sha256.slice(0, 16)}…${d ? ' (' + d + ')' : ''}`)
  }
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, `umount ${u.stderr}`)
  t.equal(sha256(fs.readFileSync(image)), sum, `${label}: the dump is unchanged after the read-only mount`)
}

// ------------------------------------------------------------------------------- preparation
/** pstore-sim's side of a case, computed ahead (queued) while earlier cases boot the kernel. */
interface Prepared {
  setup: Setup
  w: Workload
  dir: string
  /** the image the kernel boots (pstore-sim's writes, maybe flipped bytes) */
  before: Buffer
  pred: Prediction
  /** pstore-sim's region after a boot (+ rm) of `before` */
  expected: Buffer
  /** case 4: the image before the flips, the flips per dmesg zone, the prediction before them */
  clean?: Buffer
  flips?: number[]
  pred0?: Prediction
}

const ECC_SETUPS: Setup[] = [
  { name: 'flip16', memSize: 0x80000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 1, cpus: 1 },
  { name: 'flip32', memSize: 0x40000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0, ecc: 32, cpus: 1 },
]

/** Case 5's setup: three dmesg zones, console, pmsg, no ECC (the zones are crafted by hand). */
const QUIRK_SETUP: Setup = { name: 'quirks', memSize: 0x10000, recordSize: 0x2000, consoleSize: 0x4000, pmsgSize: 0x2000, ftraceSize: 0, ecc: 0, cpus: 1 }

/** Writes a dmesg zone by hand: signature, start = size = DATA's length, DATA (no ECC). */
function craftZone(image: Buffer, offset: number, data: Buffer): void {
  image.writeUInt32LE(0x43474244, offset) // PERSISTENT_RAM_SIG "DBGC"
  image.writeUInt32LE(data.length, offset + 4)
  image.writeUInt32LE(data.length, offset + 8)
  data.copy(image, offset + 12)
}

interface SharedBoot {
  plan: KernelRegion & { cpus: number; region: number; boot: number }
  run: KernelRun
}

/**
 * Groups the planned boots by CPU count (in the order of their first plan) and runs each group as
 * one batch, one group after the other; every label's promise settles with its group.
 */
function shareBoots(
  plans: Array<{ label: string; cpus: number; ready: Promise<KernelRegion> }>,
  runBatch: (cpus: number, regions: KernelRegion[]) => Promise<{ boot: number; runs: KernelRun[] }>,
): Map<string, Promise<SharedBoot>> {
  const out = new Map<string, Promise<SharedBoot>>()
  const groups = new Map<number, typeof plans>()
  for (const p of plans) groups.set(p.cpus, [...(groups.get(p.cpus) ?? []), p])
  let previous: Promise<unknown> = Promise.resolve()
  for (const [cpus, group] of groups) {
    const batch = previous.then(async () => {
      const regions = await Promise.all(group.map((p) => p.ready))
      return { regions, ...(await runBatch(cpus, regions)) }
    })
    previous = batch.catch(() => undefined)
    group.forEach((p, i) => {
      const one = batch.then(({ regions, boot, runs }) => ({ plan: { ...regions[i], cpus, region: i + 1, boot }, run: runs[i] }))
      one.catch(() => undefined) // observed by the case that boots it; a skipped case leaves it
      out.set(p.label, one)
    })
  }
  return out
}

/** Case 1 and 3: pstore-sim formats and writes SETUP's image; its prediction and its own boot (+ rm) of it. */
async function prepareWritten(target: Target, setup: Setup, w: Workload, o: { rm?: string[]; fillTail?: boolean } = {}): Promise<Prepared> {
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await formatAndWrite(image, setup, w, target)
  let pred = await predict(image, setup, target)
  if (o.fillTail && pred.unusedTail.size > 0) {
    // neither side may touch the bytes after the last zone
    const fd = fs.openSync(image, 'r+')
    fs.writeSync(fd, Buffer.alloc(pred.unusedTail.size, 0xa5), 0, pred.unusedTail.size, pred.unusedTail.offset)
    fs.closeSync(fd)
    pred = await predict(image, setup, target)
  }
  const before = fs.readFileSync(image)
  const expected = await simulatedBoot(t, image, setup, dir, target, o.rm)
  return { setup, w, dir, before, pred, expected }
}

/**
 * Case 4: flips bytes inside the used data of both dmesg records, within the correctable limit
 * (E/2 per 128-byte block): block 0 at the limit, block 1 three bytes, the last full used block one.
 */
async function prepareFlipped(target: Target, setup: Setup, w: Workload): Promise<Prepared> {
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await formatAndWrite(image, setup, w, target)
  const clean = fs.readFileSync(image)
  const pred0 = await predict(image, setup, target)
  const max = eccBytes(setup) / 2
  const flipped = Buffer.from(clean)
  const flips: number[] = []
  for (const idx of [0, 1]) {
    const z = pred0.zones.find((zz) => zz.type === 'dmesg' && zz.index === idx)!
    const data = z.offset + 12
    const blocks = Math.floor(z.used / 128)
    if (blocks < 3) throw new Error(`dmesg[${idx}] holds only ${z.used} bytes: too few blocks to flip bytes in`)
    const offsets = new Set<number>()
    for (let k = 0; k < max; k++) offsets.add(data + k * Math.floor(128 / max) + (k % 3))
    for (const k of [5, 77, 126]) offsets.add(data + 128 + k)
    offsets.add(data + (blocks - 1) * 128 + 64)
    ;[...offsets].forEach((o, n) => (flipped[o] ^= [0xff, 0x01, 0x5a, 0x80, 0x10][n % 5]))
    flips.push(offsets.size)
  }
  fs.writeFileSync(image, flipped)
  const pred = await predict(image, setup, target)
  const expected = await simulatedBoot(t, image, setup, dir, target)
  return { setup, w, dir, before: flipped, pred, expected, clean, flips, pred0 }
}

/**
 * Case 5: pstore-sim formats and writes console + pmsg, then dmesg zones are crafted: zone 0 a
 * record whose header has an unpadded microsecond field ("....5-D" = 5 µs), zone 1 text without a
 * "====" header, zone 2 a header and nothing after it.
 */
async function prepareQuirks(target: Target, setup: Setup): Promise<Prepared & { times: string[] }> {
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await cli(['format', image, ...setupFlags(setup, target), '--frontends', 'console,pmsg,ftrace'])
  await cli(['console', image, 'quirks: console text\n'])
  await cli(['pmsg', image, 'quirks: pmsg text\n'])
  const img = fs.readFileSync(image)
  const pred0 = await predict(image, setup, target)
  const dz = pred0.zones.filter((z) => z.type === 'dmesg')
  if (dz.length < 3) throw new Error(`quirk setup has ${dz.length} dmesg zones, need 3`)
  const sec = RTC_2024 + 7200
  craftZone(img, dz[0].offset, Buffer.from(`====${sec}.5-D\nOops#1 Part1\nunpadded usec field\n`))
  craftZone(img, dz[1].offset, Buffer.from('no header here, just text\n'))
  craftZone(img, dz[2].offset, Buffer.from(`====${sec + 1}.000007-D\n`))
  fs.writeFileSync(image, img)
  const pred = await predict(image, setup, target)
  const before = fs.readFileSync(image)
  const expected = await simulatedBoot(t, image, setup, dir, target)
  return { setup, w: workload(setup, 20), dir, before, pred, expected, times: [`${sec}.000005000`] }
}

export interface CompatOptions {
  /** only these case numbers (e.g. [1, 5]); default all */
  only?: number[]
}

/** pstore-sim's side of the cases, queued in the order the cases consume it. */
interface Preparations {
  written: Promise<Prepared>[]
  erase: Promise<Prepared> | null
  flipped: Promise<Prepared>[]
  quirks: Promise<Prepared & { times: string[] }> | null
}

/** Case 3's image and the files removed from it (a custom kernel's merged ftrace file too). */
interface EraseCase {
  setup: Setup
  rm: string[]
}

type Boot = (t: Tap, label: string, o: Omit<Parameters<typeof runKernel>[0], 'kernel'>) => Promise<KernelRun>

/** What every case of one kernel's suite shares. */
interface Suite {
  kernel: KernelSelector
  /** why the kernel cannot run here, if it cannot */
  skip: string | false
  info: KernelInfo | null
  target: Target
  /** the cases' title prefix: `[kernel version]` */
  K: string
  want: (n: number) => boolean
  erase: EraseCase
  /** null when the suite is skipped (nothing queued) */
  prepared: Preparations | null
  boot: Boot
  counter: { boots: number; started: number }
}

/** Queues pstore-sim's side of every wanted case now, in the order the cases consume it. */
function queuePreparations(target: Target, want: (n: number) => boolean, erase: EraseCase): Preparations {
  const pipeline = new Pipeline()
  return {
    written: want(1)
      ? SETUPS.map(({ setup, oopsNoCompress }, i) => pipeline.add(() => prepareWritten(target, setup, workload(setup, i, oopsNoCompress), { fillTail: true })))
      : [],
    erase: want(3) ? pipeline.add(() => prepareWritten(target, erase.setup, workload(erase.setup, 7), { rm: erase.rm })) : null,
    flipped: want(4) ? ECC_SETUPS.map((setup, i) => pipeline.add(() => prepareFlipped(target, setup, workload(setup, 10 + i, i === 0)))) : [],
    quirks: want(5) ? pipeline.add(() => prepareQuirks(target, QUIRK_SETUP)) : null,
  }
}

/**
 * A kernel with ramoops as a module boots once per CPU count for the list-only cases (1, 3, 4,
 * 5): runKernelBatch insmods ramoops on each region in turn, which gives each the probe and read
 * pass of a fresh boot. Under TCG that saves seconds a boot; the custom kernels (ramoops built
 * in) boot once per case.
 */
function sharedBootPlans(
  prepared: Preparations | null,
  info: KernelInfo | null,
  erase: EraseCase,
): Array<{ label: string; cpus: number; ready: Promise<KernelRegion> }> {
  if (!prepared || !info || info.builtinRamoops) return []
  return [
    ...prepared.written.map((w, i) => ({
      label: SETUPS[i].setup.name,
      cpus: SETUPS[i].setup.cpus,
      ready: w.then((p) => ({ image: p.before, params: kernelParams(p.setup), actions: ['list'] })),
    })),
    ...(prepared.erase
      ? [
          {
            label: 'rm',
            cpus: erase.setup.cpus,
            ready: prepared.erase.then((p) => ({ image: p.before, params: kernelParams(p.setup), actions: [...erase.rm.map((n) => `rm:${n}`), 'list'] })),
          },
        ]
      : []),
    ...prepared.flipped.map((f, i) => ({
      label: ECC_SETUPS[i].name,
      cpus: ECC_SETUPS[i].cpus,
      ready: f.then((p) => ({ image: p.before, params: kernelParams(p.setup), actions: ['list'] })),
    })),
    ...(prepared.quirks
      ? [{ label: 'quirks', cpus: 1, ready: prepared.quirks.then((p) => ({ image: p.before, params: kernelParams(QUIRK_SETUP), actions: ['list'] })) }]
      : []),
  ]
}

/** A case's boot: its region of a shared boot when one was planned for its label, else a boot of its own. */
function booter(kernel: KernelSelector, shared: Map<string, Promise<SharedBoot>>, counter: Suite['counter']): Boot {
  return async (t, label, o) => {
    const planned = shared.get(label)
    if (planned) {
      const { plan, run } = await planned
      const same = plan.image.equals(o.image as Buffer) && plan.actions.join(',') === o.actions.join(',') && plan.cpus === (o.cpus ?? 1)
      if (!same) throw new Error(`boot ${label}: not the boot planned to share a kernel (image, actions or CPUs differ)`)
      t.comment(
        `${label} (actions ${o.actions.join(',')}): region ${plan.region} of shared boot ${plan.boot}, /init after ${run.timings.toInitMs} ms, total ${run.timings.totalMs} ms`,
      )
      return run
    }
    const r = await runKernel({ ...o, kernel })
    counter.boots++
    t.comment(`boot ${counter.boots} (${label}, actions ${o.actions.join(',')}): /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
    return r
  }
}

/** The kernel's suite: whether it runs, its target, pstore-sim's side queued, the boots planned. */
async function suiteFor(kernel: KernelSelector, opts: CompatOptions): Promise<Suite> {
  const { skip, info } = await kernelSuite(kernel)
  const target: Target = info ? targetOf(info) : { kernel, version: '0.0.0', custom: kernel.endsWith('-custom'), systemMap: '' }
  const want = (n: number): boolean => !opts.only || opts.only.includes(n)
  const counter = { boots: 0, started: Date.now() }
  const erase: EraseCase = target.custom
    ? { setup: { ...SETUPS[0].setup, name: 'erase' }, rm: ['dmesg-ramoops-1', 'ftrace-ramoops-0'] }
    : { setup: { ...SETUPS[1].setup, name: 'erase' }, rm: ['dmesg-ramoops-1'] }
  // queued now (nothing queued when the suite is skipped)
  const prepared = skip ? null : queuePreparations(target, want, erase)
  const shared = shareBoots(sharedBootPlans(prepared, info, erase), async (cpus, regions) => {
    const runs = await runKernelBatch({ kernel, cpus, regions })
    counter.boots++
    return { boot: counter.boots, runs }
  })
  const K = `[${kernel}${info ? ' ' + info.kernelVersion : ''}]`
  return { kernel, skip, info, target, K, want, erase, prepared, boot: booter(kernel, shared, counter), counter }
}

/** Registers every case that applies to KERNEL (see the file's comment). */
export async function compatSuite(kernel: KernelSelector, opts: CompatOptions = {}): Promise<void> {
  // a custom kernel's first preparation builds it (minutes on 2 cores): more than tap's 900 s per file
  if (kernel.endsWith('-custom')) t.setTimeout(45 * 60_000)
  const s = await suiteFor(kernel, opts)
  if (s.want(1)) caseWritten(s)
  if (s.want(2)) (s.target.custom ? caseKernelWritesFrontends : caseKernelWritesDumps)(s)
  if (s.want(3)) caseErase(s)
  if (s.want(4)) caseEcc(s)
  if (s.want(5)) caseQuirks(s)
  caseTiming(s)
}

// ------------------------------------------------------------------------------------ cases
/** Case 1: pstore-sim writes each of SETUPS, the kernel reads. */
function caseWritten(s: Suite): void {
  const { K, skip, info } = s
  t.test(`${K} 1. pstore-sim writes, the kernel reads`, { skip }, async (t) => {
    t.comment(`kernel: ${info?.package} ${info?.version} (${info?.release}); ${info?.qemuVersion}`)
    for (const [i, { what, setup }] of SETUPS.entries()) await t.test(what, (t) => checkWritten(t, s, i, setup))
  })
}

/**
 * Case 1 for SETUPS[i]: the kernel's listing is pstore-sim's prediction, and its boot leaves the
 * region pstore-sim's mount + umount leaves.
 */
async function checkWritten(t: Tap, s: Suite, i: number, setup: Setup): Promise<void> {
  const { target, boot, prepared } = s
  const { w, before, pred, expected } = await prepared!.written[i]
  if (setup.name === 'tail')
    t.ok(pred.unusedTail.size > 0, `unused tail of ${pred.unusedTail.size} bytes at 0x${pred.unusedTail.offset.toString(16)} (filled with 0xa5)`)
  if (setup.name === 'odd') {
    const ft = pred.zones.filter((z) => z.type === 'ftrace')
    t.equal(ft.length, 3, 'three per-CPU ftrace zones')
    t.ok(
      ft.every((z) => (z.size & (z.size - 1)) !== 0),
      `per-CPU ftrace zones of ${ft.map((z) => '0x' + z.size.toString(16)).join(', ')} bytes: not powers of two`,
    )
  }
  // guard against a vacuous comparison: pstore-sim wrote what the kernel can read
  t.same(pred.records.map((r) => r.name).sort(), expectedNames(setup, target), 'pstore-sim predicts two dmesg records and the frontend files this kernel lists')
  if (setup.ftraceSize > 0)
    t.ok(
      pred.zones.filter((z) => z.type === 'ftrace').every((z) => z.used > 0),
      'pstore-sim wrote every per-CPU ftrace zone',
    )
  const changed = changedParts(before, expected, pred)
  if (target.custom)
    t.same(
      changed.filter((p) => !p.startsWith('console[')),
      zapParts(['pmsg[0]'], pred.setup.eccSize),
      "pstore-sim's boot zaps pmsg and touches nothing else but the console zone",
    )
  else t.same(changed, zapParts(['console[0]', 'pmsg[0]'], pred.setup.eccSize), "pstore-sim's boot zaps the console and pmsg zones and nothing else")

  const r = await boot(t, setup.name, { image: before, params: kernelParams(setup), actions: ['list'], cpus: setup.cpus })
  t.equal(r.panicked, false, 'no panic')
  t.equal(r.listings.length, 1, 'one listing')
  checkListing(t, r.listings[0]?.files ?? [], pred, [headerTime(w.oopsTime), headerTime(w.panicTime)])
  const oops = r.listings[0]?.files.find((f) => f.name === 'dmesg-ramoops-0')
  t.match(oops?.content.toString('latin1') ?? '', /^Oops#1 Part1\n/, 'dmesg-ramoops-0 is the oops')
  checkRegion(t, target, r.region, expected, pred, 'region after the kernel boot = pstore-sim mount (rw) + umount')
  if (pred.unusedTail.size > 0) {
    t.ok(
      r.region.subarray(pred.unusedTail.offset).equals(before.subarray(pred.unusedTail.offset)),
      `the kernel left the ${pred.unusedTail.size}-byte unused tail alone`,
    )
  }
}

/** Case 2 on a Debian kernel (no frontends): the kernel writes a panic and two oopses, pstore-sim reads. */
function caseKernelWritesDumps(s: Suite): void {
  const { K, skip, target, boot } = s
  t.test(`${K} 2. the kernel writes (panic, oopses), pstore-sim reads`, { skip }, async (t) => {
    const setup: Setup = { name: 'kw', memSize: 0x80000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 1, cpus: 1 }
    const dir = testDir(t)
    const image = path.join(dir, 'kw.img')
    await cli(['format', image, ...setupFlags(setup, target), '--frontends', 'none'])
    const formatted = fs.readFileSync(image)

    const r1 = await boot(t, 'panic', { image: formatted, params: kernelParams(setup), actions: ['kmsg:compat+marker+before+the+panic', 'panic'] })
    t.equal(r1.panicked, true, 'boot 1 panicked')
    const r2 = await boot(t, 'list + two oopses', {
      image: r1.region,
      params: kernelParams(setup),
      actions: ['list', 'kmsg:compat+marker+before+the+oopses', 'oops', 'oops'],
    })
    t.equal(r2.panicked, false, 'boot 2 survived its oopses')
    const r3 = await boot(t, 'list', { image: r2.region, params: kernelParams(setup), actions: ['list'] })

    const afterPanic = r2.listings[0]?.files ?? []
    const afterOops = r3.listings[0]?.files ?? []
    t.same(
      afterPanic.map((f) => f.name),
      ['dmesg-ramoops-0'],
      'the kernel lists its panic record',
    )
    t.match(
      afterPanic[0]?.content.toString('latin1') ?? '',
      /^Panic#1 Part1\n[^]*compat marker before the panic[^]*\nECC: No errors detected\n$/,
      'panic record with the marker and the ECC notice',
    )
    t.same(
      afterOops.map((f) => f.name),
      ['dmesg-ramoops-0', 'dmesg-ramoops-1'],
      'the kernel lists its two oops records (zone 0 reused at the next boot)',
    )
    t.match(afterOops[0]?.content.toString('latin1') ?? '', /^Oops#1 Part1\n[^]*compat marker before the oopses/, 'dmesg-ramoops-0: Oops#1')
    t.match(afterOops[1]?.content.toString('latin1') ?? '', /^Oops#2 Part1\n/, 'dmesg-ramoops-1: Oops#2')

    await t.test('panic dump mounted read-only shows the kernel listing', (t) => checkMountShows(t, dir, r1.region, setup, target, afterPanic, 'panic-dump'))
    await t.test('oops dump mounted read-only shows the kernel listing', (t) => checkMountShows(t, dir, r2.region, setup, target, afterOops, 'oops-dump'))
  })
}

/** Case 2 on a custom kernel: it writes console, pmsg, ftrace, an oops and a panic in each variant; pstore-sim reads. */
function caseKernelWritesFrontends(s: Suite): void {
  const { K, skip } = s
  t.test(`${K} 2. the kernel writes console, pmsg, ftrace, an oops and a panic; pstore-sim reads`, { skip }, async (t) => {
    const variants: Array<Setup & { trace: boolean }> = [
      { name: 'kw1', memSize: 0x100000, recordSize: 0x8000, consoleSize: 0x8000, pmsgSize: 0x2000, ftraceSize: 0x4000, ecc: 0, cpus: 1, trace: true },
      // two per-CPU ftrace zones, each CPU writing (the guest traces vfs_write only: tracing every
      // function with 2 CPUs oopsed in text_poke_bp_batch under TCG)
      { name: 'kw2', memSize: 0x100000, recordSize: 0x8000, consoleSize: 0x8000, pmsgSize: 0x2000, ftraceSize: 0x4000, ecc: 0, cpus: 2, trace: true },
      // the same with ECC on every zone
      { name: 'kw2-ecc', memSize: 0x100000, recordSize: 0x8000, consoleSize: 0x8000, pmsgSize: 0x2000, ftraceSize: 0x4000, ecc: 1, cpus: 2, trace: true },
    ]
    for (const setup of variants)
      await t.test(`${setup.cpus} CPU${setup.cpus > 1 ? 's' : ''}, ECC ${eccBytes(setup) || 'off'}${setup.trace ? ', ftrace recorded' : ''}`, (t) =>
        checkKernelWritesFrontends(t, s, setup),
      )
  })
}

/** Case 2 on a custom kernel, one variant: its crash boot, the next boot's listing, the dump mounted read-only. */
async function checkKernelWritesFrontends(t: Tap, s: Suite, setup: Setup & { trace: boolean }): Promise<void> {
  const { target, boot } = s
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await cli(['format', image, ...setupFlags(setup, target), '--frontends', 'console,pmsg,ftrace'])
  const r1 = await boot(t, `${setup.name} writes`, {
    image: fs.readFileSync(image),
    params: kernelParams(setup),
    cpus: setup.cpus,
    actions: [
      'kmsg:compat+marker+before+the+crash',
      `pmsg:pmsg+from+the+kernel+${setup.name}`,
      'pmsg:a+second+pmsg+write',
      ...(setup.trace ? ['ftrace:on', 'kmsg-cpus:traced', 'ftrace:off'] : []),
      'oops',
      'panic',
    ],
  })
  t.equal(r1.panicked, true, 'boot 1 ended in the panic')
  for (const ev of ['PMSG ok', ...(setup.trace ? ['FTRACE ok 1', 'FTRACE ok 0'] : [])]) t.ok(r1.events.includes(ev), `guest: ${ev}`)
  const r2 = await boot(t, `${setup.name} lists`, { image: r1.region, params: kernelParams(setup), cpus: setup.cpus, actions: ['list'] })
  const files = r2.listings[0]?.files ?? []
  const names = files.map((f) => f.name)
  t.same(
    names.filter((n) => setup.trace || !n.startsWith('ftrace-')),
    ['console-ramoops-0', 'dmesg-ramoops-0', 'dmesg-ramoops-1', ...(setup.trace ? ['ftrace-ramoops-0'] : []), 'pmsg-ramoops-0'],
    "the next boot lists the frontends' files and two dmesg records",
  )
  const text = (n: string): string => files.find((f) => f.name === n)?.content.toString('latin1') ?? ''
  t.match(text('dmesg-ramoops-0'), /^Oops#1 Part1\n/, 'dmesg-ramoops-0: the oops')
  t.match(text('dmesg-ramoops-1'), /^Panic#2 Part1\n[^]*compat marker before the crash/, 'dmesg-ramoops-1: the panic')
  t.match(text('console-ramoops-0'), /compat marker before the crash/, "console-ramoops-0: boot 1's console")
  t.match(text('pmsg-ramoops-0'), new RegExp(`^pmsg from the kernel ${setup.name}\na second pmsg write\n`), 'pmsg-ramoops-0: both writes')
  // (with ECC the text starts at file size % 24: the first line may be a garbled record)
  // With ECC the kernel frames the merged records from (file size % 24), and the ECC notice it
  // appends shifts that: its text is misaligned records. pstore-sim must show the same bytes,
  // which checkMountShows checks; the per-CPU text is checked without ECC.
  if (setup.trace && !setup.ecc) {
    const cpusSeen = new Set(
      [...text('ftrace-ramoops-0').matchAll(/(?:^|\n)CPU:(\d+) ts:\d+ [0-9a-f]{8,} {2}[0-9a-f]{8,} {2}vfs_write <- \S+(?=\n)/g)].map((m) => m[1]),
    )
    t.same(
      [...cpusSeen].sort(),
      Array.from({ length: setup.cpus }, (_, c) => String(c)),
      `ftrace-ramoops-0: vfs_write records from each of the ${setup.cpus} CPUs, as text`,
    )
    for (let c = 0; c < setup.cpus; c++) t.ok(r1.events.includes(`KMSG ok cpu ${c}`), `guest: a write from CPU ${c}`)
  }
  if (setup.ecc) t.match(text('dmesg-ramoops-1'), /\nECC: No errors detected\n$/, 'the panic record ends with the ECC notice')
  await t.test('the crash dump mounted read-only shows the kernel listing', (t) =>
    checkMountShows(t, dir, r1.region, setup, target, files, `${setup.name}-dump`),
  )
}

/** Case 3: erase both ways, rm through pstore-sim = rm in the guest. */
function caseErase(s: Suite): void {
  const { K, skip, target, boot, prepared } = s
  const ERASE_RM = s.erase.rm
  t.test(`${K} 3. erase both ways: rm ${ERASE_RM.join(', ')} through pstore-sim = rm in the guest`, { skip }, async (t) => {
    const { setup, before, pred, expected } = await prepared!.erase!
    t.same(
      pred.records.filter((r) => r.name.startsWith('dmesg-')).map((r) => r.name),
      ['dmesg-ramoops-0', 'dmesg-ramoops-1'],
      'two dmesg records',
    )
    const changed = changedParts(before, expected, pred)
    if (target.custom) {
      // which zones one rm of the merged ftrace file clears: only the first CPU's (the merged record
      // has id 0 and erase zaps fprzs[id]; 6.1.192-custom agrees), ftrace[1] keeps its data
      t.equal(pred.zones.filter((z) => z.type === 'ftrace').length, 2, 'two per-CPU ftrace zones')
      t.same(
        changed.filter((p) => !p.startsWith('console[')),
        zapParts(['dmesg[1]', 'ftrace[0]', 'pmsg[0]'], 0),
        "pstore-sim's boot + rm zap pmsg, dmesg[1] and ftrace[0] only (console: the boot log)",
      )
    } else t.same(changed, zapParts(['console[0]', 'dmesg[1]', 'pmsg[0]'], 0), "pstore-sim's boot + rm zap console, pmsg and dmesg[1], nothing else")

    const r = await boot(t, 'rm', { image: before, params: kernelParams(setup), cpus: setup.cpus, actions: [...ERASE_RM.map((n) => `rm:${n}`), 'list'] })
    for (const n of ERASE_RM) t.ok(r.events.includes(`RM ok name=${n}`), `rm ${n} in the guest succeeded`)
    t.same(
      (r.listings[0]?.files ?? []).map((f) => f.name),
      ['console-ramoops-0', 'dmesg-ramoops-0', 'pmsg-ramoops-0'],
      'the guest lists the rest',
    )
    checkRegion(t, target, r.region, expected, pred, 'region after boot + rm in the guest = after pstore-sim mount + rm + umount')
  })
}

/** Case 4: ECC, flipped bytes are corrected as pstore-sim predicts. */
function caseEcc(s: Suite): void {
  const { K, skip } = s
  t.test(`${K} 4. ECC: flipped bytes are corrected as pstore-sim predicts`, { skip }, async (t) => {
    for (const [i, setup] of ECC_SETUPS.entries()) {
      const E = eccBytes(setup)
      await t.test(`ECC ${E}: up to ${E / 2} bytes per 128-byte block`, (t) => checkEcc(t, s, i, setup))
    }
  })
}

/** Case 4 for ECC_SETUPS[i]: pstore-sim's prediction of the corrections, the kernel's listing and region. */
async function checkEcc(t: Tap, s: Suite, i: number, setup: Setup): Promise<void> {
  const { target, boot, prepared } = s
  const { w, before, pred, expected, clean, flips, pred0 } = await prepared!.flipped[i]
  const notice = (n: number): string => `\nECC: ${n} Corrected bytes, 0 unrecoverable blocks\n`
  for (const idx of [0, 1]) {
    const z0 = pred0!.zones.find((zz) => zz.type === 'dmesg' && zz.index === idx)!
    const z = pred.zones.find((zz) => zz.type === 'dmesg' && zz.index === idx)!
    t.comment(`dmesg[${idx}]: ${z0.used} bytes used, ${flips![idx]} bytes flipped`)
    t.same(z.ecc, { correctedBytes: flips![idx], badBlocks: 0 }, `pstore-sim: dmesg[${idx}] ${flips![idx]} corrected bytes, 0 bad blocks`)
    const rec = pred.records.find((r) => r.name === `dmesg-ramoops-${idx}`)
    t.ok(
      Buffer.from(rec?.contentBase64 ?? '', 'base64')
        .toString('latin1')
        .endsWith(notice(flips![idx])),
      `pstore-sim predicts the notice "ECC: ${flips![idx]} Corrected bytes, 0 unrecoverable blocks"`,
    )
  }

  const r = await boot(t, setup.name, { image: before, params: kernelParams(setup), actions: ['list'], cpus: setup.cpus })
  const files = r.listings[0]?.files ?? []
  checkListing(t, files, pred, [headerTime(w.oopsTime), headerTime(w.panicTime)])
  for (const idx of [0, 1]) {
    const f = files.find((k) => k.name === `dmesg-ramoops-${idx}`)
    t.ok(
      f?.content.toString('latin1').endsWith(notice(flips![idx])),
      `kernel: dmesg-ramoops-${idx} ends with "ECC: ${flips![idx]} Corrected bytes, 0 unrecoverable blocks"`,
    )
  }
  checkRegion(t, target, r.region, expected, pred, 'region after the kernel boot (corrected in RAM) = pstore-sim mount + umount')
  const dmesgEnd = Math.max(...pred.zones.filter((z) => z.type === 'dmesg').map((z) => z.offset + z.size))
  const d = regionDiff(r.region.subarray(0, dmesgEnd), clean!.subarray(0, dmesgEnd), pred, ['kernel', 'before the flips'])
  t.ok(d === '', `the kernel wrote the corrections back: dmesg zones equal the image before the flips${d ? ':\n' + d : ''}`)
}

/** Case 5: read-pass quirks on crafted zones. */
function caseQuirks(s: Suite): void {
  const { K, skip, target, boot, prepared } = s
  t.test(`${K} 5. read-pass quirks: unpadded µs field, a zone without a header, a header-only zone`, { skip }, async (t) => {
    const { before, pred, expected, times } = await prepared!.quirks!
    t.comment(`pstore-sim predicts: ${pred.records.map((r) => `${r.name} (${r.size} B, mtime ${r.mtime})`).join(', ') || 'no files'}`)
    const r = await boot(t, 'quirks', { image: before, params: kernelParams(QUIRK_SETUP), actions: ['list'] })
    const files = r.listings[0]?.files ?? []
    t.comment(`the kernel lists: ${files.map((f) => `${f.name} (${f.size} B, mtime ${mtimeOf(f)})`).join(', ') || 'no files'}`)
    const rec0 = files.find((f) => f.name === 'dmesg-ramoops-0')
    t.equal(rec0 && mtimeOf(rec0), times[0], 'the kernel reads "….5-D" as 5 µs')
    t.notOk(
      files.some((f) => f.name === 'dmesg-ramoops-1'),
      'the zone without a header is no file',
    )
    // a record of size 0 ends pstore's read loop: the console and pmsg zones after it are never read
    t.same(
      files.map((f) => f.name),
      ['dmesg-ramoops-0'],
      'the header-only zone ends the read pass: no console or pmsg file',
    )
    const z1 = pred.zones.find((z) => z.type === 'dmesg' && z.index === 1)!
    t.same([r.region.readUInt32LE(z1.offset + 4), r.region.readUInt32LE(z1.offset + 8)], [0, 0], 'the kernel zapped the header-less zone (start 0, size 0)')
    checkListing(t, files, pred)
    checkRegion(t, target, r.region, expected, pred, 'region after the kernel boot = pstore-sim mount + umount (the header-less zone zapped)')
  })
}

/** How many boots the suite took and how long. */
function caseTiming(s: Suite): void {
  const { K, skip, kernel, counter } = s
  t.test(`${K} timing`, { skip }, async (t) => {
    t.comment(`${kernel}: ${counter.boots} kernel boots, ${((Date.now() - counter.started) / 1000).toFixed(1)} s in all`)
    t.ok(counter.boots > 0, `${counter.boots} boots`)
  })
}

/** Case 0 (no kernel): the region-diff report names offsets, zone and part. */
export function regionDiffSelfTest(): void {
  t.test('0. a region mismatch is reported with offsets and zones (no kernel needed)', async (t) => {
    const setup = ECC_SETUPS[0] // ECC 16
    const target: Target = { kernel: '6.1-debian', version: '6.1.192', custom: false, systemMap: '' }
    const dir = testDir(t)
    const image = path.join(dir, 'diff.img')
    await cli(['format', image, ...setupFlags(setup, target)])
    const pred = await predict(image, setup, target)
    const a = fs.readFileSync(image)
    const b = Buffer.from(a)
    const z = (type: string, index = 0) => pred.zones.find((zz) => zz.type === type && zz.index === index)!
    const d1 = z('dmesg', 1)
    const con = z('console')
    b[d1.offset + 4] ^= 1 // header.start
    b[d1.offset + 5] ^= 1
    b[z('dmesg').offset + 12 + 300] ^= 1 // data block 2
    b[con.offset + 12 + con.capacity + 16 + 3] ^= 1 // parity of data block 1
    b[con.offset + con.size - 1] ^= 1 // header parity
    const msg = regionDiff(a, b, pred)
    t.comment(msg)
    t.match(msg, /^5 bytes differ in 4 runs:/, 'counts bytes and runs')
    t.match(
      msg,
      new RegExp(
        `0x${(d1.offset + 4).toString(16)}\\.\\.0x${(d1.offset + 5).toString(16)} \\(2 B\\) in dmesg\\[1\\]@0x${d1.offset.toString(16)} header\\.start`,
      ),
      'header field of dmesg[1]',
    )
    t.match(msg, /in dmesg\[0\]@0x0 data\+300 \(block 2\)/, 'data offset and ECC block')
    t.match(msg, /in console\[0\]@0x[0-9a-f]+ data parity of block 1/, 'data parity')
    t.match(msg, /in console\[0\]@0x[0-9a-f]+ header parity/, 'header parity')
    t.equal(regionDiff(a, Buffer.from(a), pred), '', 'equal regions: empty report')
  })
}
