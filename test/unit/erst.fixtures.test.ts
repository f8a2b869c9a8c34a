/**
 * ERST files Debian's real kernels wrote through QEMU's acpi-erst (test/fixtures/erst-6.1,
 * erst-6.12; see test/fixtures/README.md), against pstore-sim's erst backend without FUSE or
 * QEMU. Decode: each boot's first listing is what the backend reads from the file the boot
 * started from (names = ids, sizes, bytes after inflating, mtimes). Encode: every CPER header
 * field of every kernel record is what pstore-sim's encoder writes for the same id, time and
 * payload; the kernel's writes (its own payloads and times) replayed through the backend on the
 * same starting file give the kernel's file byte for byte, ids, slots, 0xFF fill, map and count
 * included; an rm gives the kernel's file too. Split: pstore-sim's dumper on the kernel's own
 * log lines makes the same parts.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { firstRecordIdBase } from '../../src/backend/erst/cper.js'
import { recordBytes, recordName } from '../../src/pstore/record.js'
import {
  cperFieldDiffs,
  dumpsOf,
  type ErstGeometry,
  encodedLike,
  erstBackend,
  firstDiff,
  replayWrites,
  simulatedDump,
  slotRecords,
} from '../helpers/erstKernel.js'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'

interface Params {
  kernel: { kernelVersion: string; selector: string }
  size: number
  record_size: number
  record_size_given: boolean
  extra_cmdline: string[]
  boots: Array<{ label: string; image: string; actions: string; panicked: boolean; klog: string[] }>
}
interface Listing {
  listings: { tag: string; files: KernelListingFile[] }[]
}

const gz = (f: string): Buffer => gunzipSync(fs.readFileSync(f))

for (const kdir of ['erst-6.1', 'erst-6.12']) {
  const root = path.join(repoRoot, 'test/fixtures', kdir)
  if (!fs.existsSync(root)) continue
  for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
    const dir = path.join(root, name)
    const params = JSON.parse(fs.readFileSync(path.join(dir, 'params.json'), 'utf8')) as Params
    const g: ErstGeometry = {
      size: params.size,
      recordSize: params.record_size,
      kernelVersion: params.kernel.kernelVersion,
      compress: !params.extra_cmdline.includes('pstore.compress=none'),
    }
    const fileBefore = (b: Params['boots'][number]): Buffer => (b.image === 'zeros' ? Buffer.alloc(params.size) : gz(path.join(dir, b.image)))
    const fileAfter = (b: Params['boots'][number]): Buffer => gz(path.join(dir, `erst-after-${b.label}.bin.gz`))

    t.test(`${kdir}/${name}: the kernel registered erst as its pstore backend`, async (t) => {
      for (const b of params.boots)
        t.ok(
          b.klog.some((l) => l.includes('pstore: Registered erst as persistent store backend')),
          `${b.label}: ${b.klog.join(' | ')}`,
        )
    })

    for (const boot of params.boots) {
      const listing = JSON.parse(fs.readFileSync(path.join(dir, `listing-${boot.label}.json`), 'utf8')) as Listing
      const actions = boot.actions.split(',')
      if (actions[0] === 'list') {
        t.test(`${kdir}/${name}/${boot.label}: decode = the kernel's first listing`, async (t) => {
          const erst = erstBackend(g, fileBefore(boot))
          erst.boot()
          const records = erst.readRecords()
          const files = listing.listings[0].files
          t.ok(files.length > 0, 'the kernel listed records')
          t.same(
            records.map((r) => recordName(r, 'erst')),
            files.map((f) => f.name),
            'names (ls sorts; ids grow with the slots here)',
          )
          for (const [i, r] of records.entries()) {
            const f = files[i]
            if (!f) continue
            const bytes = recordBytes(r)
            t.equal(bytes.length, f.size, `${f.name} i_size`)
            t.ok(bytes.equals(Buffer.from(f.content_b64, 'base64')), `${f.name} content`)
            t.same([Number(r.time.sec), Number(r.time.nsec)], [f.mtime, f.mtime_nsec], `${f.name} mtime`)
            t.same([f.mode, f.uid, f.gid], ['0444', 0, 0], `${f.name} mode and owner`)
          }
        })
      }

      t.test(`${kdir}/${name}/${boot.label}: encode = the file the kernel left`, async (t) => {
        const before = fileBefore(boot)
        const after = fileAfter(boot)
        if (boot.image === 'zeros') {
          // QEMU's header for a new file = what pstore-sim's boot writes into zeros
          const sim = erstBackend(g, before)
          sim.boot()
          t.ok(
            sim.region.bytes.subarray(0, 20).equals(after.subarray(0, 20)),
            `storage header: ${firstDiff(sim.region.bytes.subarray(0, 20), after.subarray(0, 20))}`,
          )
        }
        for (const r of slotRecords(after)) {
          t.equal(r.headerId, r.mapId, `slot ${r.slot}: header record_id = QEMU's map entry`)
          t.same(
            cperFieldDiffs(after.subarray(r.slot * params.record_size), encodedLike(r)),
            [],
            `slot ${r.slot}: every CPER header field as pstore-sim encodes it`,
          )
        }
        const rms = actions.filter((a) => a.startsWith('rm:'))
        const crashes = actions.filter((a) => a === 'oops' || a === 'panic')
        if (crashes.length) {
          const { file, written } = replayWrites(g, before, after)
          t.ok(written.length >= crashes.length, `${written.length} records for ${crashes.join(', ')}`)
          const base = firstRecordIdBase(Number(slotRecords(after).find((r) => r.mapId === written[0]?.id)?.timestamp ?? 0))
          t.same(
            written.map((w) => w.id),
            written.map((_, i) => base + BigInt(i + 1)),
            "ids: the boot's first record time << 32, + 1 per record",
          )
          t.ok(file.equals(after), `replayed writes: ${firstDiff(file, after)}`)
        }
        if (rms.length) {
          const sim = erstBackend(g, before)
          sim.boot()
          for (const a of rms) sim.erase('dmesg', BigInt(a.slice('rm:dmesg-erst-'.length)))
          t.ok(sim.region.bytes.equals(after), `after ${rms.join(', ')}: ${firstDiff(sim.region.bytes, after)}`)
        }
        if (!rms.length && !crashes.length) t.ok(before.equals(after), 'a boot that only lists changes nothing')
      })
    }

    const crashBoot = params.boots.find((b) => b.actions.split(',').some((a) => a === 'oops' || a === 'panic'))
    if (!crashBoot) continue
    t.test(`${kdir}/${name}: pstore-sim's dumper on the kernel's lines = the kernel's parts`, async (t) => {
      const erst = erstBackend(g, fileAfter(crashBoot))
      erst.boot()
      const dumps = dumpsOf(erst.readRecords())
      t.same(
        dumps.map((d) => `${d.reason}#${d.count}`),
        ['oops#1', 'panic#2'],
        'an Oops, then a panic (the oops counter goes on)',
      )
      const stored = slotRecords(fileAfter(crashBoot))
      for (const d of dumps) {
        const kernelParts = d.records.map((r) => stored.find((s) => s.mapId === BigInt(r.id))!)
        const sizes = kernelParts.map((p) => p.payload.length)
        if (g.compress) {
          // another deflate cannot give the kernel's compressed sizes, which kmsg_bytes counts:
          // the lines of each part are compared, and the cut by the kernel's own sizes
          const ours = simulatedDump(erst, d, Number.MAX_SAFE_INTEGER)
          t.same(
            ours.slice(0, d.texts.length).map((p) => p.text),
            d.texts,
            `${d.reason}#${d.count}: the same lines in each of the kernel's ${d.texts.length} parts`,
          )
          const before = sizes.slice(0, -1).reduce((a, b) => a + b, 0)
          const whole = ours.length === d.texts.length
          t.ok(
            before < 10240 && (whole || before + sizes[sizes.length - 1] >= 10240),
            `kmsg_bytes 10240 cut after the part that reached it (sizes ${sizes.join(' + ')})`,
          )
        } else {
          const ours = simulatedDump(erst, d)
          t.same(
            ours.map((p) => p.text),
            d.texts,
            `${d.reason}#${d.count}: ${d.texts.length} parts, the same lines in each`,
          )
          t.same(
            ours.map((p) => p.bytes),
            sizes,
            'part sizes',
          )
        }
        t.same(
          kernelParts.map((p) => p.compressed),
          d.texts.map(() => g.compress),
          'compressed flags',
        )
      }
    })
  }
}
