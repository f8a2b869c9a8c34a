/**
 * OVMF variable stores Debian's real kernels wrote through efi-pstore.ko, booted through Debian's
 * OVMF (test/fixtures/efi-6.1, efi-6.12; made by test/kernel/make-efi-fixtures.ts), against
 * pstore-sim's efi backend without FUSE or QEMU. Decode: each boot's first listing is what the
 * backend reads from the store the boot started from. Encode: every part the kernel wrote is
 * pstore-sim's deflate of its text byte for byte; the kernel's writes replayed through the
 * backend on the store as it was before them give the kernel's store byte for byte; an rm
 * changes the byte the kernel changed. OVMF adds and replaces its own variables at every boot:
 * only pstore's variables are compared across boots.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { compress, decompress } from '../../src/pstore/compression.js'
import { dumpParts } from '../../src/pstore/kmsgDumper.js'
import { recordBytes, recordName } from '../../src/pstore/record.js'
import { beforePstoreWrites, efiBackend, parsedName, pstoreVariables, variablesOf } from '../helpers/efiKernel.js'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'

interface Params {
  kernel: { kernelVersion: string; selector: string }
  module_args: string[]
  extra_cmdline: string[]
  boots: Array<{ label: string; image: string; actions: string; panicked: boolean; klog: string[] }>
}
interface Listing {
  listings: { tag: string; files: KernelListingFile[] }[]
}

const gz = (f: string): Buffer => gunzipSync(fs.readFileSync(f))

/** The offsets where two stores differ (a loop: spreading 528 KiB into an array cost ~1 s of the file's CPU). */
function differingOffsets(a: Buffer, b: Buffer): number[] {
  const out: number[] = []
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i)
  return out
}
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'

