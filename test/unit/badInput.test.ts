/**
 * Bad input: images of the wrong size, garbage in every zone, corrupt compressed records, torn
 * ftrace zones, absurd sizes, and read-only images that must never be written.
 */

import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import t from 'tap'
import { computeLayout } from '../../src/backend/ramoops/layout.js'
import { Ramoops, RamoopsError } from '../../src/backend/ramoops/ramoops.js'
import { fromCmdline, fromDts, fromModuleParams, ProbeError, type RamoopsSetup } from '../../src/backend/ramoops/ramoopsSetup.js'
import { ImageError, RegionImage } from '../../src/format/region.js'
import { makeFiles } from '../../src/pstore/filesystem.js'
import { recordName } from '../../src/pstore/record.js'
import { fixtureCase, fixtureConfig, noise } from '../helpers/fixtures.js'

const DBGC = 0x43474244
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-bad-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
const sha256 = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex')

t.test('RegionImage.open: wrong size, missing file, directory', async (t) => {
  const short = path.join(tmp, 'short.img')
  const long = path.join(tmp, 'long.img')
  fs.writeFileSync(short, Buffer.alloc(1000))
  fs.writeFileSync(long, Buffer.alloc(5000))
  t.throws(() => RegionImage.open(short, { readOnly: true, expectedSize: 4096 }), {
    name: 'ImageError',
    message: /short\.img.*1000 bytes, shorter than mem_size 4096 \(0x1000\)/,
  })
  t.throws(() => RegionImage.open(long, { readOnly: false, expectedSize: 4096 }), {
    name: 'ImageError',
    message: /long\.img.*5000 bytes, longer than mem_size 4096/,
  })
  t.throws(() => RegionImage.open(path.join(tmp, 'missing.img'), { readOnly: true, expectedSize: 4096 }), { name: 'ImageError', message: /missing\.img/ })
  t.throws(() => RegionImage.open(tmp, { readOnly: true, expectedSize: 4096 }), { name: 'ImageError', message: /not a regular file/ })
  t.ok(ImageError.prototype instanceof Error)
  // the right size opens
  const ok = RegionImage.open(short, { readOnly: true, expectedSize: 1000 })
  t.equal(ok.size, 1000)
  ok.close()
})

t.test('a region of the wrong size for the setup is refused', async (t) => {
  const config = fromModuleParams({ mem_size: 0x10000 })
  t.throws(() => new Ramoops(config, RegionImage.fromBuffer(Buffer.alloc(0x8000))), { name: 'RamoopsError', message: /32768 bytes but mem_size is 65536/ })
  t.type(RamoopsError, 'function')
})

/** 0x10000, 6.12, 2 CPUs, per-CPU ftrace 0x2000: 12 dmesg zones of 4096, console, pmsg, 2 ftrace zones (laid out below). */
function garbageSetup(ecc = 0): RamoopsSetup {
  return fromModuleParams(
    { mem_size: 0x10000, record_size: 0x1000, console_size: 0x1000, pmsg_size: 0x1000, ftrace_size: 0x2000, ecc },
    { kernel: '6.12.0', cpus: 2 },
  )
}

t.test('garbage in every zone: boot does not throw, every zone gets its signature and is zapped', async (t) => {
  const config = garbageSetup()
  const layout = computeLayout(config)
  // dump area 0x10000 − 0x4000 = 0xC000: 12 zones of 4096; console 0xC000, pmsg 0xD000, ftrace 0xE000, 0xF000
  t.same(
    layout.zones.slice(12).map((z) => [z.type, z.offset, z.size]),
    [
      ['console', 0xc000, 0x1000],
      ['pmsg', 0xd000, 0x1000],
      ['ftrace', 0xe000, 0x1000],
      ['ftrace', 0xf000, 0x1000],
    ],
  )
  const original = noise(0x10000, 1234)
  const region = RegionImage.fromBuffer(Buffer.from(original))
  const ramoops = new Ramoops(config, region)
  for (const z of layout.zones) t.not(original.readUInt32LE(z.offset), z.sig, `${z.type} ${z.index}: random signature is wrong`)
  let reports: ReturnType<Ramoops['boot']> = []
  t.doesNotThrow(() => (reports = ramoops.boot()))
  t.ok(
    reports.every((r) => r.outcome === 'signature-zapped'),
    'every zone: signature-zapped',
  )
  const expected = Buffer.from(original)
  for (const z of layout.zones) {
    expected.writeUInt32LE(z.sig, z.offset)
    expected.writeInt32LE(0, z.offset + 4)
    expected.writeInt32LE(0, z.offset + 8)
  }
  t.ok(region.bytes.equals(expected), 'only the 12 header bytes of each zone changed: data bytes stay')
  t.same(ramoops.readRecords(), [], 'nothing to read')
  t.ok(region.bytes.equals(expected), 'reading changed nothing')
})

