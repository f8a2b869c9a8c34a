/**
 * Writes the ERST fixtures of test/fixtures/erst-6.1/ and test/fixtures/erst-6.12/ with the
 * harness (Debian's kernels, ACPI APEI built in, QEMU's acpi-erst over a memory-backend-file).
 * Not a test: run by hand when the fixtures are to be made again (see test/fixtures/README.md):
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/kernel/make-erst-fixtures.ts [6.1-debian|6.12-debian] [case…]
 *
 * Each case: params.json (file size, record_size, kernel, boots and their actions),
 * erst-after-<boot>.bin.gz (the backing file after each boot) and listing-<boot>.json (the
 * kernel's /sys/fs/pstore: name, size, mode, uid, gid, mtime + ns, sha256, base64 content).
 * An action `rm:@N` removes the record in the N-th used slot of the file the boot starts from
 * (its id, hence its name, is known only once the earlier boot has run).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { bootRecord, type FixtureBoot, fixtureDir, kernelRecord, listingJson, reportBoot, writeJson } from './fixture-writer.js'
import { type ErstOption, type KernelSelector, kernelInfo, prepareKernel, runKernel } from './harness.js'

interface Case {
  name: string
  description: string
  erst: ErstOption
  extraCmdline?: string[]
  /** from 'zero': a new file (QEMU writes its header) */
  boots: FixtureBoot[]
}

export const ERST_FIXTURE_CASES: Case[] = [
  {
    name: 'a-oops-panic',
    description:
      '64 KiB file, 8 KiB records (QEMU default: 7 record slots), compressed (the kernel default): boot 1 writes a marker, oopses and panics; boot 2 lists, removes the first record, lists; boot 3 lists',
    erst: { size: 0x10000 },
    boots: [
      { label: 'crash', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oops', 'oops', 'sleep:2', 'panic'] },
      { label: 'erase', from: 'crash', actions: ['list', 'rm:@1', 'list'] },
      { label: 'list', from: 'erase', actions: ['list'] },
    ],
  },
  {
    name: 'b-plain-4k',
    description:
      '64 KiB file, record_size=4096 (15 record slots), pstore.compress=none: boot 1 oopses and panics (parts of 3896 bytes until kmsg_bytes 10240); boot 2 lists',
    erst: { size: 0x10000, recordSize: 4096 },
    extraCmdline: ['pstore.compress=none'],
    boots: [
      { label: 'crash', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oops', 'oops', 'sleep:2', 'panic'] },
      { label: 'list', from: 'crash', actions: ['list'] },
    ],
  },
]

/** The record id in the n-th used slot (1-based) of a QEMU acpi-erst file. */
export function nthRecordId(file: Buffer, n: number): bigint {
  const recordSize = file.readUInt32LE(8)
  const first = file.readUInt32LE(12) / recordSize
  let seen = 0
  for (let slot = first; slot < file.length / recordSize; slot++) {
    const id = file.readBigUInt64LE(24 + slot * 8)
    if (id !== 0n && ++seen === n) return id
  }
  throw new Error(`no record in used slot ${n}`)
}

export function resolveActions(actions: string[], file: Buffer): string[] {
  return actions.map((a) => (/^rm:@\d+$/.test(a) ? `rm:dmesg-erst-${nthRecordId(file, Number(a.slice(4)))}` : a))
}

async function makeCase(kernel: KernelSelector, c: Case): Promise<void> {
  const info = kernelInfo(kernel)!
  const dir = fixtureDir(kernel === '6.1-debian' ? 'erst-6.1' : 'erst-6.12', c.name)
  const files = new Map<string, Buffer>([['zero', Buffer.alloc(c.erst.size)]])
  const boots: object[] = []
  for (const b of c.boots) {
    const image = files.get(b.from)!
    const actions = resolveActions(b.actions, image)
    const r = await runKernel({ kernel, image, erst: c.erst, extraCmdline: c.extraCmdline, actions, timeoutMs: 240_000 })
    files.set(b.label, r.region)
    fs.writeFileSync(path.join(dir, `erst-after-${b.label}.bin.gz`), gzipSync(r.region, { level: 9 }))
    writeJson(path.join(dir, `listing-${b.label}.json`), { ...listingJson(r), moduleParams: r.moduleParams })
    const klog = r.serial
      .split('\n')
      .filter((l) => /ERST|pstore: /.test(l))
      .map((l) => l.trim())
    boots.push({ ...bootRecord({ ...b, actions }, b.from === 'zero' ? 'zeros' : `erst-after-${b.from}.bin.gz`, r), klog })
    reportBoot(`${kernel} ${c.name}/${b.label}`, r)
  }
  const params = {
    description: c.description,
    kernel: kernelRecord(kernel, info),
    size: c.erst.size,
    record_size: c.erst.recordSize ?? 8192,
    record_size_given: c.erst.recordSize !== undefined,
    extra_cmdline: c.extraCmdline ?? [],
    qemu: `${info.qemuVersion}, TCG, -M pc -m 256M -smp 1, -object memory-backend-file,share=on -device acpi-erst, RTC base 2024-01-01T00:00:00`,
    boots,
  }
  writeJson(path.join(dir, 'params.json'), params)
}

if (process.argv[1]?.endsWith('make-erst-fixtures.ts')) {
  const args = process.argv.slice(2)
  const kernels = args.filter((a) => a.endsWith('-debian')) as KernelSelector[]
  const only = args.filter((a) => !a.endsWith('-debian'))
  for (const kernel of kernels.length ? kernels : (['6.1-debian', '6.12-debian'] as KernelSelector[])) {
    await prepareKernel(kernel)
    for (const c of ERST_FIXTURE_CASES) if (!only.length || only.includes(c.name)) await makeCase(kernel, c)
  }
}
