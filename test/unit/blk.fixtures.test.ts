/**
 * pstore/blk disks Debian's real kernels wrote (test/fixtures/blk-6.1, blk-6.12; see their
 * README.md), against pstore-sim's blk backend without FUSE or QEMU. Decode: each boot's first
 * listing is what the backend reads from the disk the boot started from (names, bytes, mtime
 * with ns). Encode: the same dumps (the kernel's own payload and time) written by the backend
 * to the same starting disk give the kernel's disk byte for byte, panic and rm included.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { PstoreBlk } from '../../src/backend/blk/blk.js'
import { blkSetup, effectiveParams, parseModuleOptions } from '../../src/backend/blk/blkSetup.js'
import { KMSG_HEADER_SIZE, readKmsgHeader } from '../../src/backend/blk/dmesgZone.js'
import { PSZ_HEADER_SIZE, readPszHeader } from '../../src/backend/blk/zone.js'
import { RegionImage } from '../../src/format/region.js'
import { decompress } from '../../src/pstore/compression.js'
import { buildDumpPart } from '../../src/pstore/kmsgDumper.js'
import { recordBytes, recordName } from '../../src/pstore/record.js'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'

interface Params {
  kernel: { kernelVersion: string }
  disk_size: number
  pstore_blk: string[]
  extra_cmdline: string[]
  boots: Array<{ label: string; image: string; actions: string; panicked: boolean }>
}
interface Listing {
  listings: { tag: string; files: KernelListingFile[] }[]
  moduleParams: Record<string, string>
}

const gz = (f: string): Buffer => gunzipSync(fs.readFileSync(f))

function backendFor(params: Params, disk: Buffer): PstoreBlk {
  const config = blkSetup(parseModuleOptions(params.pstore_blk.join(' ')), disk.length, {
    kernel: params.kernel.kernelVersion,
    compress: !params.extra_cmdline.includes('pstore.compress=none'),
  })
  return new PstoreBlk(config, RegionImage.fromBuffer(Buffer.from(disk)))
}

/** The dump the kernel wrote into a zone: its payload, time, compressed flag and reason. */
function kernelDump(disk: Buffer, offset: number) {
  const datalen = readPszHeader(disk, offset).datalen
  const h = readKmsgHeader(disk, offset + PSZ_HEADER_SIZE)
  const payload = disk.subarray(offset + PSZ_HEADER_SIZE + KMSG_HEADER_SIZE, offset + PSZ_HEADER_SIZE + datalen)
  return { write: { part: 1, compressed: h.compressed, payload, time: { sec: Number(h.sec), nsec: Number(h.nsec) } }, reason: h.reason }
}

for (const kdir of ['blk-6.1', 'blk-6.12']) {
  const root = path.join(repoRoot, 'test/fixtures', kdir)
  if (!fs.existsSync(root)) continue
  for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
    const dir = path.join(root, name)
    const params = JSON.parse(fs.readFileSync(path.join(dir, 'params.json'), 'utf8')) as Params
    const diskBefore = (b: Params['boots'][number]): Buffer => (b.image === 'zeros' ? Buffer.alloc(params.disk_size) : gz(path.join(dir, b.image)))

    t.test(`${kdir}/${name}: the module parameters the kernel shows`, async (t) => {
      const listing = JSON.parse(fs.readFileSync(path.join(dir, `listing-${params.boots[0].label}.json`), 'utf8')) as Listing
      const blk = backendFor(params, Buffer.alloc(params.disk_size))
      const ours = effectiveParams(blk.setup)
      for (const k of ['kmsg_size', 'pmsg_size', 'console_size', 'ftrace_size', 'max_reason'] as const) {
        t.equal(String(ours[k]), listing.moduleParams[`pstore_blk/parameters/${k}`], k)
      }
      t.equal(listing.moduleParams['pstore_blk/parameters/blkdev'], ours.blkdev)
    })

    for (const boot of params.boots) {
      const listing = JSON.parse(fs.readFileSync(path.join(dir, `listing-${boot.label}.json`), 'utf8')) as Listing
      const actions = boot.actions.split(',')
      if (actions[0] === 'list') {
        t.test(`${kdir}/${name}/${boot.label}: decode = the kernel's first listing`, async (t) => {
          const blk = backendFor(params, diskBefore(boot))
          blk.boot()
          const records = blk.readRecords()
          const files = listing.listings[0].files
          t.same(
            records.map((r) => recordName(r, 'pstore_blk')),
            files.map((f) => f.name),
            'names',
          )
          for (const [i, r] of records.entries()) {
            const f = files[i]
            const bytes = recordBytes(r)
            t.equal(bytes.length, f.size, `${f.name} i_size`)
            t.ok(bytes.equals(Buffer.from(f.content_b64, 'base64')), `${f.name} content`)
            t.same([Number(r.time.sec), Number(r.time.nsec)], [f.mtime, f.mtime_nsec], `${f.name} mtime`)
          }
        })
      }

      t.test(`${kdir}/${name}/${boot.label}: encode = the disk the kernel left`, async (t) => {
        const before = diskBefore(boot)
        const after = gz(path.join(dir, `disk-after-${boot.label}.bin.gz`))
        const blk = backendFor(params, before)
        blk.boot()
        for (const a of actions) {
          if (a.startsWith('rm:')) {
            const records = blk.readRecords()
            const r = records.find((x) => recordName(x, 'pstore_blk') === a.slice(3))
            t.ok(r, `${a} names a record`)
            if (r) blk.erase(r.type, r.id)
          } else if (a === 'oops' || a === 'panic') {
            // the zone the kernel wrote is the one the backend picks next
            const zone = blk.layout.dmesg[blk.writeCnt]
            const dump = kernelDump(after, zone.offset)
            if (a === 'panic') {
              const res = blk.writeDmesg({ ...dump.write, payload: Buffer.from('Panic#1 Part1\n') }, 'panic')
              t.equal(res.written, false, 'the panic dump is not written (no panic_write)')
            } else {
              t.equal(dump.reason, 2, `zone ${zone.index} holds the kernel's Oops`)
              const res = blk.writeDmesg(dump.write, 'oops')
              t.equal(res.zone, zone.index)
              t.equal(readKmsgHeader(after, zone.offset + PSZ_HEADER_SIZE).counter, res.counter, 'counter')
            }
          }
        }
        t.ok(blk.disk.bytes.equals(after), `disk after ${boot.label}: ${firstDiff(blk.disk.bytes, after)}`)
      })
    }
  }
}

