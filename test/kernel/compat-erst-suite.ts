/**
 * pstore-sim's ERST backend vs a real kernel (Debian's: ACPI APEI built in, erst registers as
 * the pstore backend at boot; QEMU's acpi-erst over the same backing file). Both directions:
 *
 * 1. pstore-sim writes (format, two Oopses of several parts, compressed and `--no-compress`, a
 *    compressed panic): the kernel lists what a pstore-sim `-o ro` mount shows (ls, stat, cat:
 *    names = ids, sizes, bytes after inflating, mtimes); then `rm` in the guest leaves the
 *    bytes that `rm` through a pstore-sim mount leaves.
 * 2. The kernel writes (an Oops, then a panic; compressed with 8 KiB records, and
 *    pstore.compress=none with 4 KiB records): every CPER header field is what pstore-sim's
 *    encoder writes, the kernel's records replayed through pstore-sim's backend give the
 *    kernel's file byte for byte (ids, slots, map, count), pstore-sim's dumper cuts the kernel's
 *    lines into the same parts; a later boot lists what a pstore-sim `-o ro` mount shows, and
 *    its `rm` leaves the bytes pstore-sim's `rm` leaves.
 * 3. Records no dump makes (an MCE section, an unknown section type, another creator's record, no
 *    timestamp, a DMESG_Z that does not inflate): the kernel's listing = pstore-sim's, and `rm`
 *    of the MCE and unknown files leaves the same bytes on both sides.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { firstRecordIdBase } from '../../src/backend/erst/cper.js'
import {
  CRAFTED_BASE,
  cperFieldDiffs,
  craftedErstFile,
  dumpsOf,
  type ErstGeometry,
  encodedLike,
  erstBackend,
  firstDiff,
  replayWrites,
  simulatedDump,
  slotRecords,
} from '../helpers/erstKernel.js'
import { cat, ls, mountImage, pstoreSim, run, statFiles } from '../helpers/mount.js'
import { type ErstOption, type KernelFile, type KernelSelector, runKernel } from './harness.js'
import { kernelSuite } from './skip.js'

const SIZE = 0x10000
const REGISTERED = 'pstore: Registered erst as persistent store backend'

function logText(lines: number, tag: string): string {
  return Array.from({ length: lines }, (_, i) => `${tag} line ${String(i).padStart(4, '0')}: pstore-sim wrote this for the kernel to read`).join('\n') + '\n'
}

interface MountFile {
  name: string
  size: number
  mtime: number
  mtimeNsec: number
  mode: string
  content: Buffer
}

/** What a pstore-sim `-o ro` mount of `image` shows, through ls, stat and cat in other processes. */
async function roListing(t: Test, image: string, mnt: string, setup: string[]): Promise<MountFile[]> {
  fs.mkdirSync(mnt, { recursive: true })
  await mountImage(t, image, mnt, ['-o', 'ro', ...setup])
  const names = await ls(mnt)
  const stats = await statFiles(mnt, names)
  const out: MountFile[] = []
  for (const s of stats) {
    const c = await cat(path.join(mnt, s.name))
    out.push({ name: s.name, size: s.size, mtime: s.mtime, mtimeNsec: s.mtimeNsec, mode: s.mode, content: c.stdout })
  }
  const u = await pstoreSim(['umount', mnt])
  if (u.code !== 0) throw new Error(`umount ${mnt}: ${u.stderr}`)
  return out
}

/** rm through a rw pstore-sim mount of a copy of `file`: the bytes it leaves. */
async function rmThroughMount(t: Test, dir: string, file: Buffer, name: string, setup: string[]): Promise<Buffer> {
  const img = path.join(dir, `rm-${name}.img`)
  fs.writeFileSync(img, file)
  const mnt = path.join(dir, `rm-${name}`)
  fs.mkdirSync(mnt)
  await mountImage(t, img, mnt, setup)
  const r = await run('rm', [path.join(mnt, name)])
  t.equal(r.code, 0, `rm ${name} through the mount: ${r.stderr}`)
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, `umount: ${u.stderr}`)
  return fs.readFileSync(img)
}

function sameListing(t: Test, kernel: KernelFile[], ours: MountFile[], what: string): void {
  t.same(
    kernel.map((f) => f.name),
    ours.map((f) => f.name),
    `${what}: names`,
  )
  for (const [i, f] of kernel.entries()) {
    const o = ours[i]
    if (!o) continue
    t.equal(o.size, f.size, `${f.name}: size`)
    t.ok(o.content.equals(f.content), `${f.name}: content (${o.content.length} vs ${f.content.length} bytes)`)
    t.same([o.mtime, o.mtimeNsec], [f.mtimeSec, f.mtimeNsec], `${f.name}: mtime`)
  }
}

