/**
 * One persistent RAM zone (docs/ramoops-format.md §3.3, §4.1-4.3; fs/pstore/ram_core.c): ring writes, the boot
 * snapshot and every boot outcome, on a small 32-byte zone (capacity 20) placed at offset 8 of a
 * 48-byte region whose other bytes must never change.
 */
import t from 'tap'
import type { ZoneLayout } from '../../src/backend/ramoops/layout.js'
import { PersistentRamZone } from '../../src/backend/ramoops/zone.js'
import { RegionImage } from '../../src/format/region.js'

const DBGC = 0x43474244
const OFFSET = 8
const ZONE = 32
const CAP = 20
const FILL = 0xee

interface Setup {
  buf: Buffer
  zone: PersistentRamZone
}

function makeZone(options: { sig?: number; start?: number; size?: number; data?: string; zapOld?: boolean; checksStart?: boolean } = {}): Setup {
  const buf = Buffer.alloc(OFFSET + ZONE + 8, FILL)
  buf.writeUInt32LE(options.sig ?? DBGC, OFFSET)
  buf.writeInt32LE(options.start ?? 0, OFFSET + 4)
  buf.writeInt32LE(options.size ?? 0, OFFSET + 8)
  if (options.data !== undefined) buf.write(options.data.padEnd(CAP, '.'), OFFSET + 12, 'latin1')
  const layout: ZoneLayout = { type: options.zapOld ? 'console' : 'dmesg', index: 0, offset: OFFSET, size: ZONE, sig: DBGC, zapOld: options.zapOld ?? false }
  const zone = new PersistentRamZone(RegionImage.fromBuffer(buf), layout, 0, 128, options.checksStart ?? false)
  return { buf, zone }
}

const header = (buf: Buffer) => ({ sig: buf.readUInt32LE(OFFSET), start: buf.readInt32LE(OFFSET + 4), size: buf.readInt32LE(OFFSET + 8) })
const data = (buf: Buffer) => buf.toString('latin1', OFFSET + 12, OFFSET + 12 + CAP)
const outside = (buf: Buffer) => Buffer.concat([buf.subarray(0, OFFSET), buf.subarray(OFFSET + ZONE)])
const untouchedOutside = (buf: Buffer) => outside(buf).every((b) => b === FILL)

t.test('geometry of the test zone', async (t) => {
  const { zone } = makeZone()
  t.equal(zone.capacity, CAP)
  t.equal(zone.dataOffset, OFFSET + 12)
})

t.test('write: simple append moves start and size together', async (t) => {
  const { buf, zone } = makeZone({ data: '' })
  t.equal(zone.write(Buffer.from('hello')), 5)
  t.same(header(buf), { sig: DBGC, start: 5, size: 5 })
  t.equal(data(buf).slice(0, 5), 'hello')
  t.equal(zone.write(Buffer.from(' you')), 4)
  t.same(header(buf), { sig: DBGC, start: 9, size: 9 })
  t.equal(data(buf).slice(0, 9), 'hello you')
  t.equal(data(buf).slice(9), '...........', 'bytes beyond size untouched')
  t.ok(untouchedOutside(buf), 'no byte outside the zone changed')
})

t.test('write ending exactly at capacity wraps start to 0, not C', async (t) => {
  const { buf, zone } = makeZone({ data: '' })
  zone.write(Buffer.from('ABCDEFGHIJKLMNOPQRST'))
  t.same(header(buf), { sig: DBGC, start: 0, size: 20 })
  t.equal(data(buf), 'ABCDEFGHIJKLMNOPQRST')

  const two = makeZone({ data: '' })
  two.zone.write(Buffer.from('01234'))
  two.zone.write(Buffer.from('567890123456789'))
  t.same(header(two.buf), { sig: DBGC, start: 0, size: 20 }, '5 + 15 = C → start 0')
  t.ok(untouchedOutside(two.buf), 'no byte outside the zone changed')
})

t.test('write that passes the end wraps to data[0..)', async (t) => {
  const { buf, zone } = makeZone({ data: '' })
  zone.write(Buffer.from('0123456789'))
  zone.write(Buffer.from('abcdefghijklmnopq'))
  // size = min(27, 20); start = 27 - 20 = 7; second write: 10 bytes to [10..20), 7 to [0..7)
  t.same(header(buf), { sig: DBGC, start: 7, size: 20 })
  t.equal(data(buf), 'klmnopq789abcdefghij')
  t.ok(untouchedOutside(buf), 'no byte outside the zone changed')
  // size stays saturated at C
  zone.write(Buffer.from('XY'))
  t.same(header(buf), { sig: DBGC, start: 9, size: 20 })
  t.equal(data(buf), 'klmnopqXY9abcdefghij')
})

