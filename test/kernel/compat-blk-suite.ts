/**
 * pstore-sim's pstore/blk backend vs a real kernel (Debian's, pstore_blk.ko best_effort on a
 * virtio disk), on the same disk. pstore-sim writes the image: two Oops dumps built by its kmsg
 * dumper (one compressed, one not), an erased zone holding the largest counter, and pmsg and
 * console zones as a kernel with those frontends would have left them (one ring wrapped). The
 * kernel's listing must equal pstore-sim's read pass (names, i_size, bytes, dmesg mtimes with ns);
 * then the kernel removes two files, oopses and panics, and the disk it leaves must equal what
 * pstore-sim makes of the same events (the Oops with the kernel's own payload and time: which
 * zone, counter, headers, zeros are pstore-sim's).
 */
import t from 'tap'
import { PstoreBlk } from '../../src/backend/blk/blk.js'
import { blkConfig, parseModuleOptions } from '../../src/backend/blk/config.js'
import { KMSG_HEADER_SIZE, readKmsgHeader } from '../../src/backend/blk/dmesgZone.js'
import { encodePszHeader, PSZ_HEADER_SIZE, readPszHeader } from '../../src/backend/blk/zone.js'
import { RegionImage } from '../../src/format/region.js'
import { buildDumpPart, formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'
import { recordBytes, recordName } from '../../src/pstore/record.js'
import { type KernelSelector, kernelInfo, kernelSkipReason, runKernel } from './harness.js'

const OPTIONS = ['blkdev=/dev/vda', 'kmsg_size=16', 'pmsg_size=4', 'console_size=4', 'best_effort=y']
const DISK = 96 * 1024 // pmsg 4 KiB, console 4 KiB, five 16 KiB dmesg zones, 8 KiB never used

function log(lines: number, tag: string): string[] {
  return Array.from({ length: lines }, (_, i) =>
    formatSyslogRecord({ facility: 0, level: 6, uptimeUs: 1_000_000 + i * 1371, text: `${tag} line ${i}: pstore-sim wrote this` }),
  )
}

export async function blkCompatSuite(kernel: KernelSelector): Promise<void> {
  const skip = await kernelSkipReason(kernel)
  if (skip && process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(`kernel suite (${kernel}) required but: ${skip}`)
  const info = skip ? null : kernelInfo(kernel)
  if (info && !info.blkModules?.length) {
    const why = `${kernel} has no pstore/blk modules in its initramfs`
    if (process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(why)
    t.test(`[${kernel}] pstore/blk`, { skip: why }, async () => {})
    return
  }
  t.test(
    `[${kernel} ${info?.kernelVersion ?? '?'}] pstore/blk: pstore-sim's disk through the kernel, and the kernel's changes through pstore-sim`,
    { skip: skip || false },
    async (t) => {
      const version = info?.kernelVersion ?? '6.12.0'
      const config = blkConfig(parseModuleOptions(OPTIONS.join(' ')), DISK, { kernel: version })
      const blk = new PstoreBlk(config, RegionImage.fromBuffer(Buffer.alloc(DISK)))
      blk.boot()
      t.equal(blk.layout.dmesg.length, 5)
      const dump = (tag: string, lines: number, sec: number, compress: boolean) => {
        const part = buildDumpPart({
          reason: 'oops',
          oopsCount: 1,
          log: log(lines, tag),
          bufsize: blk.bufsize,
          compress,
          flavour: config.quirks.compression,
          time: { sec, nsec: 123_456_789 },
        })
        if (!part) throw new Error('no part')
        return part
      }
      // zone 0: compressed (t 1000 s), zone 1: uncompressed, cut to the zone (t 3000 s, the newest), zone 2: erased later
      blk.writeDmesg(dump('zero', 300, 1_000, true), 'oops')
      blk.writeDmesg(dump('one', 400, 3_000, false), 'oops')
      blk.writeDmesg(dump('two', 50, 2_000, true), 'oops')
      blk.boot()
      blk.erase('dmesg', 2)
      // the erased zone keeps the largest counter (3): the kernel's next Oops is number 4
      const disk = blk.disk.bytes
      const pmsg = blk.layout.pmsg!
      const con = blk.layout.console!
      const cap = pmsg.size - PSZ_HEADER_SIZE
      // pmsg: a ring that wrapped, start in the middle; console: plain text, not wrapped
      const ring = Buffer.alloc(cap)
      for (let i = 0; i < cap; i++) ring[i] = 0x41 + (i % 26)
      ring.copy(disk, pmsg.offset + PSZ_HEADER_SIZE)
      encodePszHeader({ sig: pmsg.sig, datalen: cap, start: 1000 }).copy(disk, pmsg.offset)
      const text = Buffer.from('[    1.000000] console line one\n[    1.000100] console line two\n')
      text.copy(disk, con.offset + PSZ_HEADER_SIZE)
      encodePszHeader({ sig: con.sig, datalen: text.length, start: text.length }).copy(disk, con.offset)
      const image = Buffer.from(disk)

      // pstore-sim's view of that disk at the next boot
      const sim = new PstoreBlk(config, RegionImage.fromBuffer(Buffer.from(image)))
      sim.boot()
      t.same([sim.writeCnt, sim.oopsCounter], [2, 3], 'pstore-sim resumes after zone 1, counter from the erased zone')
      // the guest lists with ls: by name
      const predicted = sim.readRecords().sort((a, b) => (recordName(a, 'pstore_blk') < recordName(b, 'pstore_blk') ? -1 : 1))

      const r = await runKernel({
        kernel,
        image,
        blk: OPTIONS,
        actions: ['list', 'rm:dmesg-pstore_blk-0', 'rm:pmsg-pstore_blk-0', 'list', 'oops', 'sleep:2', 'remount', 'list', 'panic'],
        timeoutMs: 240_000,
      })
      t.comment(`boot: /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
      t.ok(r.panicked, 'the kernel panicked at the end')
      const files = r.listings[0].files
      t.same(
        files.map((f) => f.name),
        predicted.map((p) => recordName(p, 'pstore_blk')),
        'names',
      )
      for (const [i, p] of predicted.entries()) {
        const f = files[i]
        if (!f) continue
        const bytes = recordBytes(p)
        t.equal(f.size, bytes.length, `${f.name} i_size`)
        t.ok(f.content.equals(bytes), `${f.name} content`)
        if (p.type === 'dmesg') t.same([f.mtimeSec, f.mtimeNsec], [Number(p.time.sec), Number(p.time.nsec)], `${f.name} mtime`)
      }
      t.same(
        r.events.filter((e) => e.startsWith('RM')),
        ['RM ok name=dmesg-pstore_blk-0', 'RM ok name=pmsg-pstore_blk-0'],
      )
      t.same(
        r.listings[1].files.map((f) => f.name),
        ['console-pstore_blk-0', 'dmesg-pstore_blk-1'],
        'after rm',
      )

      // the same events through pstore-sim: two erases, the kernel's Oops, a panic
      sim.erase('dmesg', 0)
      sim.erase('pmsg', 0)
      const zone = sim.layout.dmesg[sim.writeCnt]
      t.equal(zone.index, 2, 'pstore-sim writes the Oops into zone 2')
      const datalen = readPszHeader(r.region, zone.offset).datalen
      const h = readKmsgHeader(r.region, zone.offset + PSZ_HEADER_SIZE)
      const payload = r.region.subarray(zone.offset + PSZ_HEADER_SIZE + KMSG_HEADER_SIZE, zone.offset + PSZ_HEADER_SIZE + datalen)
      const res = sim.writeDmesg({ part: 1, compressed: h.compressed, payload, time: { sec: Number(h.sec), nsec: Number(h.nsec) } }, 'oops')
      t.same([res.zone, res.counter, h.counter, h.reason], [2, 4, 4, 2], 'zone 2, counter 4, an Oops')
      t.equal(sim.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#2 Part1\n'), time: { sec: 0, nsec: 0 } }, 'panic').written, false)
      const ours = sim.disk.bytes
      const diffs: string[] = []
      for (let i = 0; i < ours.length && diffs.length < 8; i++) if (ours[i] !== r.region[i]) diffs.push(`0x${i.toString(16)}: ${ours[i]} vs ${r.region[i]}`)
      t.same(diffs, [], 'the disk the kernel left = pstore-sim after the same events')
      // the remount lists the new Oops the worker wrote (the same boot)
      t.same(
        r.listings[2].files.map((f) => f.name),
        ['console-pstore_blk-0', 'dmesg-pstore_blk-1', 'dmesg-pstore_blk-2'],
        'after the Oops',
      )
    },
  )
}