/** The kernel's own dumps in `file` (written on `before`), checked against pstore-sim's encoder, backend and dumper. */
function checkKernelWrites(t: Test, g: ErstGeometry, before: Buffer, file: Buffer): void {
  const rs = g.recordSize ?? 8192
  const slots = slotRecords(file)
  t.ok(slots.length >= 2, `the kernel wrote ${slots.length} records`)
  for (const r of slots) {
    t.equal(r.headerId, r.mapId, `slot ${r.slot}: record_id = QEMU's map entry`)
    t.same(cperFieldDiffs(file.subarray(r.slot * rs), encodedLike(r)), [], `slot ${r.slot}: every CPER header field as pstore-sim encodes it`)
    t.ok(
      file.subarray(r.slot * rs + r.recordLength, (r.slot + 1) * rs).every((b) => b === 0xff),
      `slot ${r.slot}: 0xFF after the record`,
    )
  }
  const base = firstRecordIdBase(Number(slots[0].timestamp))
  t.same(
    slots.map((r) => r.headerId),
    slots.map((_, i) => base + BigInt(i + 1)),
    "ids: the first record's time << 32, + 1 per record, in slot order",
  )
  const { file: replayed } = replayWrites(g, before, file)
  t.ok(replayed.equals(file), `the kernel's records written by pstore-sim's backend: ${firstDiff(replayed, file)}`)
  const erst = erstBackend(g, file)
  erst.boot()
  const dumps = dumpsOf(erst.readRecords())
  t.same(
    dumps.map((d) => `${d.reason}#${d.count}`),
    ['oops#1', 'panic#2'],
    'an Oops, then a panic',
  )
  for (const d of dumps) {
    const sizes = d.records.map((r) => slots.find((s) => s.mapId === BigInt(r.id))!.payload.length)
    if (!g.compress) {
      const ours = simulatedDump(erst, d)
      t.same(
        ours.map((p) => p.text),
        d.texts,
        `${d.reason}#${d.count}: pstore-sim's dumper makes the kernel's ${d.texts.length} parts`,
      )
      t.same(
        ours.map((p) => p.bytes),
        sizes,
        'part sizes',
      )
      continue
    }
    // compressed: the kernel's deflate stream sizes decide the kmsg_bytes cut; the lines must match
    const ours = simulatedDump(erst, d, Number.MAX_SAFE_INTEGER)
    t.same(
      ours.slice(0, d.texts.length).map((p) => p.text),
      d.texts,
      `${d.reason}#${d.count}: the same lines in each of the kernel's ${d.texts.length} parts`,
    )
    const before = sizes.slice(0, -1).reduce((a, b) => a + b, 0)
    t.ok(before < 10240 && (ours.length === d.texts.length || before + sizes[sizes.length - 1] >= 10240), `kmsg_bytes cut (${sizes.join(' + ')})`)
  }
}