t.test('write longer than capacity keeps the last C bytes', async (t) => {
  const fresh = makeZone({ data: '' })
  t.equal(fresh.zone.write(Buffer.from('abcdefghijklmnopqrstuvwxy')), 25, 'returns the requested count')
  t.same(header(fresh.buf), { sig: DBGC, start: 0, size: 20 })
  t.equal(data(fresh.buf), 'fghijklmnopqrstuvwxy')

  const offset = makeZone({ data: '' })
  offset.zone.write(Buffer.from('1234567'))
  offset.zone.write(Buffer.from('abcdefghijklmnopqrstuvwxy'))
  // s = last 20 = 'fghijklmnopqrstuvwxy'; start 7 → 27 → 7; 13 bytes to [7..20), 7 to [0..7)
  t.same(header(offset.buf), { sig: DBGC, start: 7, size: 20 })
  t.equal(data(offset.buf), 'stuvwxy' + 'fghijklmnopqr')
  offset.zone.saveOld()
  t.equal(offset.zone.oldLog?.toString('latin1'), 'fghijklmnopqrstuvwxy', 'the snapshot is the last C bytes in order')
  t.ok(untouchedOutside(offset.buf), 'no byte outside the zone changed')
})

t.test('a 0-byte write changes nothing', async (t) => {
  const { buf, zone } = makeZone({ start: 3, size: 3, data: 'abc' })
  const before = Buffer.from(buf)
  t.equal(zone.write(Buffer.alloc(0)), 0)
  t.ok(buf.equals(before), 'region identical')
})

t.test('snapshot: data[start..size) + data[0..start)', async (t) => {
  const wrapped = makeZone({ start: 7, size: 20, data: 'klmnopq789abcdefghij' })
  t.equal(wrapped.zone.boot(), 'valid')
  t.equal(wrapped.zone.oldLog?.toString('latin1'), '789abcdefghijklmnopq')

  const unwrapped = makeZone({ start: 5, size: 5, data: 'hello' })
  t.equal(unwrapped.zone.boot(), 'valid')
  t.equal(unwrapped.zone.oldLog?.toString('latin1'), 'hello')

  // an odd but accepted state: start < size < C (docs/ramoops-format.md §4.2: use the formula as is)
  const odd = makeZone({ start: 3, size: 5, data: 'ABCDE' })
  t.equal(odd.zone.boot(), 'valid')
  t.equal(odd.zone.oldLog?.toString('latin1'), 'DEABC')

  // start == size == C: accepted, the whole data area in order
  const full = makeZone({ start: 20, size: 20, data: 'ABCDEFGHIJKLMNOPQRST' })
  t.equal(full.zone.boot(), 'valid')
  t.equal(full.zone.oldLog?.toString('latin1'), 'ABCDEFGHIJKLMNOPQRST')

  // start 0, size C: wrapped exactly at the end
  const atEnd = makeZone({ start: 0, size: 20, data: 'ABCDEFGHIJKLMNOPQRST' })
  t.equal(atEnd.zone.boot(), 'valid')
  t.equal(atEnd.zone.oldLog?.toString('latin1'), 'ABCDEFGHIJKLMNOPQRST')
})

t.test('boot leaves a valid zone without ZAP_OLD untouched', async (t) => {
  const { buf, zone } = makeZone({ start: 5, size: 5, data: 'hello' })
  const before = Buffer.from(buf)
  t.equal(zone.boot(), 'valid')
  t.ok(buf.equals(before), 'no byte changed')
})

t.test('boot: wrong signature → signature written, zone zapped, data untouched', async (t) => {
  const { buf, zone } = makeZone({ sig: 0, start: 5, size: 5, data: 'hello' })
  t.equal(zone.boot(), 'signature-zapped')
  t.same(header(buf), { sig: DBGC, start: 0, size: 0 })
  t.equal(buf.subarray(OFFSET, OFFSET + 4).toString('hex'), '44424743', 'stored as bytes 44 42 47 43 ("DBGC")')
  t.equal(data(buf), 'hello...............', 'data bytes stay')
  t.equal(zone.oldLog, undefined, 'no snapshot')
  t.ok(untouchedOutside(buf), 'no byte outside the zone changed')

  // a signature of another type (the ftrace one) is just as wrong
  const ftraceSig = makeZone({ sig: 0x43414e44, start: 5, size: 5, data: 'hello' })
  t.equal(ftraceSig.zone.boot(), 'signature-zapped')
  t.same(header(ftraceSig.buf), { sig: DBGC, start: 0, size: 0 })

  // all zero (a fresh image)
  const zero = makeZone({ sig: 0 })
  t.equal(zero.zone.boot(), 'signature-zapped')
  t.same(header(zero.buf), { sig: DBGC, start: 0, size: 0 })
})

t.test('boot: invalid headers are zapped, data untouched', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['size > capacity', 0, 21],
    ['size > capacity, start = size', 21, 21],
    ['start > size', 6, 5],
    ['start > capacity', 30, 20],
    ['negative start', -1, 5],
    ['negative size', 0, -1],
    ['negative size and start', -5, -5],
    ['INT_MIN size', 0, -0x80000000],
  ]
  for (const [name, start, size] of cases) {
    const { buf, zone } = makeZone({ start, size, data: 'hello' })
    t.equal(zone.boot(), 'invalid-zapped', name)
    t.same(header(buf), { sig: DBGC, start: 0, size: 0 }, `${name}: start = size = 0`)
    t.equal(data(buf), 'hello...............', `${name}: data stays`)
    t.equal(zone.oldLog, undefined, `${name}: no snapshot`)
    t.ok(untouchedOutside(buf), 'no byte outside the zone changed')
  }
})