for (const kdir of ['efi-6.1', 'efi-6.12']) {
  const root = path.join(repoRoot, 'test/fixtures', kdir)
  if (!fs.existsSync(root)) continue
  for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
    const dir = path.join(root, name)
    const params = JSON.parse(fs.readFileSync(path.join(dir, 'params.json'), 'utf8')) as Params
    const version = params.kernel.kernelVersion
    const recordSize = Number(params.module_args.find((a) => a.startsWith('record_size='))?.slice(12) ?? 0) || undefined
    const backendName = version.startsWith('6.1.') ? 'efi' : 'efi_pstore'
    const after = (label: string): Buffer => gz(path.join(dir, `vars-after-${label}.fd.gz`))
    const before = (b: Params['boots'][number]): Buffer | undefined =>
      b.image === 'OVMF_VARS_4M.fd' ? (fs.existsSync(OVMF_VARS) ? fs.readFileSync(OVMF_VARS) : undefined) : gz(path.join(dir, b.image))

    t.test(`${kdir}/${name}: the kernel registered ${backendName}`, async (t) => {
      for (const b of params.boots)
        t.ok(
          b.klog.some((l) => l.includes(`pstore: Registered ${backendName} as persistent store backend`)),
          `${b.label}: ${b.klog.filter((l) => l.includes('pstore')).join(' | ')}`,
        )
    })

    for (const boot of params.boots) {
      const listing = JSON.parse(fs.readFileSync(path.join(dir, `listing-${boot.label}.json`), 'utf8')) as Listing
      const actions = boot.actions.split(',')
      const start = before(boot)
      if (actions[0] === 'list' && start) {
        t.test(`${kdir}/${name}/${boot.label}: decode = the kernel's first listing`, async (t) => {
          const efi = efiBackend(version, start, { recordSize })
          efi.boot()
          const records = efi.readRecords()
          const files = listing.listings[0]?.files ?? []
          if (pstoreVariables(start).some((v) => v.state === 0x3f)) t.ok(files.length > 0, 'the kernel listed records')
          t.same(records.map((r) => recordName(r, efi.name)).sort(), files.map((f) => f.name).sort(), 'names')
          for (const r of records) {
            const f = files.find((x) => x.name === recordName(r, efi.name))
            if (!f) continue
            const bytes = recordBytes(r)
            t.equal(bytes.length, f.size, `${f.name} i_size`)
            t.ok(bytes.equals(Buffer.from(f.content_b64, 'base64')), `${f.name} content`)
            t.same([Number(r.time.sec), Number(r.time.nsec)], [f.mtime, f.mtime_nsec], `${f.name} mtime: the seconds of its name, 0 ns`)
          }
        })
      }

      const crashes = actions.filter((a) => a === 'oops' || a === 'panic')
      if (crashes.length || boot.image === 'OVMF_VARS_4M.fd') {
        t.test(`${kdir}/${name}/${boot.label}: encode = the variables the kernel wrote`, async (t) => {
          const kernelStore = after(boot.label)
          const written = pstoreVariables(kernelStore)
          if (!crashes.length && !params.extra_cmdline.includes('printk.always_kmsg_dump=1')) return t.same(written, [], 'no dump')
          t.ok(written.length > 0, `${written.length} variables`)
          const flavourOf = efiBackend(version, kernelStore, { recordSize })
          const flavour = flavourOf.setup.quirks.compression
          for (const v of written) {
            const d = parsedName(v)
            t.equal(v.state, 0x3f, `${v.name}: State VAR_ADDED`)
            t.equal(v.attributes, 7, `${v.name}: attributes NV|BS|RT`)
            const data = kernelStore.subarray(v.dataOffset, v.dataOffset + v.dataSize)
            if (!d.compressed) continue
            const text = decompress(flavour, data, 1 << 20)
            t.ok(text.ok, `${v.name} inflates`)
            if (!text.ok) continue
            const ours = compress(flavour, text.data, flavourOf.bufsize, 'deflate', true)
            t.ok(ours?.equals(data), `${v.name}: pstore-sim's deflate of the text = the kernel's ${data.length} bytes`)
          }
          // the kernel's parts replayed through the backend on the store before them
          const sim = efiBackend(version, beforePstoreWrites(kernelStore), { recordSize })
          for (const v of written) {
            const d = parsedName(v)
            const payload = kernelStore.subarray(v.dataOffset, v.dataOffset + v.dataSize)
            const r = sim.writeDmesg({ part: d.part, count: d.count, compressed: d.compressed, payload, time: { sec: Number(d.seconds), nsec: 0 } })
            t.ok(r.stored, `${v.name} stored`)
          }
          if (name.includes('full') && boot.label === 'fill') {
            // the kernel's next part was refused: one as small as its smallest part is refused here too
            const smallest = Math.min(...written.map((v) => v.dataSize))
            const probe = Buffer.from(sim.region.bytes)
            const next = sim.writeDmesg({ part: 99, count: 99, compressed: true, payload: Buffer.alloc(smallest), time: { sec: 1, nsec: 0 } })
            t.notOk(next.stored, `after the kernel's last part, a ${smallest}-byte part is refused (${next.stored ? 'stored' : next.why})`)
            t.ok(sim.region.bytes.equals(probe), 'the refusal wrote nothing')
          }
          const diff = differingOffsets(sim.region.bytes, kernelStore)[0] ?? -1
          t.equal(diff, -1, `replayed writes = the kernel's store byte for byte${diff >= 0 ? ` (first difference at 0x${diff.toString(16)})` : ''}`)
        })
      }

      const rms = actions.filter((a) => a.startsWith('rm:') || a === 'rmall')
      if (rms.length && start) {
        t.test(`${kdir}/${name}/${boot.label}: rm = the kernel's one-byte erase`, async (t) => {
          const sim = efiBackend(version, start, { recordSize })
          // OVMF's boot first: a nearly full store is reclaimed before the kernel runs
          const outcome = sim.boot()[0]?.outcome
          const booted = Buffer.from(sim.region.bytes)
          const records = sim.readRecords()
          const victims = rms.includes('rmall') ? records : records.filter((x) => rms.includes(`rm:${recordName(x, sim.name)}`))
          t.equal(victims.length, rms.includes('rmall') ? records.length : rms.length, `${victims.length} records pstore-sim shows (boot: ${outcome})`)
          for (const r of victims) sim.erase(r.type, r.id)
          const changed = differingOffsets(sim.region.bytes, booted)
          t.equal(changed.length, victims.length, 'one byte a record')
          for (const i of changed) if (booted[i] !== 0x3f || sim.region.bytes[i] !== 0x3d) t.fail(`State at 0x${i.toString(16)}: 0x3f → 0x3d`)
          const kernelAfter = pstoreVariables(after(boot.label))
          const ours = pstoreVariables(sim.region.bytes)
          t.same(
            ours.map((v) => v.bytes.toString('hex')),
            kernelAfter.map((v) => v.bytes.toString('hex')),
            "pstore's variables = the kernel's, byte for byte, in order",
          )
          // OVMF rewrites its own variables (MTC, ConOut, ConIn, ErrOut) during the boot before it
          // reclaims, so they end up after pstore's; pstore-sim does not rewrite them: a reclaimed
          // store's pstore variables sit that many bytes later in pstore-sim's
          const shift = outcome === 'reclaimed' ? (ours[0]?.offset ?? 0) - (kernelAfter[0]?.offset ?? 0) : 0
          t.same(
            ours.map((v) => v.offset - shift),
            kernelAfter.map((v) => v.offset),
            outcome === 'reclaimed' ? `the same offsets but for OVMF's rewritten variables (${shift} bytes)` : 'at the same offsets',
          )
        })
      }

      if (start && efiBackend(version, start, { recordSize }).boot()[0]?.outcome === 'reclaimed') {
        t.test(`${kdir}/${name}/${boot.label}: OVMF's reclaim at boot = pstore-sim's`, async (t) => {
          const sim = efiBackend(version, start, { recordSize })
          sim.boot()
          const ours = variablesOf(sim.region.bytes)
          const kernels = variablesOf(after(boot.label))
          t.ok(
            ours.every((v) => v.state === 0x3f),
            'no deleted variable left',
          )
          // the live variables packed from the start in order; OVMF's own rewritten ones (new copies
          // at the end before its reclaim) and what it and the kernel wrote after are left out
          const rewritten = new Set(
            kernels.slice(kernels.findIndex((v) => v.offset > (kernels.find((k) => k.name.startsWith('dump'))?.offset ?? 0))).map((v) => v.name),
          )
          const kept = (v: { name: string }) => !rewritten.has(v.name) || v.name.startsWith('dump')
          const firstDump = (list: typeof ours) => list.findIndex((v) => v.name.startsWith('dump'))
          const prefix = (list: typeof ours) => list.slice(0, firstDump(list) < 0 ? list.length : firstDump(list)).filter(kept)
          t.same(
            prefix(ours).map((v) => v.name),
            prefix(kernels).map((v) => v.name),
            "the live variables before pstore's, in order (OVMF's rewritten ones moved: offsets differ by their sizes)",
          )
          t.ok(
            ours.every((v, i) => i === 0 || v.offset === ours[i - 1]?.end),
            'packed from the start, no gap',
          )
          t.equal(ours[0]?.offset, 0x64)
        })
      }
    }

    const shutdown = params.extra_cmdline.includes('printk.always_kmsg_dump=1')
    const crashBoot = shutdown ? params.boots[0] : params.boots.find((b) => b.actions.split(',').some((a) => a === 'oops' || a === 'panic'))
    if (!crashBoot) continue
    t.test(`${kdir}/${name}: pstore-sim's dumper on the kernel's lines = the kernel's parts`, async (t) => {
      const kernelStore = after(crashBoot.label)
      const efi = efiBackend(version, kernelStore, { recordSize })
      const flavour = efi.setup.quirks.compression
      const variables = pstoreVariables(kernelStore)
      const counts = [...new Set(variables.map((v) => parsedName(v).count))]
      for (const count of counts) {
        const parts = variables.filter((v) => parsedName(v).count === count)
        const texts = parts.map((v) => {
          const data = kernelStore.subarray(v.dataOffset, v.dataOffset + v.dataSize)
          const r = parsedName(v).compressed ? decompress(flavour, data, 1 << 20) : { ok: true as const, data: Buffer.from(data) }
          return r.ok ? r.data.toString('latin1') : ''
        })
        const reason = texts[0]?.startsWith('Panic') ? 'panic' : texts[0]?.startsWith('Shutdown') ? 'shutdown' : 'oops'
        // the kernel's lines, oldest first, and older lines (longer than any part) beyond the last part
        const lines = texts
          .slice()
          .reverse()
          .flatMap((x) => x.slice(x.indexOf('\n') + 1).match(/[^\n]*\n/g) ?? [])
        const older = Array.from({ length: 4 }, (_, i) => `<6>[    0.00000${i}] ${'an older line longer than any part '.repeat(200)}\n`)
        const ours = dumpParts(
          {
            reason,
            oopsCount: count,
            log: [...older, ...lines],
            bufsize: efi.bufsize,
            compress: true,
            flavour,
            time: { sec: 0, nsec: 0 },
            kmsgBytes: 10240,
            kernelExactDeflate: true,
          },
          () => undefined,
        )
        // a full store refuses the dump's last parts (the dumper goes on; they are not in the store)
        const cut = name.includes('full') ? ours.slice(0, parts.length) : ours
        t.same(
          cut.map(({ part }) => Buffer.from(part.payload).toString('hex')),
          parts.map((v) => kernelStore.subarray(v.dataOffset, v.dataOffset + v.dataSize).toString('hex')),
          `${reason}#${count}: ${parts.length} parts, byte for byte (split, deflate and the kmsg_bytes stop)`,
        )
      }
    })
  }
}