t.test("valid signatures, garbage headers: each zone zapped or kept by the kernel's rule", async (t) => {
  const config = garbageSetup()
  const layout = computeLayout(config)
  const original = noise(0x10000, 99)
  // every zone gets its valid signature and a header from this table (cycled)
  const headers: Array<[number, number]> = [
    [0x7fffffff, 0x7fffffff], // size > C
    [-1, 10], // negative start
    [10, -1], // negative size
    [11, 10], // start > size
    [0, 4085], // size = C + 1
    [0, 0], // empty
    [4084, 4084], // full, start = C: accepted
    [3, 10], // start < size < C: accepted
    [noise(4, 7).readInt32LE(0), noise(4, 8).readInt32LE(0)], // random
    [5, 0], // size 0, start 5: invalid on 6.6+
  ]
  layout.zones.forEach((z, i) => {
    const [start, size] = headers[i % headers.length]
    original.writeUInt32LE(z.sig, z.offset)
    original.writeInt32LE(start, z.offset + 4)
    original.writeInt32LE(size, z.offset + 8)
  })
  const region = RegionImage.fromBuffer(Buffer.from(original))
  const ramoops = new Ramoops(config, region)
  const reports = ramoops.boot()
  layout.zones.forEach((z, i) => {
    const [start, size] = headers[i % headers.length]
    const C = 4084
    // docs/ramoops-format.md §3.3, by hand: empty only when both are 0 (6.6+); invalid when size > C or start > size as unsigned (negative = huge)
    const u = (v: number) => (v < 0 ? 2 ** 64 + v : v)
    const want = size === 0 && start === 0 ? 'empty' : u(size) > C || u(start) > u(size) ? 'invalid-zapped' : 'valid'
    t.equal(reports[i].outcome, want, `${z.type} ${z.index}: start ${start}, size ${size} → ${want}`)
    const zapped = want === 'invalid-zapped' || (want === 'valid' && z.zapOld)
    const got = [region.bytes.readInt32LE(z.offset + 4), region.bytes.readInt32LE(z.offset + 8)]
    t.same(got, zapped ? [0, 0] : [start, size], `${z.type} ${z.index}: header after boot`)
  })
  // data areas never change at boot
  for (const z of layout.zones) {
    if (!region.bytes.subarray(z.offset + 12, z.offset + z.size).equals(original.subarray(z.offset + 12, z.offset + z.size)))
      t.fail(`${z.type} ${z.index} data changed`)
  }
  // the read pass: valid dmesg zones hold random bytes, not a "====" header → zapped, no file
  const afterBoot = layout.dmesg.map((z) => [region.bytes.readInt32LE(z.offset + 4), region.bytes.readInt32LE(z.offset + 8)])
  const records = ramoops.readRecords()
  t.notOk(
    records.some((r) => r.type === 'dmesg'),
    'no dmesg file from garbage',
  )
  const validDmesg = layout.dmesg.filter((z) => reports[z.index].outcome === 'valid')
  t.ok(validDmesg.length >= 2, `${validDmesg.length} dmesg zones passed the boot checks`)
  for (const z of layout.dmesg) {
    const want = reports[z.index].outcome === 'valid' ? [0, 0] : afterBoot[z.index]
    t.same(
      [region.bytes.readInt32LE(z.offset + 4), region.bytes.readInt32LE(z.offset + 8)],
      want,
      `dmesg ${z.index}: ${reports[z.index].outcome === 'valid' ? 'headerless record zapped by the read' : 'unchanged by the read'}`,
    )
  }
})

t.test('garbage with ECC on: boot does not throw and leaves every signature valid', async (t) => {
  const config = garbageSetup(1)
  const layout = computeLayout(config)
  const region = RegionImage.fromBuffer(noise(0x10000, 4321))
  const ramoops = new Ramoops(config, region)
  let reports: ReturnType<Ramoops['boot']> = []
  t.doesNotThrow(() => (reports = ramoops.boot()))
  t.equal(reports.length, layout.zones.length)
  t.ok(
    layout.zones.every((z) => region.bytes.readUInt32LE(z.offset) === z.sig),
    'every zone has its signature after boot',
  )
  t.doesNotThrow(() => ramoops.readRecords())
})

