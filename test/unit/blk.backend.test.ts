/**
 * pstore/blk through the backend interface, fed by pstore-sim's kmsg dumper as the machine feeds
 * it: part 1 stored, later parts refused with -ENOSPC, a panic answered but never written.
 */
import t from 'tap'
import { BlkBackend } from '../../src/backend/blk/backend.js'
import { blkSetup, parseBlkCmdline } from '../../src/backend/blk/blkSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { dumpParts, formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'

const { params } = parseBlkCmdline('pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=4 pstore_blk.pmsg_size=4 pstore_blk.best_effort=y')
const log = Array.from({ length: 400 }, (_, i) => formatSyslogRecord({ facility: 0, level: 6, uptimeUs: i * 1000, text: `line ${i}` }))

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
  const input = {
    reason: 'oops' as const,
    oopsCount: 1,
    log,
    bufsize: b.bufsize,
    compress: false,
    flavour: 'crypto-deflate-11' as const,
    time: { sec: 1700000000, nsec: 42 },
    kmsgBytes: 10240,
  }
  const parts = dumpParts(input, (p) => b.writeDmesg(p))
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
  const input = {
    reason: 'panic' as const,
    oopsCount: 1,
    log,
    bufsize: b.bufsize,
    compress: true,
    flavour: 'crypto-deflate-11' as const,
    time: { sec: 1700000000, nsec: 42 },
    kmsgBytes: 10240,
  }
  const parts = dumpParts(input, (p) => b.writeDmesg(p))
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
