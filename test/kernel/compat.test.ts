/**
 * Issue 5: pstore-sim and Debian's real 6.1.192 kernel on the same region images, both ways.
 *
 * 1. pstore-sim writes → kernel reads (five setups): the kernel's listing equals
 *    `inspect --json --content --exact-names --frontends none`, and the kernel's boot changes
 *    exactly the bytes a pstore-sim mount (rw, --frontends none) + umount changes.
 * 2. kernel writes → pstore-sim reads: a kernel panic, then two oopses in the next boot; each dump
 *    mounted read-only in pstore-sim shows what the kernel's next boot lists (ls/stat/cat), and the
 *    dump is not modified.
 * 3. erase both ways: `rm` through a pstore-sim mount and `rm` in the guest give the same region.
 * 4. ECC: bytes flipped within the correctable limit are corrected by the kernel exactly as
 *    pstore-sim predicts (notice text, counts, the corrected bytes written back in RAM).
 *
 * 11 boots of ~7-11 s each; pstore-sim's work for later cases (format, writes, predictions,
 * simulated boots) runs in a queue that overlaps the current boot. See test/kernel/README.md.
 */
import t, { type Test } from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { kernelInfo, kernelSkipReason, runKernel, type KernelFile, type KernelRun } from './harness.js'
import { cat, ls, pstoreSim, sha256, statFiles } from '../helpers/mount.js'
import {
  cli,
  contentDiff,
  eccBytes,
  formatAndWrite,
  headerTime,
  kernelParams,
  kernelViewFlags,
  mountFor,
  Pipeline,
  changedParts,
  zapParts,
  mtimeOf,
  predict,
  regionDiff,
  setupFlags,
  simulatedBoot,
  type Prediction,
  type Setup,
  type Workload,
  testDir,
} from './compat-helpers.js'

type Tap = Test

