import { createHash } from 'node:crypto'
import t from 'tap'
import {
  decodeFtraceRecords,
  ECC_NOTICE_NO_ERRORS,
  encodeFtraceRecord,
  type FtraceRecord,
  ftraceRecordSize,
  ftraceText,
  mergePerCpuFtrace,
} from '../../src/pstore/ftrace.js'
import { SymbolTable } from '../../src/pstore/symbols.js'
import { fixtureCase, systemMapPath } from '../helpers/fixtures.js'

const h2 = fixtureCase('kernel-6.1-custom', 'h2-ftrace-smp2')

const rec = (ip: bigint, parentIp: bigint, timestamp: bigint, cpu: number): FtraceRecord => ({
  ip,
  parentIp,
  timestamp,
  cpu,
})

const concat = (...records: Buffer[]): Buffer => Buffer.concat(records)
const U64 = (1n << 64n) - 1n

t.test('record sizes', async (t) => {
  t.equal(ftraceRecordSize(64), 24)
  t.equal(ftraceRecordSize(32), 16)
  t.throws(() => ftraceRecordSize(16 as 64), RangeError)
})

t.test('64-bit encode/decode round trip and byte layout', async (t) => {
  const r = rec(0xffffffff8115710an, 0xffffffff81157433n, 1659115n, 1)
  const buf = encodeFtraceRecord(r, 64)
  t.equal(buf.length, 24)
  t.equal(buf.readBigUInt64LE(0), 0xffffffff8115710an)
  t.equal(buf.readBigUInt64LE(8), 0xffffffff81157433n)
  t.equal(buf.readBigUInt64LE(16), (1659115n << 8n) | 1n, 'ts = counter << 8 | cpu')
  t.same(decodeFtraceRecords(buf, 64), [r])

  const many = [rec(1n, 2n, 0n, 0), rec(U64 - 1n, U64, (1n << 56n) - 1n, 255), rec(0x1000n, 0x2000n, 42n, 7)]
  const bin = concat(...many.map((m) => encodeFtraceRecord(m, 64)))
  t.same(decodeFtraceRecords(bin, 64), many)
  t.same(decodeFtraceRecords(bin.subarray(0, 24 * 2 + 23), 64), many.slice(0, 2), 'trailing partial record ignored')
  t.same(decodeFtraceRecords(Buffer.alloc(0), 64), [])

  t.throws(() => encodeFtraceRecord(rec(-1n, 0n, 0n, 0), 64), RangeError)
  t.throws(() => encodeFtraceRecord(rec(0n, 0n, 1n << 56n, 0), 64), RangeError, 'ts has 56 bits left')
  t.throws(() => encodeFtraceRecord(rec(0n, 0n, 0n, 1.5), 64), RangeError)
})

t.test('32-bit encode/decode round trip and byte layout', async (t) => {
  const r = rec(0xc0123456n, 0xc0654320n, 123456789n, 3)
  const buf = encodeFtraceRecord(r, 32)
  t.equal(buf.length, 16)
  t.equal(buf.readUInt32LE(0), 0xc0123456)
  t.equal(buf.readUInt32LE(4), 0xc0654320)
  t.equal(buf.readBigUInt64LE(8), (123456789n << 8n) | 3n)
  t.same(decodeFtraceRecords(buf, 32), [r])
  const two = concat(buf, encodeFtraceRecord(rec(0xffffffffn, 0n, 1n, 0), 32))
  t.same(decodeFtraceRecords(two, 32), [r, rec(0xffffffffn, 0n, 1n, 0)])
  t.throws(() => encodeFtraceRecord(rec(0x100000000n, 0n, 0n, 0), 32), RangeError, 'ip must fit in 32 bits')
})

t.test('CPU numbers above 255 bleed into ts like in the kernel', async (t) => {
  // ts = (5 << 8) | 0x201 = 0x701: the reader sees CPU 1 at timestamp 7
  const buf = encodeFtraceRecord(rec(0x10n, 0x20n, 5n, 0x201), 64)
  t.equal(buf.readBigUInt64LE(16), 0x701n)
  t.same(decodeFtraceRecords(buf, 64), [rec(0x10n, 0x20n, 7n, 1)])
})

