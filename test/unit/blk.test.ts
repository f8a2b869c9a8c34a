/**
 * pstore/blk without a kernel: its pure parts (module parameters: names, KiB, check_size()'s
 * alignment; the refusals of register_pstore_zone(), zone placement, the ring zones' reading,
 * erase), then the backend interface fed by pstore-sim's kmsg dumper as the machine feeds it:
 * part 1 stored, later parts refused with -ENOSPC, a panic answered but never written.
 */
import t from 'tap'
import { BlkBackend } from '../../src/backend/blk/backend.js'
import { PstoreBlk } from '../../src/backend/blk/blk.js'
import { BlkSetupError, blkSetup, checkSize, parseBlkCmdline, parseModuleOptions } from '../../src/backend/blk/blkSetup.js'
import { encodeKmsgHeader } from '../../src/backend/blk/dmesgZone.js'
import { computeBlkLayout, PSZ_SIG } from '../../src/backend/blk/layout.js'
import { encodePszHeader, readRingZone, recoverRingZone } from '../../src/backend/blk/zone.js'
import { RegionImage } from '../../src/format/region.js'
import { dumpParts, formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'

const base = { blkdev: '/dev/vda', best_effort: true }

t.test('cmdline and insmod options', async (t) => {
  const { params, compress } = parseBlkCmdline(
    'quiet pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y pstore.compress=none ramoops.ecc=1',
  )
  t.same(params, { blkdev: '/dev/vda', kmsg_size: 64, best_effort: true })
  t.equal(compress, 'none', 'pstore.compress= as given: the setup resolves it per target kernel')
  t.same(parseModuleOptions('blkdev=/dev/vda kmsg_size=0x10 pmsg_size=010 best_effort=N'), {
    blkdev: '/dev/vda',
    kmsg_size: 16,
    pmsg_size: 8,
    best_effort: false,
  })
  t.throws(() => parseBlkCmdline('pstore_blk.kmsg-size=abc'), /pstore_blk\.kmsg-size: "abc" is not a number/)
  t.throws(() => parseBlkCmdline('pstore_blk.record_size=4'), /unknown pstore_blk parameter "pstore_blk.record_size"/)
  t.throws(() => parseModuleOptions('best_effort=maybe'), /best_effort=maybe: "maybe" is not a boolean/)
})

t.test('check_size(): KiB to bytes, ALIGN() applied to the KiB number (a 6.1.192 boot showed kmsg_size=6 as 4, pmsg_size=4097 as 8)', async (t) => {
  t.equal(checkSize(64), 65536)
  t.equal(checkSize(0), 0)
  t.equal(checkSize(-1), 0)
  t.equal(checkSize(6), 4096)
  t.equal(checkSize(4097), 8192)
})

t.test('what the kernel refuses', async (t) => {
  t.throws(() => blkSetup({ blkdev: '/dev/vda' }, 65536), BlkSetupError)
  t.throws(() => blkSetup({ blkdev: '/dev/vda' }, 65536), /best_effort is off/)
  t.throws(() => blkSetup({ best_effort: true }, 65536), /blkdev is empty/)
  t.throws(() => blkSetup(base, 2048), /at least 4096/)
  t.throws(() => blkSetup(base, 65536 + 512), /multiple of 4096/)
  t.throws(() => blkSetup({ ...base, kmsg_size: 0 }, 65536), /every zone size is 0/)
  t.throws(() => computeBlkLayout(blkSetup({ ...base, pmsg_size: 128 }, 65536)), /no room for the pmsg zones/)
})

t.test('zones: pmsg, console, ftrace per CPU, then dmesg filling the rest', async (t) => {
  const c = blkSetup({ ...base, kmsg_size: 16, pmsg_size: 8, console_size: 4, ftrace_size: 12 }, 128 * 1024, { cpus: 5 })
  const l = computeBlkLayout(c)
  t.same([l.pmsg?.offset, l.pmsg?.size, l.console?.offset, l.console?.size], [0, 8192, 8192, 4096])
  // 12288 / 5 = 2457 per CPU: five zones cover 12285 bytes, the dmesg zones start right after
  t.same(
    l.ftrace.map((z) => [z.offset, z.size]),
    [0, 1, 2, 3, 4].map((i) => [12288 + i * 2457, 2457]),
  )
  t.equal(l.dmesg[0].offset, 12288 + 5 * 2457)
  // (131072 - 8192 - 4096 - 12288) / 16384 = 6 zones
  t.equal(l.dmesg.length, 6)
  t.equal(l.dmesg[0].sig, PSZ_SIG)
  t.equal(l.pmsg?.sig, (PSZ_SIG ^ 7) >>> 0)
  t.equal(l.console?.sig, (PSZ_SIG ^ 2) >>> 0)
})

t.test('a ring zone is read from start, oldest byte first; an overtop header is nothing', async (t) => {
  const sig = (PSZ_SIG ^ 7) >>> 0
  const zone = Buffer.alloc(12 + 8)
  Buffer.from('efghabcd').copy(zone, 12)
  encodePszHeader({ sig, datalen: 8, start: 4 }).copy(zone)
  t.equal(readRingZone(zone, sig)?.toString(), 'abcdefgh')
  encodePszHeader({ sig, datalen: 3, start: 3 }).copy(zone)
  t.equal(readRingZone(zone, sig)?.toString(), 'efg')
  encodePszHeader({ sig, datalen: 9, start: 0 }).copy(zone)
  t.equal(readRingZone(zone, sig), undefined)
  encodePszHeader({ sig: sig ^ 1, datalen: 3, start: 3 }).copy(zone)
  t.equal(readRingZone(zone, sig), undefined)
})

t.test('a pmsg zone on disk is a file; rm zeroes its header to {sig, 0, 0}', async (t) => {
  const c = blkSetup({ ...base, kmsg_size: 16, pmsg_size: 4 }, 64 * 1024)
  const disk = Buffer.alloc(64 * 1024)
  const sig = (PSZ_SIG ^ 7) >>> 0
  encodePszHeader({ sig, datalen: 5, start: 5 }).copy(disk)
  Buffer.from('hello').copy(disk, 12)
  const blk = new PstoreBlk(c, RegionImage.fromBuffer(disk))
  blk.boot()
  const records = blk.readRecords()
  t.same(
    records.map((r) => [r.type, r.id, r.payload.toString()]),
    [['pmsg', 0, 'hello']],
  )
  blk.erase('pmsg', 0)
  t.same(blk.disk.bytes.subarray(0, 12), encodePszHeader({ sig, datalen: 0, start: 0 }))
  t.equal(blk.disk.bytes.subarray(12, 17).toString(), 'hello', 'the data stays')
  t.same(blk.readRecords(), [])
})

t.test('round robin resumes after the newest header; a panic is never written', async (t) => {
  const c = blkSetup({ ...base, kmsg_size: 4 }, 16 * 1024)
  const blk = new PstoreBlk(c, RegionImage.fromBuffer(Buffer.alloc(16 * 1024)))
  blk.boot()
  const w = (sec: number) => ({ part: 1, compressed: false, payload: Buffer.from(`Oops#1 Part1\nat ${sec}\n`), time: { sec, nsec: 5 } })
  t.equal(blk.writeDmesg(w(100), 'oops').zone, 0)
  t.equal(blk.writeDmesg(w(300), 'oops').zone, 1)
  t.equal(blk.writeDmesg(w(200), 'oops').zone, 2)
  blk.boot()
  t.equal(blk.writeCnt, 2, 'after the newest (300 s, zone 1)')
  t.equal(blk.oopsCounter, 3)
  t.throws(() => blk.writeDmesg({ ...w(1), part: 2 }, 'oops'), /only part 1/)
  const before = Buffer.from(blk.disk.bytes)
  const res = blk.writeDmesg(w(400), 'panic')
  t.same([res.written, res.zone, res.counter], [false, 2, 1])
  t.ok(blk.disk.bytes.equals(before), 'disk unchanged')
  const names = blk.readRecords().map((r) => r.payload.toString().split('\n')[0])
  t.same(names, ['Oops: Total 1 times', 'Oops: Total 2 times', 'Oops: Total 3 times'])
})

/** A 64 KiB disk: pmsg 4 KiB holding `text`, then dmesg zone 0 as `datalen` and `compressed` say. */
function shortKmsgDisk(datalen: number, compressed: boolean): PstoreBlk {
  const c = blkSetup({ ...base, kmsg_size: 16, pmsg_size: 4 }, 64 * 1024, { compress: false })
  const disk = Buffer.alloc(64 * 1024)
  const blk = new PstoreBlk(c, RegionImage.fromBuffer(disk))
  const pmsg = blk.layout.pmsg!
  encodePszHeader({ sig: pmsg.sig, datalen: 5, start: 5 }).copy(disk, pmsg.offset)
  Buffer.from('hello').copy(disk, pmsg.offset + 12)
  const zone = blk.layout.dmesg[0]
  encodePszHeader({ sig: zone.sig, datalen, start: 0 }).copy(disk, zone.offset)
  encodeKmsgHeader({ sec: 1700000000n, nsec: 0n, compressed, counter: 1, reason: 2 }).copy(disk, zone.offset + 12)
  blk.boot()
  return blk
}

// Named after what the fuzzer found (test/fuzz.test.ts backendRegressions): the kernel's read
// loop ends at the first record of size <= 0, so no file comes after it, pmsg and console included.
t.test('blk-short-kmsg-datalen-ends-pass: a dmesg zone with datalen < 40 ends the whole read pass', async (t) => {
  t.same(shortKmsgDisk(39, false).readRecords(), [], 'datalen 39: no dmesg file, and no pmsg file after it')
  t.same(shortKmsgDisk(1, true).readRecords(), [], 'datalen 1, compressed')
  t.same(
    shortKmsgDisk(0, false)
      .readRecords()
      .map((r) => r.type),
    ['pmsg'],
    'datalen 0 is an erased zone: the pass goes on to pmsg',
  )
})

t.test('blk-compressed-empty-ends-pass: a compressed record of size 0 (datalen 40) ends the whole read pass', async (t) => {
  t.same(shortKmsgDisk(40, true).readRecords(), [], 'no pmsg file after it')
  const plain = shortKmsgDisk(40, false).readRecords()
  t.same(
    plain.map((r) => [r.type, r.payload.toString()]),
    [
      ['dmesg', 'Oops: Total 1 times\n'],
      ['pmsg', 'hello'],
    ],
    'uncompressed, the header line alone is a record of size > 0',
  )
})

t.test('a ring zone whose start is past its datalen fails the recovery: every read pass lists nothing', async (t) => {
  const c = blkSetup({ ...base, kmsg_size: 16, pmsg_size: 4, console_size: 4 }, 64 * 1024, { compress: false })
  const disk = Buffer.alloc(64 * 1024)
  const blk = new PstoreBlk(c, RegionImage.fromBuffer(disk))
  encodePszHeader({ sig: blk.layout.pmsg!.sig, datalen: 1, start: 2 }).copy(disk, blk.layout.pmsg!.offset)
  const con = blk.layout.console!
  encodePszHeader({ sig: con.sig, datalen: 3, start: 3 }).copy(disk, con.offset)
  const reports = blk.boot()
  t.same(
    reports.filter((r) => r.layout.type !== 'dmesg').map((r) => r.state),
    ['read-fails', 'not-read'],
    'pmsg fails, console is never reached',
  )
  t.match(blk.readPassFailure, /^pmsg\[0\]: start 2 is past datalen 1/)
  t.same(blk.readRecords(), [])
  t.same(recoverRingZone(disk.subarray(con.offset, con.offset + con.size), con.sig).state, 'ring', 'the console zone alone would be read')
})

// Through the backend interface (BlkBackend), as the machine feeds it.

const { params } = parseBlkCmdline('pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=4 pstore_blk.pmsg_size=4 pstore_blk.best_effort=y')
const log = Array.from({ length: 400 }, (_, i) => formatSyslogRecord({ facility: 0, level: 6, uptimeUs: i * 1000, text: `line ${i}` }))

/** The kmsg dumper's parts of one dump of `log`, handed to the backend as the kernel does. */
function dumpInto(b: BlkBackend, reason: 'oops' | 'panic', compress: boolean) {
  const input = {
    reason,
    oopsCount: 1,
    log,
    bufsize: b.bufsize,
    compress,
    flavour: 'crypto-deflate-11' as const,
    time: { sec: 1700000000, nsec: 42 },
    kmsgBytes: 10240,
  }
  return dumpParts(input, (p) => b.writeDmesg(p))
}

function backend(): BlkBackend {
  const b = new BlkBackend(blkSetup(params, 32 * 1024, { kernel: '6.1.192' }), RegionImage.fromBuffer(Buffer.alloc(32 * 1024)))
  b.boot()
  return b
}

t.test('an Oops: part 1 stored in zone 0, the rest refused', async (t) => {
  const b = backend()
  t.same(b.types, ['dmesg'])
  t.match(b.whyNot('pmsg'), /does not write pmsg zones/)
  t.match(b.whyNot('console'), /no console zone \(pstore_blk\.console_size 0\)/)
  t.equal(b.bufsize, 4096 - 52)
  const parts = dumpInto(b, 'oops', false)
  t.ok(parts.length > 1, 'several parts handed over')
  t.same(parts[0].result, { stored: true, slot: 0, id: 0 })
  for (const p of parts.slice(1)) t.match(p.result, { stored: false, errno: 'ENOSPC' })
  const records = b.readRecords()
  t.equal(records.length, 1)
  t.match(records[0].payload.toString('latin1'), /^Oops: Total 1 times\nOops#1 Part1\n/)
  t.same(b.memory(), { writeCnt: 1, oopsCounter: 1, panicCounter: 0, onPanic: 0 })
  const d = b.describe() as { kind: string; zones: Array<{ type: string; datalen: number }> }
  t.equal(d.kind, 'pstore_blk')
  t.same(
    d.zones.map((z) => [z.type, z.datalen]),
    [
      ['pmsg', 0],
      ['dmesg', 40 + Buffer.byteLength(parts[0].part.payload)],
      ['dmesg', 0],
      ['dmesg', 0],
      ['dmesg', 0],
      ['dmesg', 0],
      ['dmesg', 0],
      ['dmesg', 0],
    ],
  )
})

t.test('a panic is answered EBUSY and leaves the disk as it was', async (t) => {
  const b = backend()
  const before = Buffer.from(b.region.bytes)
  const parts = dumpInto(b, 'panic', true)
  t.match(parts[0].result, { stored: false, errno: 'EBUSY', why: /no panic_write/ })
  t.ok(b.region.bytes.equals(before))
  t.same(b.memory(), { writeCnt: 1, oopsCounter: 0, panicCounter: 1, onPanic: 1 })
  // a saved panic state survives into the next command until a boot
  const again = backend()
  again.restoreMemory(b.memory())
  t.equal(again.blk.onPanic, true)
})

t.test('the JS API formats and inspects a blk disk', async (t) => {
  const fs = await import('node:fs')
  const os = await import('node:os')
  const path = await import('node:path')
  const api = await import('../../src/index.js')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-blk-api-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const image = path.join(dir, 'disk.img')
  const setup = { backend: 'blk' as const, cmdline: 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=16 pstore_blk.best_effort=y', diskSize: 64 * 1024 }
  await api.formatImage(image, setup)
  t.equal(fs.statSync(image).size, 64 * 1024)
  const r = await api.inspectImage(image, {})
  t.equal(r.zones.length, 4, 'four dmesg zones, from the sidecar')
  t.same(r.blk?.next, { writeCnt: 0, oopsCounter: 0, panicCounter: 0 })
  await t.rejects(api.formatImage(path.join(dir, 'x.img'), { ...setup, diskSize: 1000 }), /at least 4096/)
})