export async function erstCompatSuite(kernel: KernelSelector): Promise<void> {
  const { skip, info } = await kernelSuite(kernel)
  if (info && info.kind !== 'debian') {
    t.test(`[${kernel}] erst`, { skip: `${kernel} has no ACPI APEI (ERST needs CONFIG_ACPI_APEI)` }, async () => {})
    return
  }
  const version = info?.kernelVersion ?? '6.12.0'
  const tag = `[${kernel} ${version}] erst`
  const setup = (e: ErstOption): string[] => [
    '--backend',
    'erst',
    '--erst-size',
    String(e.size),
    ...(e.recordSize ? ['--erst-record-size', String(e.recordSize)] : []),
    '--kernel',
    version,
  ]
  const tempdir = (t: Test): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-erst-compat-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    return dir
  }
  const cli = async (args: string[]): Promise<string> => {
    const res = await pstoreSim(args)
    if (res.code !== 0) throw new Error(`pstore-sim ${args.join(' ')}: ${res.stderr}`)
    return res.stdout.toString()
  }

  t.test(`${tag}: pstore-sim's records through the kernel (list, rm)`, { skip: skip || false }, async (t) => {
    const dir = tempdir(t)
    const img = path.join(dir, 'erst.img')
    const e: ErstOption = { size: SIZE }
    await cli(['format', img, ...setup(e)])
    const write = (name: string, text: string): string => {
      const f = path.join(dir, name)
      fs.writeFileSync(f, text)
      return f
    }
    t.match(
      await cli(['panic', img, '--reason', 'oops', '--log', write('a.log', logText(400, 'a')), '--time', '1700000000.25']),
      /part 2 as record 7301444403200000002/,
    )
    t.match(
      await cli(['panic', img, '--reason', 'oops', '--no-compress', '--log', write('b.log', logText(300, 'b')), '--time', '1700000001']),
      /stored oops part 1 as record \d+ \(slot \d\)\nstored oops part 2 as record \d+ \(slot \d\)\n$/,
    )
    t.match(await cli(['panic', img, '--log', write('c.log', logText(40, 'c')), '--time', '1700000002']), /\(compressed\)/)
    const image = fs.readFileSync(img)
    const ours = await roListing(t, img, path.join(dir, 'ro'), [])
    t.ok(ours.length >= 5, `${ours.length} files: multi-part dumps`)
    const victim = ours.find((f) => f.content.toString('latin1').startsWith('Oops#2 Part1\n'))?.name ?? 'none' // the --no-compress Oops
    const r = await runKernel({ kernel, image, erst: e, actions: ['list', `rm:${victim}`, 'list'] })
    t.comment(`boot: /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
    t.ok(r.serial.includes(REGISTERED), REGISTERED)
    sameListing(t, r.listings[0].files, ours, "the kernel's listing = pstore-sim's ro mount")
    t.same(
      r.events.filter((x) => x.startsWith('RM')),
      [`RM ok name=${victim}`],
    )
    t.same(
      r.listings[1].files.map((f) => f.name),
      ours.map((f) => f.name).filter((n) => n !== victim),
      'after rm',
    )
    const simRm = await rmThroughMount(t, dir, image, victim, setup(e))
    t.ok(simRm.equals(r.region), `rm in the guest = rm through pstore-sim: ${firstDiff(simRm, r.region)}`)
  })

  for (const [label, e, extra] of [
    ['compressed, 8 KiB records', { size: SIZE }, []],
    ['pstore.compress=none, 4 KiB records', { size: SIZE, recordSize: 4096 }, ['pstore.compress=none']],
  ] as Array<[string, ErstOption, string[]]>) {
    t.test(`${tag}: the kernel's Oops and panic through pstore-sim (${label})`, { skip: skip || false }, async (t) => {
      const dir = tempdir(t)
      const img = path.join(dir, 'erst.img')
      await cli(['format', img, ...setup(e)])
      const fresh = fs.readFileSync(img)
      const crash = await runKernel({
        kernel,
        image: fresh,
        erst: e,
        extraCmdline: extra,
        actions: ['kmsg:erst+compat+marker', 'oops', 'sleep:2', 'panic'],
      })
      t.comment(`crash boot: total ${crash.timings.totalMs} ms`)
      t.ok(crash.panicked, 'the kernel panicked')
      t.ok(crash.serial.includes(REGISTERED), REGISTERED)
      const g: ErstGeometry = { size: e.size, recordSize: e.recordSize, kernelVersion: version, compress: extra.length === 0 }
      checkKernelWrites(t, g, fresh, crash.region)
      if (extra.length) return // the listing and rm of kernel records: once, on the compressed file

      const dumped = path.join(dir, 'dumped.img')
      fs.writeFileSync(dumped, crash.region)
      const ours = await roListing(t, dumped, path.join(dir, 'ro'), setup(e))
      t.ok(fs.readFileSync(dumped).equals(crash.region), 'the ro mount wrote nothing')
      const victim = ours[0].name
      const r = await runKernel({ kernel, image: crash.region, erst: e, actions: ['list', `rm:${victim}`, 'list'] })
      t.comment(`list boot: total ${r.timings.totalMs} ms`)
      sameListing(t, r.listings[0].files, ours, "a later boot's listing = pstore-sim's ro mount of the kernel's file")
      t.same(
        r.events.filter((x) => x.startsWith('RM')),
        [`RM ok name=${victim}`],
      )
      const simRm = await rmThroughMount(t, dir, crash.region, victim, setup(e))
      t.ok(simRm.equals(r.region), `rm in the guest = rm through pstore-sim: ${firstDiff(simRm, r.region)}`)
    })
  }

  t.test(`${tag}: records no dump makes (MCE, unknown section, other creator, no time, bad deflate)`, { skip: skip || false }, async (t) => {
    const dir = tempdir(t)
    const e: ErstOption = { size: SIZE }
    const image = craftedErstFile(version)
    const img = path.join(dir, 'crafted.img')
    fs.writeFileSync(img, image)
    const ours = await roListing(t, img, path.join(dir, 'ro'), setup(e))
    const mce = `mce-erst-${CRAFTED_BASE + 2n}`
    const unknown = `unknown-erst-${CRAFTED_BASE + 3n}`
    const r = await runKernel({ kernel, image, erst: e, actions: ['list', `rm:${mce}`, `rm:${unknown}`, 'list'] })
    t.comment(`boot: total ${r.timings.totalMs} ms`)
    const untimed = `dmesg-erst-${CRAFTED_BASE + 5n}` // both sides: the time of the mount
    const timed = (files: Array<{ name: string }>) => files.filter((f) => f.name !== untimed)
    sameListing(t, timed(r.listings[0].files) as KernelFile[], timed(ours) as MountFile[], "the kernel's listing = pstore-sim's ro mount")
    t.same(
      r.listings[0].files.map((f) => f.name),
      ours.map((f) => f.name),
      'the untimed record is listed on both sides',
    )
    t.same(
      r.events.filter((x) => x.startsWith('RM')),
      [`RM ok name=${mce}`, `RM ok name=${unknown}`],
    )
    const afterMce = await rmThroughMount(t, dir, image, mce, setup(e))
    const afterBoth = await rmThroughMount(t, dir, afterMce, unknown, setup(e))
    t.ok(afterBoth.equals(r.region), `rm in the guest = rm through pstore-sim: ${firstDiff(afterBoth, r.region)}`)
  })
}