t.test('cpuInIp variant (32-bit ARM PSTORE_CPU_IN_IP)', async (t) => {
  const mask = { mask: 0x3 }
  const r = rec(0xc0100000n, 0xc0200000n, 77n, 2)
  const buf = encodeFtraceRecord(r, 32, mask)
  t.equal(buf.readUInt32LE(0), 0xc0100002, 'cpu OR-ed into ip')
  t.equal(buf.readBigUInt64LE(8), 77n, 'ts is the plain counter')
  const back = decodeFtraceRecords(buf, 32, mask)
  t.same(back, [{ ...r, ip: 0xc0100002n }], 'decoded ip is the stored one, CPU bits included')
  t.same(encodeFtraceRecord(back[0], 32, mask), buf, 'decode -> encode gives the same bytes')
  // decoded ip keeps the CPU bits (the kernel prints and resolves the raw value)
  const odd = encodeFtraceRecord(rec(0xc0100001n, 0xc0200000n, 1n << 60n, 2), 32, mask)
  t.same(decodeFtraceRecords(odd, 32, mask), [rec(0xc0100003n, 0xc0200000n, 1n << 60n, 3)])
  const thumb = encodeFtraceRecord(rec(0xc0100000n, 0n, 9n, 1), 32, { mask: 0x1 })
  t.same(decodeFtraceRecords(thumb, 32, { mask: 0x1 }), [rec(0xc0100001n, 0n, 9n, 1)])
  t.equal(ftraceText(buf, buf.length, 32, undefined, mask), 'CPU:2 ts:77 c0100002  c0200000  0xc0100002 <- 0xc0200000\n')
  t.throws(() => decodeFtraceRecords(buf, 32, { mask: 0 }), RangeError)
})

t.test('merge: strict less-than keeps the earlier list, ties take the new CPU', async (t) => {
  const a = (ts: bigint, tag: bigint): Buffer => encodeFtraceRecord(rec(0xa000n + tag, 0n, ts, 0), 64)
  const b = (ts: bigint, tag: bigint): Buffer => encodeFtraceRecord(rec(0xb000n + tag, 0n, ts, 1), 64)
  const cpu0 = concat(a(1n, 1n), a(3n, 2n), a(5n, 3n))
  const cpu1 = concat(b(3n, 1n), b(4n, 2n), b(5n, 3n))
  const merged = mergePerCpuFtrace([cpu0, cpu1], 64)
  t.same(
    decodeFtraceRecords(merged, 64).map((r) => r.ip),
    [0xa001n, 0xb001n, 0xa002n, 0xb002n, 0xb003n, 0xa003n],
    'ties (3 and 5) put CPU 1 first',
  )
  t.equal(merged.length, 6 * 24)

  // the tie is decided on ts >> 8: a lower CPU number in the low byte does not break it
  const tie = mergePerCpuFtrace([a(9n, 1n), b(9n, 1n)], 64)
  t.same(
    decodeFtraceRecords(tie, 64).map((r) => r.cpu),
    [1, 0],
  )

  // a single merge pass over unsorted lists, not a sort (the per-CPU logs are not monotonic)
  const unsorted0 = concat(a(10n, 1n), a(2n, 2n))
  const unsorted1 = concat(b(5n, 1n))
  t.same(
    decodeFtraceRecords(mergePerCpuFtrace([unsorted0, unsorted1], 64), 64).map((r) => r.timestamp),
    [5n, 10n, 2n],
  )

  // three zones: the accumulated list is "dest", each next zone is "src"
  const c2 = encodeFtraceRecord(rec(0xc001n, 0n, 3n, 2), 64)
  t.same(
    decodeFtraceRecords(mergePerCpuFtrace([cpu0, cpu1, c2], 64), 64).map((r) => r.ip),
    [0xa001n, 0xc001n, 0xb001n, 0xa002n, 0xb002n, 0xb003n, 0xa003n],
  )
})