// ------------------------------------------------------------------------------------- skip
const skip = await kernelSkipReason()
if (skip && process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(`kernel suite required but: ${skip}`)

const started = Date.now()
let boots = 0
async function boot(t: Tap, label: string, opts: Parameters<typeof runKernel>[0]): Promise<KernelRun> {
  const r = await runKernel(opts)
  boots++
  t.comment(`boot ${boots} (${label}, actions ${opts.actions.join(',')}): /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
  return r
}

// ------------------------------------------------------------------------------------- setups
const RTC_2024 = Date.UTC(2024, 0, 1) / 1000

const SETUPS: Array<{ what: string; setup: Setup; oopsNoCompress?: boolean }> = [
  {
    what: '(a)+(f) demo layout, ftrace per CPU (2 CPUs): 6.1 zone order dmesg, console, ftrace, pmsg',
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
    what: '(e) unused tail: record 0x7000 leaves a remainder, the tail holds a pattern',
    setup: { name: 'tail', memSize: 0x100000, recordSize: 0x7000, consoleSize: 0x4000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 0, cpus: 1 },
    oopsNoCompress: true,
  },
]

function workload(s: Setup, i: number, oopsNoCompress = false): Workload {
  const ftrace: string[] = []
  for (let n = 0; n < 6; n++) ftrace.push(`${n % s.cpus} ffffffff8100${(0x1000 + n * 0x40).toString(16)} ffffffff8120${(0x2000 + n * 0x10).toString(16)}`)
  return {
    console: `compat ${s.name}: console line 1\nconsole line 2 with some text\nconsole line 3\n`,
    pmsg: `compat ${s.name}: a pmsg message\n`,
    ftrace: ftrace.join('\n') + '\n',
    oopsTime: RTC_2024 + 3600 + i * 100 + 0.123456,
    panicTime: RTC_2024 + 3600 + i * 100 + 50.25,
    oopsNoCompress,
  }
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

function checkRegion(t: Tap, kernel: Buffer, expected: Buffer, pred: Prediction, what: string): void {
  const d = regionDiff(kernel, expected, pred)
  t.ok(d === '', `${what}${d ? ':\n' + d : ''}`)
}

// ---------------------------------------------------------------------------------- 0
t.test('0. a region mismatch is reported with offsets and zones (no kernel needed)', async (t) => {
  const setup = SETUPS[2].setup // ECC 16
  const dir = testDir(t)
  const image = path.join(dir, 'diff.img')
  await cli(['format', image, ...setupFlags(setup)])
  const pred = await predict(image, setup)
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
  t.match(msg, new RegExp(`0x${(d1.offset + 4).toString(16)}\\.\\.0x${(d1.offset + 5).toString(16)} \\(2 B\\) in dmesg\\[1\\]@0x${d1.offset.toString(16)} header\\.start`), 'header field of dmesg[1]')
  t.match(msg, /in dmesg\[0\]@0x0 data\+300 \(block 2\)/, 'data offset and ECC block')
  t.match(msg, /in console\[0\]@0x[0-9a-f]+ data parity of block 1/, 'data parity')
  t.match(msg, /in console\[0\]@0x[0-9a-f]+ header parity/, 'header parity')
  t.equal(regionDiff(a, Buffer.from(a), pred), '', 'equal regions: empty report')
})

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

const pipeline = new Pipeline()

/** pstore-sim writes a workload; with FILL_TAIL the unused tail gets a 0xa5 pattern. */
async function prepareWritten(setup: Setup, w: Workload, opts: { rm?: string[]; fillTail?: boolean } = {}): Promise<Prepared> {
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await formatAndWrite(image, setup, w)
  let pred = await predict(image, setup)
  if (opts.fillTail && pred.unusedTail.size > 0) {
    // neither side may touch the bytes after the last zone
    const fd = fs.openSync(image, 'r+')
    fs.writeSync(fd, Buffer.alloc(pred.unusedTail.size, 0xa5), 0, pred.unusedTail.size, pred.unusedTail.offset)
    fs.closeSync(fd)
    pred = await predict(image, setup)
  }
  const before = fs.readFileSync(image)
  const expected = await simulatedBoot(t, image, setup, dir, opts.rm)
  return { setup, w, dir, before, pred, expected }
}

/**
 * Case 4: flips bytes inside the used data of both dmesg records, within the correctable limit
 * (E/2 per 128-byte block): block 0 at the limit, block 1 three bytes, the last full used block one.
 */
async function prepareFlipped(setup: Setup, w: Workload): Promise<Prepared> {
  const dir = testDir(t)
  const image = path.join(dir, `${setup.name}.img`)
  await formatAndWrite(image, setup, w)
  const clean = fs.readFileSync(image)
  const pred0 = await predict(image, setup)
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
  const pred = await predict(image, setup)
  const expected = await simulatedBoot(t, image, setup, dir)
  return { setup, w, dir, before: flipped, pred, expected, clean, flips, pred0 }
}

const ECC_SETUPS: Setup[] = [
  { name: 'flip16', memSize: 0x80000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 1, cpus: 1 },
  { name: 'flip32', memSize: 0x40000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0, ecc: 32, cpus: 1 },
]
const ERASE_SETUP: Setup = { ...SETUPS[1].setup, name: 'erase' }

// queued now, in the order the cases consume them (nothing queued when the suite is skipped)
const prepared = skip
  ? null
  : {
      written: SETUPS.map(({ setup, oopsNoCompress }, i) => pipeline.add(() => prepareWritten(setup, workload(setup, i, oopsNoCompress), { fillTail: true }))),
      erase: pipeline.add(() => prepareWritten(ERASE_SETUP, workload(ERASE_SETUP, 7), { rm: ['dmesg-ramoops-1'] })),
      flipped: ECC_SETUPS.map((setup, i) => pipeline.add(() => prepareFlipped(setup, workload(setup, 10 + i, i === 0)))),
    }

// ---------------------------------------------------------------------------------- 1
t.test('1. pstore-sim writes, the kernel reads', { skip }, async (t) => {
  const info = kernelInfo()
  t.comment(`kernel: ${info?.package} ${info?.version}; ${info?.qemuVersion}`)
  for (const [i, { what, setup }] of SETUPS.entries()) {
    await t.test(what, async (t) => {
      const { w, before, pred, expected } = await prepared!.written[i]
      if (setup.name === 'tail') t.ok(pred.unusedTail.size > 0, `unused tail of ${pred.unusedTail.size} bytes at 0x${pred.unusedTail.offset.toString(16)} (filled with 0xa5)`)
      // guard against a vacuous comparison: pstore-sim wrote what the kernel can read
      t.same(
        pred.records.map((r) => r.name).sort(),
        ['console-ramoops-0', 'dmesg-ramoops-0', 'dmesg-ramoops-1', 'pmsg-ramoops-0'],
        'pstore-sim predicts two dmesg records, console and pmsg (no ftrace file: no frontend)',
      )
      if (setup.ftraceSize > 0) t.ok(pred.zones.filter((z) => z.type === 'ftrace').every((z) => z.used > 0), 'pstore-sim wrote every per-CPU ftrace zone')
      t.same(changedParts(before, expected, pred), zapParts(['console[0]', 'pmsg[0]'], pred.setup.eccSize), 'pstore-sim\'s boot zaps the console and pmsg zones and nothing else')

      const r = await boot(t, setup.name, { image: before, params: kernelParams(setup), actions: ['list'], cpus: setup.cpus })
      t.equal(r.panicked, false, 'no panic')
      t.equal(r.listings.length, 1, 'one listing')
      checkListing(t, r.listings[0]?.files ?? [], pred, [headerTime(w.oopsTime), headerTime(w.panicTime)])
      const oops = r.listings[0]?.files.find((f) => f.name === 'dmesg-ramoops-0')
      t.match(oops?.content.toString('latin1') ?? '', /^Oops#1 Part1\n/, 'dmesg-ramoops-0 is the oops')
      checkRegion(t, r.region, expected, pred, 'region after the kernel boot = pstore-sim mount (rw, --frontends none) + umount')
      if (pred.unusedTail.size > 0) {
        t.ok(r.region.subarray(pred.unusedTail.offset).equals(before.subarray(pred.unusedTail.offset)), `the kernel left the ${pred.unusedTail.size}-byte unused tail alone`)
      }
    })
  }
})

// ---------------------------------------------------------------------------------- 2
/** Mounts DUMP read-only in pstore-sim: ls/stat/cat show the kernel's listing; DUMP unchanged. */
async function checkMountShows(t: Tap, dir: string, dump: Buffer, setup: Setup, kernelFiles: KernelFile[], label: string): Promise<void> {
  const image = path.join(dir, `${label}.bin`)
  fs.writeFileSync(image, dump)
  const sum = sha256(dump)
  const mnt = path.join(dir, `mnt-${label}`)
  fs.mkdirSync(mnt)
  await mountFor(t, image, mnt, ['-o', 'ro', ...kernelViewFlags(setup)])
  const names = await ls(mnt)
  t.same(names, kernelFiles.map((f) => f.name).sort(), `${label}: ls shows the kernel's files`)
  const stats = await statFiles(mnt, names)
  for (const f of kernelFiles) {
    const st = stats.find((s) => s.name === f.name)
    if (!st) continue
    t.equal(st.size, f.size, `${label}/${f.name}: stat size ${st.size} = kernel's ${f.size}`)
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

t.test('2. the kernel writes, pstore-sim reads', { skip }, async (t) => {
  const setup: Setup = { name: 'kw', memSize: 0x80000, recordSize: 0x4000, consoleSize: 0x2000, pmsgSize: 0x1000, ftraceSize: 0x1000, ecc: 1, cpus: 1 }
  const dir = testDir(t)
  const image = path.join(dir, 'kw.img')
  await cli(['format', image, ...setupFlags(setup), '--frontends', 'none'])
  const formatted = fs.readFileSync(image)

  const r1 = await boot(t, 'panic', { image: formatted, params: kernelParams(setup), actions: ['kmsg:compat+marker+before+the+panic', 'panic'] })
  t.equal(r1.panicked, true, 'boot 1 panicked')
  const r2 = await boot(t, 'list + two oopses', { image: r1.region, params: kernelParams(setup), actions: ['list', 'kmsg:compat+marker+before+the+oopses', 'oops', 'oops'] })
  t.equal(r2.panicked, false, 'boot 2 survived its oopses')
  const r3 = await boot(t, 'list', { image: r2.region, params: kernelParams(setup), actions: ['list'] })

  const afterPanic = r2.listings[0]?.files ?? []
  const afterOops = r3.listings[0]?.files ?? []
  t.same(afterPanic.map((f) => f.name), ['dmesg-ramoops-0'], 'the kernel lists its panic record')
  t.match(afterPanic[0]?.content.toString('latin1') ?? '', /^Panic#1 Part1\n[^]*compat marker before the panic[^]*\nECC: No errors detected\n$/, 'panic record with the marker and the ECC notice')
  t.same(afterOops.map((f) => f.name), ['dmesg-ramoops-0', 'dmesg-ramoops-1'], 'the kernel lists its two oops records (zone 0 reused at the next boot)')
  t.match(afterOops[0]?.content.toString('latin1') ?? '', /^Oops#1 Part1\n[^]*compat marker before the oopses/, 'dmesg-ramoops-0: Oops#1')
  t.match(afterOops[1]?.content.toString('latin1') ?? '', /^Oops#2 Part1\n/, 'dmesg-ramoops-1: Oops#2')

  await t.test('panic dump mounted read-only shows the kernel listing', (t) => checkMountShows(t, dir, r1.region, setup, afterPanic, 'panic-dump'))
  await t.test('oops dump mounted read-only shows the kernel listing', (t) => checkMountShows(t, dir, r2.region, setup, afterOops, 'oops-dump'))
})

// ---------------------------------------------------------------------------------- 3
t.test('3. erase both ways: rm through pstore-sim = rm in the guest', { skip }, async (t) => {
  const { setup, before, pred, expected } = await prepared!.erase
  t.same(pred.records.filter((r) => r.name.startsWith('dmesg-')).map((r) => r.name), ['dmesg-ramoops-0', 'dmesg-ramoops-1'], 'two dmesg records')
  t.same(changedParts(before, expected, pred), zapParts(['console[0]', 'dmesg[1]', 'pmsg[0]'], 0), 'pstore-sim\'s boot + rm zap console, pmsg and dmesg[1], nothing else')

  const r = await boot(t, 'rm', { image: before, params: kernelParams(setup), actions: ['rm:dmesg-ramoops-1', 'list'] })
  t.ok(r.events.includes('RM ok name=dmesg-ramoops-1'), 'rm in the guest succeeded')
  t.same((r.listings[0]?.files ?? []).map((f) => f.name), ['console-ramoops-0', 'dmesg-ramoops-0', 'pmsg-ramoops-0'], 'the guest lists the rest')
  checkRegion(t, r.region, expected, pred, 'region after boot + rm in the guest = after pstore-sim mount + rm + umount')
})

// ---------------------------------------------------------------------------------- 4
t.test('4. ECC: flipped bytes are corrected as pstore-sim predicts', { skip }, async (t) => {
  for (const [i, setup] of ECC_SETUPS.entries()) {
    const E = eccBytes(setup)
    await t.test(`ECC ${E}: up to ${E / 2} bytes per 128-byte block`, async (t) => {
      const { w, before, pred, expected, clean, flips, pred0 } = await prepared!.flipped[i]
      const notice = (n: number): string => `\nECC: ${n} Corrected bytes, 0 unrecoverable blocks\n`
      for (const idx of [0, 1]) {
        const z0 = pred0!.zones.find((zz) => zz.type === 'dmesg' && zz.index === idx)!
        const z = pred.zones.find((zz) => zz.type === 'dmesg' && zz.index === idx)!
        t.comment(`dmesg[${idx}]: ${z0.used} bytes used, ${flips![idx]} bytes flipped`)
        t.same(z.ecc, { correctedBytes: flips![idx], badBlocks: 0 }, `pstore-sim: dmesg[${idx}] ${flips![idx]} corrected bytes, 0 bad blocks`)
        const rec = pred.records.find((r) => r.name === `dmesg-ramoops-${idx}`)
        t.ok(Buffer.from(rec?.contentBase64 ?? '', 'base64').toString('latin1').endsWith(notice(flips![idx])), `pstore-sim predicts the notice "ECC: ${flips![idx]} Corrected bytes, 0 unrecoverable blocks"`)
      }

      const r = await boot(t, setup.name, { image: before, params: kernelParams(setup), actions: ['list'], cpus: setup.cpus })
      const files = r.listings[0]?.files ?? []
      checkListing(t, files, pred, [headerTime(w.oopsTime), headerTime(w.panicTime)])
      for (const idx of [0, 1]) {
        const f = files.find((k) => k.name === `dmesg-ramoops-${idx}`)
        t.ok(f?.content.toString('latin1').endsWith(notice(flips![idx])), `kernel: dmesg-ramoops-${idx} ends with "ECC: ${flips![idx]} Corrected bytes, 0 unrecoverable blocks"`)
      }
      checkRegion(t, r.region, expected, pred, 'region after the kernel boot (corrected in RAM) = pstore-sim mount + umount')
      const dmesgEnd = Math.max(...pred.zones.filter((z) => z.type === 'dmesg').map((z) => z.offset + z.size))
      const d = regionDiff(r.region.subarray(0, dmesgEnd), clean!.subarray(0, dmesgEnd), pred, ['kernel', 'before the flips'])
      t.ok(d === '', `the kernel wrote the corrections back: dmesg zones equal the image before the flips${d ? ':\n' + d : ''}`)
    })
  }
})

t.test('timing', { skip }, async (t) => {
  t.comment(`compat: ${boots} kernel boots, ${((Date.now() - started) / 1000).toFixed(1)} s in all`)
  t.ok(boots > 0, `${boots} boots`)
})