function dmesgRecordSetup(payload: Buffer, compress = true) {
  const config = fromModuleParams({ mem_size: 0x3000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 }, { kernel: '6.1.192', compress })
  const region = RegionImage.fromBuffer(Buffer.alloc(0x3000))
  const header = Buffer.from('====1704067210.305249-C\n', 'latin1')
  const data = Buffer.concat([header, payload])
  region.bytes.writeUInt32LE(DBGC, 0)
  region.bytes.writeInt32LE(data.length, 4)
  region.bytes.writeInt32LE(data.length, 8)
  data.copy(region.bytes, 12)
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  return ramoops.readRecords()
}

t.test('a corrupt compressed record becomes dmesg-ramoops-N.enc.z holding the raw bytes', async (t) => {
  const garbage = Buffer.concat([Buffer.from([0xff, 0xfe]), noise(98, 5)])
  const [rec, ...rest] = dmesgRecordSetup(garbage)
  t.same(rest, [])
  t.equal(rec.compressed, true)
  t.equal(recordName(rec), 'dmesg-ramoops-0.enc.z')
  t.ok(rec.payload.equals(garbage), 'the stored bytes, untouched')
  t.type(rec.inflateError, 'string')
  t.same(rec.time, { sec: 1704067210n, nsec: 305249000n })
  const [file] = makeFiles([rec], { now: { sec: 5, nsec: 0 }, wordBits: 64, exactNames: true })
  t.equal(file.name, 'dmesg-ramoops-0.enc.z')
  t.ok(file.content.equals(garbage))
  t.equal(file.kernelSize, 100)
  t.same([file.mtime.sec, file.mtime.nsec], [1704067210, 305249000])

  // a truncated but otherwise valid stream
  const text = Buffer.from('Panic#1 Part1\n' + Array.from({ length: 60 }, (_, i) => `<6>[    0.${String(i).padStart(6, '0')}] line ${i}\n`).join(''))
  const good = zlib.deflateRawSync(text, { windowBits: 11 })
  t.notOk([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0].includes(good[0]), `the stream starts with 0x${good[0].toString(16)}, not white space`)
  const [cut] = dmesgRecordSetup(good.subarray(0, good.length - 4))
  t.equal(recordName(cut), 'dmesg-ramoops-0.enc.z', 'truncated stream')
  const [whole] = dmesgRecordSetup(good)
  t.equal(recordName(whole), 'dmesg-ramoops-0', 'the whole stream inflates')
  t.ok(whole.payload.equals(text))

  // pstore.compress=none: a good compressed record stays compressed
  const [off] = dmesgRecordSetup(good, false)
  t.equal(recordName(off), 'dmesg-ramoops-0.enc.z')
  t.ok(off.payload.equals(good))

  // a valid stream whose first byte is white space (0x0B: a final fixed-Huffman block) loses that
  // byte to the header parser, so even a good record is unreadable: .enc.z without its first byte
  const vt = zlib.deflateRawSync(Buffer.from('Panic#1 Part1\n' + '<6>[    0.000001] hello\n'.repeat(50)), { windowBits: 11 })
  t.equal(vt[0], 0x0b, 'this stream starts with a vertical tab')
  t.ok(zlib.inflateRawSync(vt).length > 0, 'and is a valid stream')
  const [eaten] = dmesgRecordSetup(vt)
  t.equal(recordName(eaten), 'dmesg-ramoops-0.enc.z')
  t.ok(eaten.payload.equals(vt.subarray(1)), 'the file holds the stream minus its first byte')
})