t.test('merge: leading partial bytes of each zone dropped, empty zones harmless', async (t) => {
  const r0 = encodeFtraceRecord(rec(0x1n, 0x2n, 1n, 0), 64)
  const r1 = encodeFtraceRecord(rec(0x3n, 0x4n, 2n, 1), 64)
  const torn0 = concat(Buffer.from([0xde, 0xad, 0xbe, 0xef]), r0)
  const torn1 = concat(Buffer.alloc(23, 0xff), r1)
  const merged = mergePerCpuFtrace([Buffer.alloc(0), torn0, Buffer.alloc(5), torn1, Buffer.alloc(0)], 64)
  t.same(merged, concat(r0, r1))
  t.equal(mergePerCpuFtrace([], 64).length, 0)
  t.equal(mergePerCpuFtrace([Buffer.alloc(0), Buffer.alloc(10)], 64).length, 0, 'no whole record: no file')
  const only = mergePerCpuFtrace([torn0], 64)
  t.same(only, r0, 'a single zone is just trimmed')

  const m32 = mergePerCpuFtrace([concat(Buffer.alloc(3), encodeFtraceRecord(rec(1n, 2n, 7n, 0), 32)), encodeFtraceRecord(rec(3n, 4n, 7n, 1), 32)], 32)
  t.same(
    decodeFtraceRecords(m32, 32).map((r) => r.cpu),
    [1, 0],
  )
})

t.test('merge with cpuInIp compares the raw ts', async (t) => {
  const mask = { mask: 0x3 }
  const z0 = encodeFtraceRecord(rec(0xc0000000n, 0n, 0x100n, 0), 32, mask)
  const z1 = encodeFtraceRecord(rec(0xc0000000n, 0n, 0x101n, 1), 32, mask)
  // same ts >> 8 would be a tie; the raw comparison keeps CPU 0 first
  t.same(
    decodeFtraceRecords(mergePerCpuFtrace([z0, z1], 32, mask), 32, mask).map((r) => r.cpu),
    [0, 1],
  )
  t.same(
    decodeFtraceRecords(mergePerCpuFtrace([z0, z1], 32), 32).map((r) => r.ip & 3n),
    [1n, 0n],
  )
})

t.test('text without symbols uses 0x<hex>', async (t) => {
  const bin = concat(encodeFtraceRecord(rec(0xffffffff8115710an, 0xffffffff81157433n, 1659115n, 1), 64), encodeFtraceRecord(rec(0x1234n, 0n, 0n, 0), 64))
  t.equal(
    ftraceText(bin, bin.length, 64),
    'CPU:1 ts:1659115 ffffffff8115710a  ffffffff81157433  0xffffffff8115710a <- 0xffffffff81157433\n' + 'CPU:0 ts:0 00001234  00000000  0x1234 <- 0x0\n',
  )
  const b32 = encodeFtraceRecord(rec(0xc0008000n, 0x10n, 12n, 3), 32)
  t.equal(ftraceText(b32, b32.length, 32), 'CPU:3 ts:12 c0008000  00000010  0xc0008000 <- 0x10\n')
  t.equal(ftraceText(Buffer.alloc(0), 0, 64), '')
})

t.test('text: partial leading bytes are skipped, fileSize < recordSize prints nothing', async (t) => {
  const r0 = encodeFtraceRecord(rec(0xaaaan, 0xbbbbn, 5n, 0), 64)
  const r1 = encodeFtraceRecord(rec(0xccccn, 0xddddn, 6n, 1), 64)
  // a single (non per-CPU) zone snapshot keeps its torn first bytes: the text skips them
  const single = concat(Buffer.from([1, 2, 3, 4]), r0, r1)
  t.equal(ftraceText(single, single.length, 64), 'CPU:0 ts:5 0000aaaa  0000bbbb  0xaaaa <- 0xbbbb\nCPU:1 ts:6 0000cccc  0000dddd  0xcccc <- 0xdddd\n')
  t.equal(ftraceText(r0.subarray(0, 23), 23, 64), '', 'fewer bytes than one record')
  t.equal(ftraceText(r0, 23, 64), '', 'fileSize < recordSize, even with more data')
  t.equal(ftraceText(concat(r0, r1), 24, 64), 'CPU:0 ts:5 0000aaaa  0000bbbb  0xaaaa <- 0xbbbb\n', 'bytes past fileSize unseen')
  t.throws(() => ftraceText(r0, -1, 64), RangeError)
})

