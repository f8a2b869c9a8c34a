/**
 * A dump written by the engine compared with the dump a real 6.1.192 kernel wrote
 * (kernel-6.1/a-panic: zeroed region, sysrq panic), and the write rules of ramoops_pstore_write()
 * (docs/ramoops-format.md §6.2): zone choice, zap, header, end cut, dump_write_cnt rotation, part 1 only.
 */

import crypto from 'node:crypto'
import zlib from 'node:zlib'
import t from 'tap'
import { Ramoops, RamoopsError } from '../../src/backend/ramoops/ramoops.js'
import { fromModuleParams } from '../../src/backend/ramoops/ramoopsSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { buildDumpPart } from '../../src/pstore/kmsgDumper.js'
import { recordName } from '../../src/pstore/record.js'
import { describeDiff, fixtureCase, fixtureConfig } from '../helpers/fixtures.js'

const DBGC = 0x43474244
const c = fixtureCase('kernel-6.1', 'a-panic')
const before = c.read('region-before.bin')
const after = c.read('region-after-panic.bin')
const TIME = { sec: 1704067210, nsec: 305249000 }

// Hand-derived layout of a-panic (mem 0x100000, record 0x8000, console 0x8000, pmsg 0x1000, 6.1.192):
// dump area 1011712, 30 zones of 33722 bytes (33723 rounded to even), capacity 33710.
const ZONE_SIZE = 33722
const CAPACITY = 33710

// The kernel's dump in zone 0: header, then a raw deflate stream (window 11).
const kernelSize = after.readInt32LE(8)
const kernelHeader = after.subarray(12, 36)
const kernelInflated = zlib.inflateRawSync(after.subarray(36, 12 + kernelSize))
const LINE = 'Panic#1 Part1\n'
// The kernel's log as the dumper saw it: every record after the Panic line, one per line
// (syslog format repeats the prefix on every line of a record).
const kernelLog = kernelInflated
  .toString('latin1')
  .slice(LINE.length)
  .split(/(?<=\n)/)

const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')
const zeros = (b: Uint8Array) => b.every((x) => x === 0)

t.test('the fixture is what the test assumes', async (t) => {
  t.ok(zeros(before), 'region-before.bin is all zeros')
  t.same([after.readUInt32LE(0), after.readInt32LE(4), kernelSize], [DBGC, 9997, 9997], 'zone 0: sig, start = size = 9997')
  t.equal(kernelHeader.toString('latin1'), '====1704067210.305249-C\n')
  t.equal(kernelInflated.length, 27652)
  t.equal(kernelInflated.toString('latin1', 0, LINE.length), LINE)
  t.equal(kernelLog.join('').length, 27652 - 14)
  t.ok(
    kernelLog.every((r) => r.startsWith('<') && r.endsWith('\n')),
    `${kernelLog.length} syslog records`,
  )
  t.equal(
    sha256(kernelInflated),
    fixtureCase('kernel-6.1', 'b-reboot').listing().files[0].sha256,
    'the inflated record is the file the kernel listed at the next boot (b-reboot)',
  )
})

