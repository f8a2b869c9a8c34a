/**
 * The ERST backend without a kernel: QEMU's acpi-erst storage bytes (hw/acpi/erst.c), the CPER
 * record erst_writer() builds (drivers/acpi/apei/erst.c, include/linux/cper.h), pstore_dump()'s
 * parts into slots, ids as cper_next_record_id() hands them out, erase as QEMU clears.
 */
import t from 'tap'
import { CREATOR_PSTORE, firstRecordIdBase, SECTION_DMESG, SECTION_DMESG_Z } from '../../src/backend/erst/cper.js'
import { ErstBackend } from '../../src/backend/erst/erst.js'
import { ErstSetupError, fromErstParams } from '../../src/backend/erst/erstSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { bootBanner } from '../../src/machine/crashReport.js'
import { MachineSetupError, SimulatedMachine } from '../../src/machine/machine.js'
import { recordName } from '../../src/pstore/record.js'
import { CRAFTED_BASE, craftedErstFile } from '../helpers/erstKernel.js'

const TIME = 1796000000 // 2026-11-30, before 2038: id = seconds << 32 | counter
const NOW = TIME * 1000

function setup(params: { size?: number; record_size?: number } = {}, compress = false) {
  const config = fromErstParams(params, { kernel: '6.12.107', compress })
  const region = RegionImage.fromBuffer(Buffer.alloc(config.memSize))
  const machine = new SimulatedMachine(config, region, undefined, () => NOW)
  return { config, region, machine, erst: machine.backend as ErstBackend }
}

/** 400 lines of 60-odd bytes: about 26 KB of log, more than two 7992-byte parts. */
const LOG = Array.from({ length: 400 }, (_, i) => `a line of the kernel log, number ${String(i).padStart(3, '0')}, some padding`).join('\n')
const BASE = BigInt(TIME) << 32n

t.test("a fresh file gets QEMU's storage header at boot; the rest stays 0", async (t) => {
  const { region, machine } = setup()
  machine.boot()
  const b = region.bytes
  t.equal(b.subarray(0, 8).toString('latin1'), 'ERSTSTOR', 'magic')
  t.equal(b.readUInt32LE(8), 8192, 'record_size')
  t.equal(b.readUInt32LE(12), 8192, 'storage_offset: 24 + 8 map entries, rounded up to one slot')
  t.equal(b.readUInt16LE(16), 0x0100, 'version')
  t.equal(b.readUInt16LE(18), 0, 'reserved')
  t.equal(b.readUInt32LE(20), 0, 'record_count')
  t.ok(
    b.subarray(24).every((x) => x === 0),
    'map and slots all zero',
  )
  const small = setup({ size: 0x4000, record_size: 0x1000 })
  small.machine.boot()
  t.equal(small.region.bytes.readUInt32LE(12), 0x1000, '4 KiB slots: the header is slot 0')
})