function firstDiff(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at 0x${i.toString(16)}: ${a[i]} vs ${b[i]}`
  return 'equal'
}

/**
 * pstore-sim's own dumper for pstore/blk's bufsize (kmsg_size - 52): given the kernel's log lines
 * with older ones before them, it picks the same newest lines; compressed parts are compared
 * after inflating, uncompressed ones byte for byte against the zone.
 */
for (const kdir of ['blk-6.1', 'blk-6.12']) {
  const root = path.join(repoRoot, 'test/fixtures', kdir)
  if (!fs.existsSync(root)) continue
  for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
    const dir = path.join(root, name)
    const params = JSON.parse(fs.readFileSync(path.join(dir, 'params.json'), 'utf8')) as Params
    const last = params.boots[params.boots.length - 1]
    t.test(`${kdir}/${name}: pstore-sim's dump of the kernel's log = the kernel's part 1`, async (t) => {
      const disk = gz(path.join(dir, `disk-after-${last.label}.bin.gz`))
      const blk = backendFor(params, disk)
      blk.boot()
      const records = blk.readRecords()
      t.ok(records.length > 0, 'records to compare')
      for (const r of records) {
        const zone = blk.layout.dmesg[Number(r.id)]
        const kernel = kernelDump(disk, zone.offset)
        // the record as the dumper built it: the uncompressed file has the extra first line
        const text = r.payload.toString('latin1').replace(/^[A-Za-z]+: Total \d+ times\n/, '')
        const headerLine = /^Oops#(\d+) Part1\n/.exec(text)
        t.ok(headerLine, `${recordName(r, 'pstore_blk')} starts with its dump header`)
        const lines = text.slice(headerLine?.[0].length ?? 0).match(/[^\n]*\n/g) ?? []
        // a part that starts at the boot's first line held the whole log: nothing older existed
        const whole = /^<\d+>\[ +0\.000000\] Linux version/.test(lines[0] ?? '')
        const older = whole ? [] : Array.from({ length: 2000 }, (_, i) => `<6>[    0.${String(i).padStart(6, '0')}] an older line that did not fit ${i}\n`)
        t.ok(whole || !kernel.write.compressed, 'a compressed part holds the whole log (or the older lines test the cut)')
        const part = buildDumpPart({
          reason: 'oops',
          oopsCount: Number(headerLine?.[1]),
          log: [...older, ...lines],
          bufsize: blk.bufsize,
          compress: blk.setup.compress,
          flavour: blk.setup.quirks.compression,
          time: kernel.write.time,
        })
        t.ok(part, 'a part')
        if (!part) continue
        t.equal(part.compressed, kernel.write.compressed, 'compressed flag')
        if (part.compressed) {
          const ours = decompress(blk.setup.quirks.compression, part.payload, 1 << 20)
          t.ok(ours.ok && ours.data.toString('latin1') === text, `${recordName(r, 'pstore_blk')}: inflated = the kernel's text`)
          t.ok(part.payload.length <= blk.bufsize, 'fits the zone')
        } else {
          t.ok(Buffer.from(part.payload).equals(kernel.write.payload), `${recordName(r, 'pstore_blk')}: the zone's bytes`)
        }
      }
    })
  }
}