t.test('a simulated panic, compressed: laid out like the kernel dump', async (t) => {
  const config = fixtureConfig(c)
  const region = RegionImage.fromBuffer(Buffer.from(before))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  t.equal(ramoops.bufsize, CAPACITY, 'bufsize = capacity of dmesg zone 0')
  t.equal(config.quirks.compression, 'crypto-deflate-11')
  const part = buildDumpPart({
    reason: 'panic',
    oopsCount: 1,
    log: kernelLog,
    bufsize: ramoops.bufsize,
    compress: true,
    flavour: config.quirks.compression,
    time: TIME,
  })!
  t.equal(part.compressed, true)
  const { zone } = ramoops.writeDmesg(part)
  t.equal(zone, 0, 'the first dump after boot goes to zone 0')

  const ours = region.bytes
  const size = ours.readInt32LE(8)
  t.equal(ours.readUInt32LE(0), DBGC, 'signature')
  t.ok(ours.subarray(12, 36).equals(kernelHeader), "header bytes identical to the kernel's: ====1704067210.305249-C\\n")
  t.equal(size, 24 + part.payload.length, 'size = header length + compressed length')
  t.equal(ours.readInt32LE(4), size, 'start = size (no wrap)')
  t.ok(size < CAPACITY, 'fits the zone')
  const inflated = zlib.inflateRawSync(ours.subarray(36, 12 + size))
  t.ok(inflated.equals(kernelInflated), "our payload inflates to exactly the kernel's text")
  t.doesNotThrow(() => zlib.inflateRawSync(ours.subarray(36, 12 + size), { windowBits: 11, chunkSize: 64 }), "a window-11 stream, like the kernel's")
  // everything else is the kernel's bytes
  t.ok(
    ours.subarray(ZONE_SIZE).equals(after.subarray(ZONE_SIZE)),
    `every byte after dmesg zone 0 identical (${describeDiff(ours.subarray(ZONE_SIZE), after.subarray(ZONE_SIZE))})`,
  )
  t.ok(zeros(ours.subarray(12 + size, ZONE_SIZE)) && zeros(after.subarray(12 + kernelSize, ZONE_SIZE)), 'zone 0 past either record: zeros in both')
  // the other 29 dmesg zones, console and pmsg: signature, start 0, size 0
  for (const z of ramoops.zones.slice(1)) {
    if (ours.readUInt32LE(z.offset) !== DBGC || ours.readInt32LE(z.offset + 4) !== 0 || ours.readInt32LE(z.offset + 8) !== 0)
      t.fail(`${z.layout.type} ${z.layout.index}`)
  }
  t.same([ramoops.console!.offset, ramoops.pmsg!.offset], [0xf6fcc, 0xfefcc])

  // the next boot reads back the file the kernel showed (b-reboot's listing)
  const next = new Ramoops(config, RegionImage.fromBuffer(Buffer.from(ours)))
  next.boot()
  const records = next.readRecords()
  t.equal(records.length, 1)
  t.equal(recordName(records[0]), 'dmesg-ramoops-0')
  t.same(records[0].time, { sec: 1704067210n, nsec: 305249000n })
  t.equal(sha256(records[0].payload), fixtureCase('kernel-6.1', 'b-reboot').listing().files[0].sha256, "same content as the kernel's dmesg-ramoops-0")
})

t.test('the same panic uncompressed: byte-identical to docs/ramoops-format.md §6.2', async (t) => {
  const config = fixtureConfig(c, { compress: false })
  const region = RegionImage.fromBuffer(Buffer.from(before))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  const part = buildDumpPart({
    reason: 'panic',
    oopsCount: 1,
    log: kernelLog,
    bufsize: ramoops.bufsize,
    compress: config.compress,
    flavour: config.quirks.compression,
    time: TIME,
  })!
  t.equal(part.compressed, false)
  ramoops.writeDmesg(part)

  // By hand: the whole log (27638 bytes) fits into 33710 − 14 − 1, so the zone holds
  // `====1704067210.305249-D\n` + `Panic#1 Part1\n` + the whole log: 24 + 27652 = 27676 bytes.
  const record = Buffer.from('====1704067210.305249-D\n' + LINE + kernelLog.join(''), 'latin1')
  t.equal(record.length, 27676)
  const expected = Buffer.from(after)
  expected.writeInt32LE(27676, 4)
  expected.writeInt32LE(27676, 8)
  record.copy(expected, 12)
  t.ok(region.bytes.equals(expected), `whole region byte-identical to the hand-built image (${describeDiff(region.bytes, expected)})`)

  const next = new Ramoops(config, RegionImage.fromBuffer(Buffer.from(region.bytes)))
  next.boot()
  const [rec] = next.readRecords()
  t.equal(recordName(rec), 'dmesg-ramoops-0')
  t.equal(rec.compressed, false)
  t.ok(rec.payload.equals(kernelInflated), "read back: the same text the kernel's compressed record holds")
})