t.test('a panic: parts of up to bufsize (record_size - 200) until kmsg_bytes, one CPER record per slot', async (t) => {
  const { region, machine, erst } = setup()
  machine.boot()
  t.equal(erst.bufsize, 8192 - 128 - 72, 'bufsize: the exchange buffer less the record header and section descriptor')
  const result = machine.crash({ reason: 'panic', logText: LOG, time: TIME, kmsgBytes: 10240 })
  t.ok(result.stored)
  t.same(
    result.parts?.map((p) => [p.part, p.stored, p.stored ? p.slot : undefined, p.stored ? p.id : undefined]),
    [
      [1, true, 1, String(BASE + 1n)],
      [2, true, 2, String(BASE + 2n)],
    ],
    'two parts (7.9 KB + 7.9 KB ≥ 10240), ids (seconds << 32) + 1, + 2, slots 1 and 2',
  )
  const b = region.bytes
  t.equal(b.readUInt32LE(20), 2, 'record_count 2')
  t.equal(b.readBigUInt64LE(24 + 8), BASE + 1n, 'map[1] = part 1')
  t.equal(b.readBigUInt64LE(24 + 16), BASE + 2n, 'map[2] = part 2')
  t.equal(b.readBigUInt64LE(24 + 24), 0n, 'map[3] free')
  const slot = b.subarray(8192, 16384)
  const length = slot.readUInt32LE(20)
  t.equal(slot.subarray(0, 4).toString('latin1'), 'CPER')
  t.equal(slot.readUInt16LE(4), 0x0100, 'revision')
  t.equal(slot.readUInt32LE(6), 0xffffffff, 'signature_end')
  t.equal(slot.readUInt16LE(10), 1, 'one section')
  t.equal(slot.readUInt32LE(12), 1, 'severity fatal')
  t.equal(slot.readUInt32LE(16), 2, 'validation bits: timestamp only')
  t.equal(slot.readBigUInt64LE(24), BigInt(TIME), 'timestamp: plain Unix seconds')
  t.ok(slot.subarray(64, 80).equals(CREATOR_PSTORE), 'creator: pstore')
  t.equal(slot.readBigUInt64LE(96), BASE + 1n, 'record id')
  t.equal(slot.readUInt32LE(104), 2, 'flags: PREVERR')
  t.equal(slot.subarray(108, 116).toString('hex'), '4552000000000000', 'persistence_information: "ER", which erst_write() stamps (Debian 6.1 and 6.12 do)')
  t.equal(slot.readUInt32LE(128), 200, 'section offset')
  t.equal(slot.readUInt32LE(132), length - 200, 'section length')
  t.ok(slot.subarray(144, 160).equals(SECTION_DMESG), 'section type DMESG')
  t.ok(length <= 8192 && length > 7000, `record_length ${length}: nearly a full slot`)
  t.ok(
    slot.subarray(length).every((x) => x === 0xff),
    'the rest of the slot 0xFF (QEMU fills it)',
  )
  const text = slot.subarray(200, length).toString('latin1')
  t.match(text, /^Panic#1 Part1\n<6>\[/, 'part 1 header')
  t.ok(text.endsWith('number 399, some padding\n'), 'part 1 ends with the newest line')
  const part2 = b
    .subarray(16384, 16384 + b.readUInt32LE(16384 + 20))
    .subarray(200)
    .toString('latin1')
  const firstOfPart1 = /number (\d+)/.exec(text.split('\n')[1])![1]
  t.match(part2, /^Panic#1 Part2\n/)
  t.ok(part2.endsWith(`number ${String(Number(firstOfPart1) - 1).padStart(3, '0')}, some padding\n`), 'part 2 ends just before part 1 began')

  const { records } = machine.boot()
  t.same(
    records.map((r) => recordName(r, 'erst')),
    [`dmesg-erst-${BASE + 1n}`, `dmesg-erst-${BASE + 2n}`],
    'files dmesg-erst-<id> in slot order',
  )
  t.same(records[0].time, { sec: BigInt(TIME), nsec: 0n }, 'time from the timestamp, 0 ns')
  t.equal(records[0].payload.toString('latin1'), text, 'the file is the part')
})

t.test('compressed parts are DMESG_Z and show inflated', async (t) => {
  const { region, machine } = setup({}, true)
  machine.boot()
  const r = machine.crash({ reason: 'oops', logText: LOG, time: TIME })
  t.ok(r.parts?.every((p) => p.compressed))
  t.ok(region.bytes.subarray(8192 + 144, 8192 + 160).equals(SECTION_DMESG_Z), 'section type DMESG_Z')
  const { records } = machine.boot()
  t.equal(records.length, r.parts?.length, 'every part read back')
  t.notOk(records[0].compressed, 'inflated by the core')
  t.match(records[0].payload.toString('latin1'), /^Oops#1 Part1\n/)
})

t.test('a full store drops the parts that do not fit (-ENOSPC); their ids are used all the same', async (t) => {
  // 16 KiB in 4 KiB slots: header in slot 0, three record slots; 3896-byte parts.
  const { region, machine } = setup({ size: 0x4000, record_size: 0x1000 })
  machine.boot()
  const r = machine.crash({ reason: 'panic', logText: LOG, time: TIME, kmsgBytes: 1 << 20 })
  const parts = r.parts ?? []
  t.ok(parts.length > 3, `${parts.length} parts handed over`)
  t.same(
    parts.slice(0, 3).map((p) => p.stored),
    [true, true, true],
  )
  t.ok(
    parts.slice(3).every((p) => !p.stored && p.errno === 'ENOSPC'),
    'the rest refused with -ENOSPC, the loop going on',
  )
  t.equal(region.bytes.readUInt32LE(20), 3, 'record_count 3')
  t.equal(machine.state.backendMemory?.erstLastRecordId, String(BASE + BigInt(parts.length)), 'cper_next_record_id() ran once per part')
  const second = machine.boot()
  t.equal(second.records.length, 3)
})

t.test('erase: QEMU zeroes the map entry and decrements the count; the bytes stay', async (t) => {
  const { region, machine, erst } = setup()
  machine.boot()
  machine.crash({ reason: 'panic', logText: LOG, time: TIME })
  const { records } = machine.boot()
  const slotBefore = Buffer.from(region.bytes.subarray(8192, 16384))
  erst.erase('dmesg', records[0].id)
  t.equal(region.bytes.readBigUInt64LE(24 + 8), 0n, 'map[1] zeroed')
  t.equal(region.bytes.readUInt32LE(20), 1, 'record_count 1')
  t.ok(region.bytes.subarray(8192, 16384).equals(slotBefore), 'the record stays in its slot')
  t.same(
    erst.readRecords().map((r) => r.id),
    [records[1].id],
    'the next read pass shows the other part only',
  )
  t.throws(() => erst.erase('dmesg', records[0].id), /^no ERST record \d+ to clear \(-ENOENT\)$/, 'erasing it again fails')
  machine.crash({ reason: 'oops', logText: 'one line', time: TIME + 5 })
  t.equal(
    region.bytes.readBigUInt64LE(24 + 8),
    (BigInt(TIME + 5) << 32n) + 1n,
    'the freed slot takes the next record, its id from a counter the boot started at that dump',
  )
})

t.test('ids: one counter per boot, started by the first record; 2038 and later use the high bit', async (t) => {
  const { machine } = setup()
  machine.boot()
  const a = machine.crash({ reason: 'oops', logText: 'first', time: TIME })
  const b = machine.crash({ reason: 'oops', logText: 'second', time: TIME + 100 })
  t.equal(a.parts?.[0].stored && a.parts[0].id, String(BASE + 1n))
  t.equal(b.parts?.[0].stored && b.parts[0].id, String(BASE + 2n), 'the second dump of a boot continues the counter')
  t.equal(firstRecordIdBase(0x7fffffff), 0x7fffffffn << 32n)
  t.equal(firstRecordIdBase(0x80000000), 0x8000000000000000n | (0x80000000n << 24n))
})

t.test('erst stores dmesg only: console, pmsg and ftrace are refused', async (t) => {
  const { machine } = setup()
  machine.boot()
  t.throws(() => machine.console('x'), MachineSetupError)
  t.throws(() => machine.pmsg(Buffer.from('x')), { message: /erst stores dmesg records only/ })
  t.throws(() => machine.ftrace([{ cpu: 0, ip: 1n, parentIp: 2n }]), MachineSetupError)
})

t.test('the read pass: another creator is skipped; an empty record ends the pass', async (t) => {
  const { region, machine, erst } = setup()
  machine.boot()
  for (const n of [1, 2, 3]) machine.crash({ reason: 'oops', logText: `oops ${n}`, time: TIME })
  const bytes = region.bytes
  bytes[8192 + 64] ^= 0xff // slot 1: not pstore's record any more
  t.same(
    erst.readRecords().map((r) => r.id),
    [BASE + 2n, BASE + 3n],
    'slot 1 skipped (-ENOENT: the next id)',
  )
  bytes.writeUInt32LE(200, 16384 + 20) // slot 2: record_length = the headers, no data
  t.same(erst.readRecords(), [], 'a record of size 0 ends the pass (pstore_get_backend_records)')
})

t.test('the read pass: MCE and unknown sections are records of their own (mce-erst-, unknown-erst-); rm clears them', async (t) => {
  const region = RegionImage.fromBuffer(craftedErstFile('6.12.107'))
  const erst = new ErstBackend(fromErstParams({}, { kernel: '6.12.107', compress: true }), region)
  erst.boot()
  const records = erst.readRecords()
  t.same(
    records.map((r) => [recordName(r, 'erst'), Number(r.time.sec), r.payload.toString('latin1')]),
    [
      [`dmesg-erst-${CRAFTED_BASE + 1n}`, 1700000001, 'Oops#1 Part1\na plain dmesg record\n'],
      [`mce-erst-${CRAFTED_BASE + 2n}`, 1700000002, 'an MCE record\n'],
      [`unknown-erst-${CRAFTED_BASE + 3n}`, 1700000003, 'a section of no known type\n'],
      [`dmesg-erst-${CRAFTED_BASE + 5n}`, 0, 'Oops#3 Part1\nno timestamp\n'],
      [`dmesg-erst-${CRAFTED_BASE + 6n}.enc.z`, 1700000006, 'not a deflate stream'],
    ],
    "Debian 6.1.192's and 6.12.107's listing of this file (test/kernel/compat-erst-suite.ts); another creator's record is skipped",
  )
  erst.erase('mce', CRAFTED_BASE + 2n)
  erst.erase('unknown', CRAFTED_BASE + 3n)
  t.same(
    erst.readRecords().map((r) => r.type),
    ['dmesg', 'dmesg', 'dmesg'],
    'erst_clear() takes any id',
  )
  t.equal(region.bytes.readUInt32LE(20), 4, 'record_count 6 - 2')
})

t.test("bad setups: QEMU's checks", async (t) => {
  const refusal = (params: Parameters<typeof fromErstParams>[0]) => {
    try {
      fromErstParams(params)
    } catch (err) {
      if (err instanceof ErstSetupError) return [err.param, err.message]
      throw err
    }
    return undefined
  }
  t.match(refusal({ record_size: 5000 }), ['record_size', /power of two/])
  t.match(refusal({ record_size: 2048 }), ['record_size', /at least 4096/])
  t.match(refusal({ size: 0x11000 }), ['size', /multiple of record_size/])
  t.match(refusal({ size: 0x1000, record_size: 0x2000 }), ['size', /multiple of record_size/])
  t.equal(refusal({ size: 0x4000, record_size: 0x1000 }), undefined, '16 KiB of 4 KiB slots is fine')
  t.equal(fromErstParams({}).memSize, 0x10000, 'default size 0x10000')
  t.equal(fromErstParams({}).erstRecordSize, 8192, 'default record_size 8192')
})

t.test("the boot banner is ERST's, as Debian's kernels print it (no ramoops parameters)", async (t) => {
  const banner = bootBanner(fromErstParams({}, { kernel: '6.12.107' }))
  t.ok(banner.includes('pstore: Registered erst as persistent store backend'), 'registers erst')
  t.ok(banner.includes('ERST: Error Record Serialization Table (ERST) support is initialized.'), "ERST's own line")
  t.notOk(
    banner.some((l) => /ramoops/.test(l)),
    'no ramoops line',
  )
})