t.test('ftrace zones whose size is not a multiple of the record size', async (t) => {
  // 64-bit records: ip, parent_ip, ts = (counter << 8) | cpu, little-endian, 24 bytes
  const record = (ip: bigint, parent: bigint, counter: bigint, cpu: bigint) => {
    const b = Buffer.alloc(24)
    b.writeBigUInt64LE(ip, 0)
    b.writeBigUInt64LE(parent, 8)
    b.writeBigUInt64LE((counter << 8n) | cpu, 16)
    return b
  }
  const a = record(0xffffffff81000010n, 0xffffffff81000020n, 1n, 0n)
  const b = record(0xffffffff81000030n, 0xffffffff81000040n, 2n, 1n)
  const c = record(0xffffffff81000050n, 0xffffffff81000060n, 3n, 0n)
  const put = (region: RegionImage, offset: number, sig: number, data: Buffer) => {
    region.bytes.writeUInt32LE(sig, offset)
    region.bytes.writeInt32LE(data.length, offset + 4)
    region.bytes.writeInt32LE(data.length, offset + 8)
    data.copy(region.bytes, offset + 12)
  }
  const SIG_612 = 0x43414e44

  // per-CPU, 2 CPUs: ftrace 0x2000 → 2 zones of 0x1000 at 0 and 0x1000
  const perCpu = fromModuleParams({ mem_size: 0x2000, record_size: 0, console_size: 0, pmsg_size: 0, ftrace_size: 0x2000 }, { kernel: '6.12.0', cpus: 2 })
  const r1 = RegionImage.fromBuffer(Buffer.alloc(0x2000))
  put(r1, 0, SIG_612, Buffer.concat([Buffer.from([1, 2, 3, 4, 5]), a, c])) // 53 bytes: 5 leading partial bytes
  put(r1, 0x1000, SIG_612, Buffer.concat([Buffer.from('torn!!!'), b])) // 31 bytes: 7 leading partial bytes
  const m1 = new Ramoops(perCpu, r1)
  t.same(
    m1.boot().map((r) => r.outcome),
    ['valid', 'valid'],
  )
  const [f1] = m1.readRecords()
  t.equal(recordName(f1), 'ftrace-ramoops-0')
  t.ok(f1.payload.equals(Buffer.concat([a, b, c])), 'leading partial bytes dropped, merged by timestamp: a(1) b(2) c(3)')

  // a single zone (device tree, flags 0): the snapshot is kept whole; the text starts at size % 24
  const single = fromDts(
    '/ { reserved-memory { #address-cells = <1>; #size-cells = <1>; ramoops@0 { compatible = "ramoops"; reg = <0x0 0x1000>; ftrace-size = <0x1000>; }; }; };',
    { kernel: '6.12.0', cpus: 2 },
  )
  const r2 = RegionImage.fromBuffer(Buffer.alloc(0x1000))
  const torn = Buffer.concat([Buffer.from([9, 9, 9, 9, 9]), a, c])
  put(r2, 0, SIG_612, torn)
  const m2 = new Ramoops(single, r2)
  m2.boot()
  const [f2] = m2.readRecords()
  t.ok(f2.payload.equals(torn), 'single zone: record = snapshot, 53 bytes')
  const [file] = makeFiles([f2], { now: { sec: 1, nsec: 0 }, wordBits: 64, exactNames: true })
  t.equal(file.kernelSize, 53)
  const lines = file.content.toString('latin1').split('\n').filter(Boolean)
  t.equal(lines.length, 2, 'the 5 leading bytes are skipped: two whole records')
  t.match(lines[0], /^CPU:0 ts:1 ffffffff81000010 {2}ffffffff81000020 {2}/)
  t.match(lines[1], /^CPU:0 ts:3 ffffffff81000050 {2}ffffffff81000060 {2}/)

  // a zone with fewer bytes than one record gives nothing for that CPU
  const r3 = RegionImage.fromBuffer(Buffer.alloc(0x2000))
  put(r3, 0, SIG_612, Buffer.from('0123456789'))
  put(r3, 0x1000, SIG_612, b)
  const m3 = new Ramoops(perCpu, r3)
  m3.boot()
  const [f3] = m3.readRecords()
  t.ok(f3.payload.equals(b), "only CPU 1's record")
})

t.test('absurd sizes are refused at probe', async (t) => {
  t.throws(() => fromModuleParams({ mem_size: 2 ** 50 }), { name: 'ProbeError', message: /absurdly large/ })
  t.throws(() => fromCmdline('ramoops.mem_size=0x4000000000000'), { name: 'ProbeError', message: /mem_size/ })
  t.throws(() => fromCmdline('ramoops.mem_size=0x100000000000000000000'), { name: 'ProbeError', message: /too large/ }, 'beyond 2^53')
  t.throws(() => fromCmdline('ramoops.mem_size=0x100000 ramoops.record_size=-1'), ProbeError, 'negative record_size')
  t.throws(
    () =>
      fromDts(
        '/ { reserved-memory { #address-cells = <2>; #size-cells = <2>; ramoops@0 { compatible = "ramoops"; reg = <0x0 0x0 0x40000 0x0>; record-size = <0x1000>; }; }; };',
      ),
    { name: 'ProbeError', message: /absurdly large/ },
    'a DT reg of 2^50 bytes',
  )
  t.throws(() => computeLayout(fromModuleParams({ mem_size: 0x100000, record_size: 2 ** 40 })), ProbeError, 'record_size 2^40 in 1 MiB')
  t.throws(() => computeLayout(fromModuleParams({ mem_size: 0x100000, console_size: 2 ** 40 })), { name: 'ProbeError', message: /no room/ })
  t.throws(() => fromModuleParams({ mem_size: 0x100000, ecc: -1 }), ProbeError)
  t.throws(() => fromModuleParams({ mem_size: 0x100000 }, { cpus: 100000 }), ProbeError)
})