t.test('ECC notice: counted in the size, shifts the start and is iterated as records', async (t) => {
  const records = [rec(0xffffffff81000010n, 0xffffffff81000020n, 100n, 0), rec(0xffffffff81000030n, 0xffffffff81000040n, 101n, 1)]
  const bin = concat(...records.map((r) => encodeFtraceRecord(r, 64)))
  const notice = Buffer.from(ECC_NOTICE_NO_ERRORS, 'latin1')
  t.equal(notice.length, 25)
  const full = concat(bin, notice)
  const fileSize = full.length // 48 + 25 = 73: start offset 73 % 24 = 1
  const expected = [1, 25, 49]
    .map((off) => {
      const ip = full.readBigUInt64LE(off)
      const parent = full.readBigUInt64LE(off + 8)
      const ts = full.readBigUInt64LE(off + 16)
      const h = (v: bigint): string => v.toString(16).padStart(8, '0')
      return `CPU:${ts & 0xffn} ts:${ts >> 8n} ${h(ip)}  ${h(parent)}  0x${ip.toString(16)} <- 0x${parent.toString(16)}\n`
    })
    .join('')
  const text = ftraceText(full, fileSize, 64)
  t.equal(text, expected)
  t.equal(text.split('\n').length - 1, 3, 'one more (garbage) line than records: the notice is decoded too')
  // the last "record" is made only of notice bytes 1..24: "ECC: No errors detected\n"
  const etected = Buffer.from('etected\n', 'latin1').readBigUInt64LE(0)
  t.equal(
    text.split('\n')[2],
    `CPU:101 ts:${etected >> 8n} 206f4e203a434345  642073726f727265  0x206f4e203a434345 <- 0x642073726f727265`,
    '"ECC: No " / "errors d" / "etected\\n" read as ip / parent_ip / ts',
  )
  t.equal(ftraceText(bin, fileSize, 64), text, 'binary alone: the 25-byte no-error notice is assumed')
  t.equal(ftraceText(bin, fileSize, 64, undefined, undefined, ECC_NOTICE_NO_ERRORS), text)

  const errNotice = '\nECC: 3 Corrected bytes, 0 unrecoverable blocks\n'
  const withErr = concat(bin, Buffer.from(errNotice, 'latin1'))
  t.equal(
    ftraceText(bin, withErr.length, 64, undefined, undefined, errNotice),
    ftraceText(withErr, withErr.length, 64),
    'explicit notice equals passing the full buffer',
  )
  t.throws(() => ftraceText(bin, withErr.length, 64), RangeError, 'unknown notice bytes')
  t.throws(() => ftraceText(bin, fileSize, 64, undefined, undefined, 'short'), RangeError)

  // only the notice (ECC on, no record): 25 bytes, 25 % 24 = 1, one garbage line from bytes 1..24
  t.equal(ftraceText(Buffer.alloc(0), 25, 64).split('\n').length - 1, 1)
  // 32-bit: 2 records + 25 = 57, start 57 % 16 = 9: misaligned by 9 bytes, 3 lines
  const b32 = concat(encodeFtraceRecord(rec(1n, 2n, 3n, 0), 32), encodeFtraceRecord(rec(4n, 5n, 6n, 1), 32))
  t.equal(ftraceText(b32, 57, 32).split('\n').length - 1, 3)
})

interface Zone {
  offset: number
  size: number
}

/** Kernel 6.1 layout (docs/ramoops-format.md §2, zone order dmesg, console, ftrace, pmsg), module-parameter setup. */
function layout61(memSize: number, recordSize: number, consoleSize: number, ftraceSize: number, pmsgSize: number, cpus: number) {
  const dumpArea = memSize - consoleSize - ftraceSize - pmsgSize
  const n = Math.floor(dumpArea / recordSize)
  const dmesgZone = Math.floor(dumpArea / n) & ~1
  let p = n * dmesgZone
  const console: Zone = { offset: p, size: consoleSize }
  p += consoleSize
  const ftraceZone = Math.floor(ftraceSize / cpus) & ~1
  const ftrace: Zone[] = []
  for (let i = 0; i < cpus; i++) ftrace.push({ offset: p + i * ftraceZone, size: ftraceZone })
  p += cpus * ftraceZone
  const pmsg: Zone = { offset: p, size: pmsgSize }
  return { n, dmesgZone, console, ftrace, pmsg }
}