t.test('a small zone: the dumper fills bufsize, ramoops cuts the end to fit its header', async (t) => {
  // one dmesg zone of 4108 bytes (mem_size 4108, record_size 4096 → n = 1): capacity 4096
  const config = fromModuleParams(
    { mem_size: 4108, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 },
    { kernel: '6.1.192', compress: false, frontends: { console: false, pmsg: false, ftrace: false } },
  )
  const region = RegionImage.fromBuffer(Buffer.alloc(4108))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  t.equal(ramoops.dmesg.length, 1)
  t.equal(ramoops.bufsize, 4096)
  const part = buildDumpPart({ reason: 'panic', oopsCount: 1, log: kernelLog, bufsize: 4096, compress: false, flavour: config.quirks.compression, time: TIME })!

  // By hand: newest whole records with total ≤ 4096 − 14 − 1 = 4081: the last 72 records, 4074 bytes
  let used = 0
  let first = kernelLog.length
  while (first > 0 && used + kernelLog[first - 1].length <= 4081) used += kernelLog[--first].length
  t.same([kernelLog.length - first, used], [72, 4074])
  const payload = LINE + kernelLog.slice(first).join('')
  t.equal(payload.length, 4088, 'the dump is 4088 bytes; with the 24-byte header 4112 > 4096')
  t.equal(Buffer.from(part.payload).toString('latin1'), payload, 'the dumper built line + newest records')
  ramoops.writeDmesg(part)

  // ramoops keeps 4096 − 24 = 4072 payload bytes; the write ends exactly at capacity → start 0
  const zoneBytes = Buffer.from('====1704067210.305249-D\n' + payload, 'latin1').subarray(0, 4096)
  t.same([region.bytes.readUInt32LE(0), region.bytes.readInt32LE(4), region.bytes.readInt32LE(8)], [DBGC, 0, 4096], 'start wrapped to 0, size = capacity')
  t.ok(region.bytes.subarray(12, 4108).equals(zoneBytes), 'zone data: header + the first 4072 bytes of the dump')

  const next = new Ramoops(config, RegionImage.fromBuffer(Buffer.from(region.bytes)))
  next.boot()
  const [rec] = next.readRecords()
  t.equal(rec.payload.toString('latin1'), payload.slice(0, 4072), 'read back: the newest 16 bytes are lost')
  t.notOk(rec.payload.toString('latin1').endsWith('\n'), 'the last log line is cut in the middle')
})

t.test('compression off, a payload longer than the zone: only the end is cut', async (t) => {
  const config = fromModuleParams({ mem_size: 0x3000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 }, { compress: false })
  const region = RegionImage.fromBuffer(Buffer.alloc(0x3000))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  const payload = Buffer.alloc(5000)
  for (let i = 0; i < payload.length; i++) payload[i] = 0x41 + (i % 26)
  ramoops.writeDmesg({ part: 1, compressed: false, payload, time: { sec: 7, nsec: 0 } })
  const header = '====7.000000-D\n'
  t.same([region.bytes.readInt32LE(4), region.bytes.readInt32LE(8)], [0, 4084])
  t.ok(region.bytes.subarray(12, 12 + header.length).equals(Buffer.from(header)))
  t.ok(region.bytes.subarray(12 + header.length, 4096).equals(payload.subarray(0, 4084 - header.length)), 'the first C − header bytes of the payload')
})