t.test('read-only buffer: the engine changes the in-memory copy only', async (t) => {
  const c = fixtureCase('kernel-6.1', 'b-reboot')
  const buf = Buffer.from(c.read('region-before.bin'))
  const copy = Buffer.from(buf)
  const region = RegionImage.fromBuffer(buf, true)
  const ramoops = new Ramoops(fixtureConfig(c), region)
  ramoops.boot()
  t.ok(buf.equals(copy), 'boot of a valid region changes nothing')
  t.equal(ramoops.readRecords().length, 1)
  t.ok(buf.equals(copy), 'reading changes nothing')
  ramoops.erase('dmesg', 0)
  // an erase is a RAM write: it lands in the in-memory buffer even for a read-only image
  t.same([buf.readInt32LE(4), buf.readInt32LE(8)], [0, 0], 'zone 0 zapped in memory')
  t.ok(buf.equals(c.read('region-after-erase.bin')), "the in-memory bytes are the kernel's erased region")
  region.close()
})

t.test('read-only file: boot + read + erase never write the file', async (t) => {
  for (const name of ['b-reboot', 'c-ecc-reboot'] as const) {
    const c = fixtureCase('kernel-6.1', name)
    const file = path.join(tmp, `${name}-ro.img`)
    fs.copyFileSync(c.file('region-before.bin'), file)
    const old = new Date('2020-01-01T00:00:00Z')
    fs.utimesSync(file, old, old)
    const hash = sha256(fs.readFileSync(file))
    const config = fixtureConfig(c)
    const region = RegionImage.open(file, { readOnly: true, expectedSize: config.memSize })
    const ramoops = new Ramoops(config, region)
    ramoops.boot()
    t.equal(ramoops.readRecords().length, 1, `${name}: one record`)
    ramoops.erase('dmesg', 0)
    ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#1 Part1\nx\n'), time: { sec: 1, nsec: 0 } })
    region.flush()
    region.close()
    t.equal(sha256(fs.readFileSync(file)), hash, `${name}: file sha256 unchanged`)
    t.equal(fs.statSync(file).mtimeMs, old.getTime(), `${name}: file never written (mtime unchanged)`)
  }
})

t.test("read-write file: the same erase reaches the file (the kernel's erased region)", async (t) => {
  for (const name of ['b-reboot', 'c-ecc-reboot'] as const) {
    const c = fixtureCase('kernel-6.1', name)
    const file = path.join(tmp, `${name}-rw.img`)
    fs.copyFileSync(c.file('region-before.bin'), file)
    const config = fixtureConfig(c)
    const region = RegionImage.open(file, { readOnly: false, expectedSize: config.memSize })
    const ramoops = new Ramoops(config, region)
    ramoops.boot()
    ramoops.readRecords()
    ramoops.erase('dmesg', 0)
    region.close()
    t.ok(fs.readFileSync(file).equals(c.read('region-after-erase.bin')), `${name}: file = region-after-erase.bin`)
  }
})

t.test('erasing a zone that does not exist', async (t) => {
  const config = fromModuleParams({ mem_size: 0x3000, record_size: 0x1000, console_size: 0, ftrace_size: 0, pmsg_size: 0 })
  const ramoops = new Ramoops(config, RegionImage.fromBuffer(Buffer.alloc(0x3000)))
  ramoops.boot()
  t.throws(() => ramoops.erase('dmesg', 3), { name: 'EraseError', message: /-EINVAL/ })
  t.throws(() => ramoops.erase('console', 0), { name: 'EraseError' })
  t.throws(() => ramoops.erase('ftrace', 0), { name: 'EraseError' })
})