/** docs/ramoops-format.md §4.2: data[start..size) followed by data[0..start). */
function snapshot(region: Buffer, zone: Zone, expectedSig: number): Buffer {
  const sig = region.readUInt32LE(zone.offset)
  if (sig !== expectedSig) throw new Error(`zone at ${zone.offset}: sig ${sig.toString(16)}`)
  const start = region.readInt32LE(zone.offset + 4)
  const size = region.readInt32LE(zone.offset + 8)
  const capacity = zone.size - 12
  if (size < 0 || size > capacity || start < 0 || start > size) throw new Error('invalid zone header')
  const data = region.subarray(zone.offset + 12, zone.offset + 12 + capacity)
  return Buffer.concat([data.subarray(start, size), data.subarray(0, start)])
}

t.test('h2-ftrace-smp2: reproduces the kernel ftrace-ramoops-0 byte for byte', async (t) => {
  const params = h2.params as typeof h2.params & { linux_version_code: number }
  const r = params.ramoops
  const cpus: number = params.guest_nr_cpus
  t.equal(cpus, 2)
  const geo = layout61(Number(r.mem_size), Number(r.record_size), Number(r.console_size), Number(r.ftrace_size), Number(r.pmsg_size), cpus)
  t.equal(geo.n, 30)
  t.equal(geo.dmesgZone, 0x82aa)
  t.same(geo.ftrace, [
    { offset: 0xfcfec, size: 0x1000 },
    { offset: 0xfdfec, size: 0x1000 },
  ])
  const sig = 0x43474244 ^ params.linux_version_code
  t.equal(sig, 0x43414384)

  const listing = h2.listing()
  const file = listing.files.find((f) => f.name === 'ftrace-ramoops-0')
  t.ok(file, 'listing has ftrace-ramoops-0')
  if (!file) return
  const expected = Buffer.from(file.content_b64, 'base64')
  t.equal(expected.length, 35874)
  t.equal(file.size, 8160)

  const symbols = await SymbolTable.load(systemMapPath())

  // the ftrace zones the next boot read: unchanged from the panic dump (ftrace zones are not zapped)
  for (const image of ['region-after-panic.bin', 'region-after-boot.bin']) {
    const region = h2.read(image)
    const snaps = geo.ftrace.map((z) => snapshot(region, z, sig))
    t.same(
      snaps.map((s) => s.length),
      [4084, 4084],
      `${image}: both CPU zones full`,
    )
    t.same(
      snaps.map((s) => s.length % 24),
      [4, 4],
      'each has 4 torn leading bytes',
    )
    const merged = mergePerCpuFtrace(snaps, 64)
    t.equal(merged.length, file.size, `${image}: merged binary size = reported file size 8160`)
    const text = ftraceText(merged, file.size, 64, symbols)
    const bytes = Buffer.from(text, 'latin1')
    t.equal(bytes.length, expected.length)
    t.ok(bytes.equals(expected), `${image}: text identical byte for byte`)
    t.equal(createHash('sha256').update(bytes).digest('hex'), file.sha256)
    if (!bytes.equals(expected)) {
      const a = text.split('\n')
      const b = expected.toString('latin1').split('\n')
      const i = a.findIndex((l, k) => l !== b[k])
      t.equal(a[i], b[i], `first differing line ${i}`)
    }
  }

  // and the records decode to what the text says
  const region = h2.read('region-after-panic.bin')
  const merged = mergePerCpuFtrace(
    geo.ftrace.map((z) => snapshot(region, z, sig)),
    64,
  )
  const recs = decodeFtraceRecords(merged, 64)
  t.equal(recs.length, 340)
  t.same([...new Set(recs.map((x) => x.cpu))].sort(), [0, 1])
  t.same(recs[0], rec(0xffffffff8115710an, 0xffffffff81157433n, 1659115n, 1))
  const noSyms = ftraceText(merged, merged.length, 64)
  t.equal(noSyms.split('\n')[0], 'CPU:1 ts:1659115 ffffffff8115710a  ffffffff81157433  0xffffffff8115710a <- 0xffffffff81157433')
})
