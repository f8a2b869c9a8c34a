/**
 * What the efi fuzzer found (test/unit/efi.test.ts, its last tests), booted by Debian's kernels
 * through Debian's OVMF: one store holding the cases that do not end the read pass: a deleted
 * header with an all-ones DataSize (the firmware walks on 60 bytes later), a crash variable
 * without EFI_VARIABLE_RUNTIME_ACCESS (invisible at runtime), a stored name without NUL (read
 * over the kernel's buffer, which still holds the previous, longer name) and a `dump-type4` name
 * (named `rtas`). The kernel lists what pstore-sim lists: names, sizes, times, bytes. (A store
 * with two live copies of one name is not booted here: the kernel then reads 65536 records
 * through OVMF, which took over 400 s under TCG.)
 */
import t from 'tap'
import { CRASH_GUID } from '../../src/backend/efi/efi.js'
import { emptyOvmfStore } from '../../src/backend/efi/emptyStore.js'
import { guidBytes } from '../../src/backend/efi/varstore.js'
import { makeFiles } from '../../src/pstore/filesystem.js'
import { efiBackend } from '../helpers/efiKernel.js'
import { type KernelSelector, kernelInfo, kernelSkipReason, runKernel } from './harness.js'

const OTHER = guidBytes('8be4df61-93ca-11d2-aa0d-00e098032b8c')

function variable(o: { name: Buffer; guid?: Buffer; data: Buffer; state?: number; attributes?: number; dataSize?: number }): Buffer {
  const h = Buffer.alloc(60)
  h.writeUInt16LE(0x55aa, 0)
  h[2] = o.state ?? 0x3f
  h.writeUInt32LE(o.attributes ?? 7, 4)
  h.writeUInt32LE(o.name.length, 36)
  h.writeUInt32LE(o.dataSize ?? o.data.length, 40)
  ;(o.guid ?? CRASH_GUID).copy(h, 44)
  const v = Buffer.concat([h, o.name, o.data])
  return Buffer.concat([v, Buffer.alloc((4 - (v.length % 4)) % 4, 0xff)])
}

const utf16 = (s: string) => Buffer.from(s, 'utf16le')
const text = (n: number) => Buffer.from(`Panic#1 Part${n}\n<0>[    9.00000${n}] Kernel panic - not syncing: fuzz finding ${n}\n`)

function fuzzStore(): Buffer {
  const b = emptyOvmfStore()
  Buffer.concat([
    variable({ name: utf16('MTC\0'), guid: OTHER, data: Buffer.alloc(4) }),
    variable({ name: Buffer.alloc(0), guid: OTHER, data: Buffer.alloc(0), state: 0x3d, dataSize: 0xffffffff }),
    variable({ name: utf16('dump-type0-9-1-1700000000-D\0'), data: text(9), attributes: 3 }),
    variable({ name: utf16('dump-type0-1-1-1700000000-D\0'), data: text(1) }),
    variable({ name: utf16('dump-type0-2-1-17'), data: text(2) }),
    variable({ name: utf16('dump-type4-3-1-1700000000-D\0'), data: text(3) }),
  ]).copy(b, 0x64)
  return b
}

for (const kernel of ['6.1-debian', '6.12-debian'] as KernelSelector[]) {
  const skip = await kernelSkipReason(kernel)
  const info = skip ? null : kernelInfo(kernel)
  const unavailable = skip || (info && !info.efiModule ? `${kernel} has no efi-pstore.ko in its initramfs` : false)
  const version = info?.kernelVersion ?? '6.12.0'
  t.test(`[${kernel} ${version}] the efi fuzzer's findings: the kernel lists what pstore-sim lists`, { skip: unavailable || false }, async (t) => {
    const image = fuzzStore()
    const sim = efiBackend(version, image, { readOnly: true })
    sim.boot()
    const ours = makeFiles(sim.readRecords(), { now: { sec: 1, nsec: 0 }, wordBits: 64, backend: sim.name }).map((f) => ({
      name: f.name,
      size: f.kernelSize,
      mtime: Number(f.record.time.sec),
      content: f.content.toString('latin1'),
    }))
    t.same(
      ours.map((f) => f.name.split('-').slice(0, -1).join('-')),
      [`dmesg-${sim.name}`, `dmesg-${sim.name}`, `rtas-${sim.name}`],
      'pstore-sim: part 1, part 2 read over the buffer, the rtas record; not the variable without runtime access',
    )
    const r = await runKernel({ kernel, image, efi: {}, actions: ['list'], timeoutMs: 400_000 })
    const theirs = (r.listings[0]?.files ?? []).map((f) => ({ name: f.name, size: f.size, mtime: f.mtimeSec, content: f.content.toString('latin1') }))
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name)
    t.same(theirs.sort(byName), [...ours].sort(byName), "the kernel's listing: names, sizes, mtimes, bytes")
  })
}
