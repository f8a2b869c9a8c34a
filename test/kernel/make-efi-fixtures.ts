/**
 * Writes the efi-pstore fixtures of test/fixtures/efi-6.1/ and test/fixtures/efi-6.12/ with the
 * harness (Debian's kernels booted through Debian's OVMF, efi-pstore.ko over the pflash variable
 * store). Not a test: run by hand when the fixtures are to be made again:
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/kernel/make-efi-fixtures.ts [6.1-debian|6.12-debian] [case…]
 *
 * Each case: params.json (kernel, boots and their actions), vars-after-<boot>.fd.gz (the store
 * after each boot) and listing-<boot>.json (the kernel's /sys/fs/pstore). A boot from 'zero'
 * starts from a copy of Debian's OVMF_VARS_4M.fd. An action `rm:@N` removes the file of the N-th
 * live pstore variable of the store the boot starts from (its name is known only then).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { bootRecord, type FixtureBoot, fixtureDir, kernelRecord, listingJson, reportBoot, writeJson } from './fixture-writer.js'
import { type EfiOption, type KernelSelector, kernelInfo, OVMF_VARS, prepareKernel, runKernel } from './harness.js'

interface Case {
  name: string
  description: string
  efi: EfiOption
  extraCmdline?: string[]
  kernels?: KernelSelector[]
  /** a boot's limit (a listing of a full store takes minutes over the serial line) */
  timeoutMs?: number
  boots: FixtureBoot[]
}