t.test('dump_write_cnt: n zones, the (n+1)-th dump goes to zone 0; reset at boot', async (t) => {
  const config = fromModuleParams({ mem_size: 0x3000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 }, { compress: false })
  const region = RegionImage.fromBuffer(Buffer.alloc(0x3000))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  const dump = (n: number) => ({
    part: 1,
    compressed: false,
    payload: Buffer.from(`Oops#${n} Part1\n<4>[    0.00000${n}] oops ${n}\n`),
    time: { sec: 100 + n, nsec: 0 },
  })
  const zones: number[] = []
  for (let n = 1; n <= 4; n++) zones.push(ramoops.writeDmesg(dump(n)).zone)
  t.same(zones, [0, 1, 2, 0], 'three zones: the fourth dump wraps to zone 0')
  const text = (zone: number) => {
    const size = region.bytes.readInt32LE(zone * 4096 + 8)
    return region.bytes.toString('latin1', zone * 4096 + 12, zone * 4096 + 12 + size)
  }
  t.equal(text(0), '====104.000000-D\nOops#4 Part1\n<4>[    0.000004] oops 4\n', 'zone 0 was zapped and rewritten by dump 4')
  t.equal(text(1), '====102.000000-D\nOops#2 Part1\n<4>[    0.000002] oops 2\n')
  t.equal(text(2), '====103.000000-D\nOops#3 Part1\n<4>[    0.000003] oops 3\n')
  t.equal(ramoops.dumpWriteCnt, 1)
  ramoops.boot()
  t.equal(ramoops.dumpWriteCnt, 0, 'the counter lives in kernel memory only')
  t.equal(ramoops.writeDmesg(dump(5)).zone, 0, 'the first dump after boot overwrites zone 0 whatever it holds')
  t.equal(text(0), '====105.000000-D\nOops#5 Part1\n<4>[    0.000005] oops 5\n')
})

t.test('the zone is zapped before the write: a shorter dump leaves stale bytes past its end', async (t) => {
  const config = fromModuleParams({ mem_size: 0x1000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 }, { compress: false })
  const region = RegionImage.fromBuffer(Buffer.alloc(0x1000))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#1 Part1\n' + 'L'.repeat(100)), time: { sec: 1, nsec: 0 } })
  ramoops.boot()
  ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#1 Part1\nshort\n'), time: { sec: 2, nsec: 0 } })
  const first = '====1.000000-D\nPanic#1 Part1\n' + 'L'.repeat(100)
  const second = '====2.000000-D\nPanic#1 Part1\nshort\n'
  t.same([region.bytes.readInt32LE(4), region.bytes.readInt32LE(8)], [second.length, second.length], 'not appended')
  t.equal(region.bytes.toString('latin1', 12, 12 + first.length), second + first.slice(second.length), 'stale bytes of the first dump remain past the new size')
})

t.test('ramoops refuses parts other than 1, and setups without dmesg zones', async (t) => {
  const config = fromModuleParams({ mem_size: 0x3000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 })
  const region = RegionImage.fromBuffer(Buffer.alloc(0x3000))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  const snapshot = Buffer.from(region.bytes)
  for (const part of [0, 2, 3]) {
    t.throws(() => ramoops.writeDmesg({ part, compressed: false, payload: Buffer.from('x'), time: { sec: 1, nsec: 0 } }), RamoopsError, `part ${part}`)
  }
  t.ok(region.bytes.equals(snapshot), 'nothing written')
  t.equal(ramoops.dumpWriteCnt, 0, 'the counter did not move')
  t.equal(ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('x'), time: { sec: 1, nsec: 0 } }).zone, 0)

  const noDmesg = new Ramoops(
    fromModuleParams({ mem_size: 0x2000, record_size: 0, console_size: 0x1000, ftrace_size: 0, pmsg_size: 0x1000 }),
    RegionImage.fromBuffer(Buffer.alloc(0x2000)),
  )
  noDmesg.boot()
  t.equal(noDmesg.bufsize, 0)
  t.throws(() => noDmesg.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('x'), time: { sec: 1, nsec: 0 } }), {
    name: 'RamoopsError',
    message: /no dmesg zones/,
  })
})