t.test('boot: empty zone', async (t) => {
  const { buf, zone } = makeZone({ start: 0, size: 0, data: 'stale bytes' })
  const before = Buffer.from(buf)
  t.equal(zone.boot(), 'empty')
  t.ok(buf.equals(before), 'nothing written')
  t.equal(zone.oldLog, undefined)
})

t.test('boot: ZAP_OLD zones (console, pmsg) are snapshotted, then zapped', async (t) => {
  const { buf, zone } = makeZone({ start: 5, size: 5, data: 'hello', zapOld: true })
  t.equal(zone.boot(), 'valid')
  t.equal(zone.oldLog?.toString('latin1'), 'hello', 'the snapshot was taken first')
  t.same(header(buf), { sig: DBGC, start: 0, size: 0 })
  t.equal(data(buf), 'hello...............', 'data bytes stay')
  t.ok(untouchedOutside(buf), 'no byte outside the zone changed')

  // wrapped ZAP_OLD zone
  const wrapped = makeZone({ start: 7, size: 20, data: 'klmnopq789abcdefghij', zapOld: true })
  t.equal(wrapped.zone.boot(), 'valid')
  t.equal(wrapped.zone.oldLog?.toString('latin1'), '789abcdefghijklmnopq')
  t.same(header(wrapped.buf), { sig: DBGC, start: 0, size: 0 })

  // an empty ZAP_OLD zone: returns before the zap, nothing written
  const empty = makeZone({ start: 0, size: 0, data: 'x', zapOld: true })
  const before = Buffer.from(empty.buf)
  t.equal(empty.zone.boot(), 'empty')
  t.ok(empty.buf.equals(before))

  // the next writes start at 0 again
  zone.write(Buffer.from('new'))
  t.same(header(buf), { sig: DBGC, start: 3, size: 3 })
  t.equal(data(buf), 'newlo...............')
})

t.test('boot: the 6.6 empty-zone start check', async (t) => {
  // size 0, start 5: before 6.6 "empty" (the next write lands at data[5]); from 6.6 start > size → zapped
  const off = makeZone({ start: 5, size: 0, data: 'hello', checksStart: false })
  const before = Buffer.from(off.buf)
  t.equal(off.zone.boot(), 'empty')
  t.ok(off.buf.equals(before), 'check off: nothing written')
  off.zone.write(Buffer.from('XY'))
  t.same(header(off.buf), { sig: DBGC, start: 7, size: 2 }, 'check off: the write continues at start 5')
  t.equal(data(off.buf), 'helloXY.............')

  const on = makeZone({ start: 5, size: 0, data: 'hello', checksStart: true })
  t.equal(on.zone.boot(), 'invalid-zapped')
  t.same(header(on.buf), { sig: DBGC, start: 0, size: 0 }, 'check on: zapped')
  on.zone.write(Buffer.from('XY'))
  t.same(header(on.buf), { sig: DBGC, start: 2, size: 2 })
  t.equal(data(on.buf), 'XYllo...............')

  // with start 0 both agree
  for (const checksStart of [false, true]) {
    const z = makeZone({ start: 0, size: 0, checksStart })
    t.equal(z.zone.boot(), 'empty', `start 0, check ${checksStart ? 'on' : 'off'}`)
  }
  // negative start with size 0: invalid with the check, "empty" without it
  t.equal(makeZone({ start: -1, size: 0, checksStart: true }).zone.boot(), 'invalid-zapped')
  t.equal(makeZone({ start: -1, size: 0, checksStart: false }).zone.boot(), 'empty')
})

t.test('zap leaves data and signature', async (t) => {
  const { buf, zone } = makeZone({ start: 4, size: 9, data: 'abcdefghi' })
  zone.zap()
  t.same(header(buf), { sig: DBGC, start: 0, size: 0 })
  t.equal(data(buf), 'abcdefghi...........')
  t.ok(untouchedOutside(buf), 'no byte outside the zone changed')
})

t.test('saveOld re-reads RAM: a write after boot shows in the next snapshot', async (t) => {
  const { zone } = makeZone({ start: 3, size: 3, data: 'abc' })
  zone.boot()
  t.equal(zone.oldLog?.toString('latin1'), 'abc')
  zone.write(Buffer.from('def'))
  t.equal(zone.oldLog?.toString('latin1'), 'abc', 'the snapshot is a copy')
  zone.saveOld()
  t.equal(zone.oldLog?.toString('latin1'), 'abcdef')
  zone.freeOld()
  t.equal(zone.oldLog, undefined)
})