export const EFI_FIXTURE_CASES: Case[] = [
  {
    name: 'a-oops-panic',
    description:
      "Debian's empty OVMF_VARS_4M.fd, efi-pstore.ko without options, compressed (the kernel default): boot 1 writes a marker, oopses and panics; boot 2 lists, removes the first record, lists; boot 3 lists",
    efi: {},
    boots: [
      { label: 'crash', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oops', 'oops', 'sleep:2', 'panic'] },
      { label: 'erase', from: 'crash', actions: ['list', 'rm:@1', 'list'] },
      { label: 'list', from: 'erase', actions: ['list'] },
    ],
  },
  {
    name: 'b-shutdown',
    description: 'printk.always_kmsg_dump=1: boot 1 writes a marker and powers off (a Shutdown dump); boot 2 lists',
    efi: {},
    extraCmdline: ['printk.always_kmsg_dump=1'],
    boots: [
      { label: 'shutdown', from: 'zero', actions: ['kmsg:fixture+marker+before+the+shutdown'] },
      { label: 'list', from: 'shutdown', actions: ['list'] },
    ],
  },
  {
    name: 'c-full',
    description:
      'boot 1 oopses 24 times (each dump ~10 KiB of parts) until the store is nearly full: the kernel stops writing when less than EFI_MIN_RESERVE (5120) bytes would remain; boot 2 lists the full store and removes every record (the variables stay, deleted); boot 3 (OVMF reclaims the deleted variables at boot: offsets change) lists, oopses, lists',
    efi: {},
    timeoutMs: 500_000,
    boots: [
      { label: 'fill', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oopses', ...Array.from({ length: 24 }, () => 'oops'), 'klog'] },
      { label: 'erase', from: 'fill', actions: ['list', 'rmall', 'list'] },
      { label: 'reclaimed', from: 'erase', actions: ['list', 'oops', 'list'] },
    ],
  },
  {
    name: 'd-record-size',
    description: 'efi_pstore.record_size=4096 (6.2+): boot 1 oopses and panics; boot 2 lists',
    efi: { moduleArgs: ['record_size=4096'] },
    kernels: ['6.12-debian'],
    boots: [
      { label: 'crash', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oops', 'oops', 'sleep:2', 'panic'] },
      { label: 'list', from: 'crash', actions: ['list'] },
    ],
  },
]

const CRASH_GUID = Buffer.from('79fcc8cf2ebedc4d97f09f98bfe298a0', 'hex')

/** The names of the live pstore variables of an OVMF store (StartId 0x55AA, State 0x3f), in store order. */
export function livePstoreNames(store: Buffer): string[] {
  const names: string[] = []
  for (let at = 0x64; at + 60 <= 0x40000 && store.readUInt16LE(at) === 0x55aa; ) {
    const nameSize = store.readUInt32LE(at + 36)
    const dataSize = store.readUInt32LE(at + 40)
    if (store[at + 2] === 0x3f && store.subarray(at + 44, at + 60).equals(CRASH_GUID))
      names.push(store.subarray(at + 60, at + 60 + nameSize - 2).toString('utf16le'))
    at = (at + 60 + nameSize + dataSize + 3) & ~3
  }
  return names
}

/** dump-type0-<part>-<count>-<sec>-C|D → dmesg-<backend>-<id>(.enc.z never: the kernel inflates it) */
function fileOf(name: string, backend: string): string {
  const m = /^dump-type0-(\d+)-(\d+)-(\d+)-([CD])$/.exec(name)
  if (!m) throw new Error(`not a dump variable: ${name}`)
  const id = (BigInt(m[3]) * 100n + BigInt(m[1])) * 1000n + BigInt(m[2])
  return `dmesg-${backend}-${id}`
}

async function makeCase(kernel: KernelSelector, c: Case): Promise<void> {
  const info = kernelInfo(kernel)!
  const backend = kernel === '6.1-debian' ? 'efi' : 'efi_pstore'
  const dir = fixtureDir(kernel === '6.1-debian' ? 'efi-6.1' : 'efi-6.12', c.name)
  const files = new Map<string, Buffer>([['zero', fs.readFileSync(OVMF_VARS)]])
  const boots: object[] = []
  for (const b of c.boots) {
    const image = files.get(b.from)!
    const live = livePstoreNames(image)
    const actions = b.actions.map((a) => (/^rm:@\d+$/.test(a) ? `rm:${fileOf(live[Number(a.slice(4)) - 1]!, backend)}` : a))
    const r = await runKernel({ kernel, image, efi: c.efi, extraCmdline: c.extraCmdline, actions, timeoutMs: c.timeoutMs ?? 240_000 })
    files.set(b.label, r.region)
    fs.writeFileSync(path.join(dir, `vars-after-${b.label}.fd.gz`), gzipSync(r.region, { level: 9 }))
    writeJson(path.join(dir, `listing-${b.label}.json`), { ...listingJson(r), moduleParams: r.moduleParams })
    const klog = r.serial
      .split('\n')
      .filter((l) => /efi|pstore/i.test(l))
      .map((l) => l.trim())
    boots.push({ ...bootRecord({ ...b, actions }, b.from === 'zero' ? 'OVMF_VARS_4M.fd' : `vars-after-${b.from}.fd.gz`, r), klog })
    reportBoot(`${kernel} ${c.name}/${b.label}`, r)
  }
  writeJson(path.join(dir, 'params.json'), {
    description: c.description,
    kernel: kernelRecord(kernel, info),
    module_args: c.efi.moduleArgs ?? [],
    extra_cmdline: c.extraCmdline ?? [],
    qemu: `${info.qemuVersion}, TCG, -M pc -m 256M -smp 1, pflash unit 0 OVMF_CODE_4M.fd (read only), unit 1 the store, RTC base 2024-01-01T00:00:00`,
    boots,
  })
}

if (process.argv[1]?.endsWith('make-efi-fixtures.ts')) {
  const args = process.argv.slice(2)
  const kernels = args.filter((a) => a.endsWith('-debian')) as KernelSelector[]
  const only = args.filter((a) => !a.endsWith('-debian'))
  for (const kernel of kernels.length ? kernels : (['6.1-debian', '6.12-debian'] as KernelSelector[])) {
    await prepareKernel(kernel)
    for (const c of EFI_FIXTURE_CASES) if ((!only.length || only.includes(c.name)) && (!c.kernels || c.kernels.includes(kernel))) await makeCase(kernel, c)
  }
}
