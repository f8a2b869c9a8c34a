/**
 * pstore-sim's pstore/blk backend vs a real kernel (Debian's, pstore_blk.ko best_effort on a
 * virtio disk), on the same disk. pstore-sim's CLI writes the image (format, Oopses compressed
 * and not, one removed through a rw FUSE mount: an erased zone holding the largest counter), and
 * pmsg and console zones are added as a kernel with those frontends would have left them (one
 * ring wrapped). The kernel's listing must equal `inspect --json --content` (names, i_size,
 * bytes, dmesg mtimes with ns); then the kernel removes two files, oopses and panics, and the
 * disk it leaves must equal what pstore-sim makes of the same events (the Oops with the kernel's
 * own payload and time: which zone, counter, headers, zeros are pstore-sim's).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { PstoreBlk } from '../../src/backend/blk/blk.js'
import { blkSetup, parseModuleOptions } from '../../src/backend/blk/blkSetup.js'
import { KMSG_HEADER_SIZE, readKmsgHeader } from '../../src/backend/blk/dmesgZone.js'
import { encodePszHeader, PSZ_HEADER_SIZE, readPszHeader } from '../../src/backend/blk/zone.js'
import { RegionImage } from '../../src/format/region.js'
import { formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'
import { mountImage, pstoreSim, run } from '../helpers/mount.js'
import { type KernelSelector, runKernel } from './harness.js'
import { failIfKernelRequired, kernelSuite } from './skip.js'

const OPTIONS = ['blkdev=/dev/vda', 'kmsg_size=16', 'pmsg_size=4', 'console_size=4', 'best_effort=y']
const DISK = 96 * 1024 // pmsg 4 KiB, console 4 KiB, five 16 KiB dmesg zones, 8 KiB never used

function log(lines: number, tag: string): string {
  return Array.from({ length: lines }, (_, i) =>
    formatSyslogRecord({ facility: 0, level: 6, uptimeUs: 1_000_000 + i * 1371, text: `${tag} line ${i}: pstore-sim wrote this` }),
  ).join('')
}

interface Inspected {
  blk: { next: { writeCnt: number; oopsCounter: number } }
  records: Array<{ name: string; kernelSize: number; mtime: string | null; contentBase64: string }>
}

export async function blkCompatSuite(kernel: KernelSelector): Promise<void> {
  const { skip, info } = await kernelSuite(kernel)
  if (info && !info.blkModules?.length) {
    const why = `${kernel} has no pstore/blk modules in its initramfs`
    failIfKernelRequired(why)
    t.test(`[${kernel}] pstore/blk`, { skip: why }, async () => {})
    return
  }
  const title = `[${kernel} ${info?.kernelVersion ?? '?'}] pstore/blk: pstore-sim's disk through the kernel, and the kernel's changes through pstore-sim`
  t.test(title, { skip: skip || false }, async (t) => {
    const version = info?.kernelVersion ?? '6.12.0'
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-blk-compat-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    const img = path.join(dir, 'vda.img')
    const cli = async (args: string[]): Promise<string> => {
      const res = await pstoreSim(args)
      if (res.code !== 0) throw new Error(`pstore-sim ${args.join(' ')}: ${res.stderr}`)
      return res.stdout.toString()
    }
    const cmdline = OPTIONS.map((o) => `pstore_blk.${o}`).join(' ')
    await cli(['format', img, '--backend', 'blk', '--disk-size', String(DISK), '--cmdline', cmdline, '--kernel', version])
    const logFile = (tag: string, lines: number): string => {
      const f = path.join(dir, `${tag}.log`)
      fs.writeFileSync(f, log(lines, tag))
      return f
    }
    t.match(await cli(['panic', img, '--reason', 'oops', '--log', logFile('zero', 300), '--time', '1000.123456789']), /zone 0 \(compressed\)/)
    t.match(await cli(['panic', img, '--reason', 'oops', '--log', logFile('one', 400), '--time', '3000.5', '--no-compress']), /zone 1\n/)
    t.match(await cli(['panic', img, '--reason', 'oops', '--log', logFile('two', 50), '--time', '2000']), /zone 2 \(compressed\)/)
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, img, mnt)
    const rm = await run('rm', [path.join(mnt, 'dmesg-pstore_blk-2')])
    t.equal(rm.code, 0, `rm through the mount: ${rm.stderr}`)
    await cli(['umount', mnt])

    // pmsg and console as a kernel with those frontends leaves them: a wrapped ring, plain text
    const config = blkSetup(parseModuleOptions(OPTIONS.join(' ')), DISK, { kernel: version })
    const disk = fs.readFileSync(img)
    const layout = new PstoreBlk(config, RegionImage.fromBuffer(disk)).layout
    t.equal(layout.dmesg.length, 5)
    const pmsg = layout.pmsg!
    const con = layout.console!
    const cap = pmsg.size - PSZ_HEADER_SIZE
    for (let i = 0; i < cap; i++) disk[pmsg.offset + PSZ_HEADER_SIZE + i] = 0x41 + (i % 26)
    encodePszHeader({ sig: pmsg.sig, datalen: cap, start: 1000 }).copy(disk, pmsg.offset)
    const text = Buffer.from('[    1.000000] console line one\n[    1.000100] console line two\n')
    text.copy(disk, con.offset + PSZ_HEADER_SIZE)
    encodePszHeader({ sig: con.sig, datalen: text.length, start: text.length }).copy(disk, con.offset)
    fs.writeFileSync(img, disk)
    const image = Buffer.from(disk)

    // what pstore-sim says the next boot shows (the guest lists with ls: by name)
    const inspection = JSON.parse(await cli(['inspect', img, '--json', '--content'])) as Inspected
    t.same([inspection.blk.next.writeCnt, inspection.blk.next.oopsCounter], [2, 3], 'pstore-sim resumes after zone 1, counter from the erased zone')
    const predicted = [...inspection.records].sort((a, b) => (a.name < b.name ? -1 : 1))

    const r = await runKernel({
      kernel,
      image,
      blk: OPTIONS,
      actions: ['list', 'rm:dmesg-pstore_blk-0', 'rm:pmsg-pstore_blk-0', 'list', 'oops', 'sleep:2', 'remount', 'list', 'panic'],
    })
    t.comment(`boot: /init after ${r.timings.toInitMs} ms, total ${r.timings.totalMs} ms`)
    t.ok(r.panicked, 'the kernel panicked at the end')
    const files = r.listings[0].files
    t.same(
      files.map((f) => f.name),
      predicted.map((p) => p.name),
      'names',
    )
    for (const [i, p] of predicted.entries()) {
      const f = files[i]
      if (!f) continue
      t.equal(f.size, p.kernelSize, `${f.name} i_size`)
      t.ok(f.content.equals(Buffer.from(p.contentBase64, 'base64')), `${f.name} content`)
      if (p.name.startsWith('dmesg-')) t.equal(`${f.mtimeSec}.${String(f.mtimeNsec).padStart(9, '0')}`, p.mtime, `${f.name} mtime`)
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

    // the same events through pstore-sim's backend: two erases, the kernel's Oops, a panic
    const sim = new PstoreBlk(config, RegionImage.fromBuffer(Buffer.from(image)))
    sim.boot()
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
  })
}
