/**
 * Writes the real-kernel fixtures of test/fixtures/kernel-6.12/ (Debian's 6.12.107) and
 * test/fixtures/kernel-6.12-custom/ (the custom 6.12 build) with the harness. Not a test: run by
 * hand when the fixtures are to be made again (see the README.md written next to them):
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/kernel/make-fixtures.ts
 *
 * Each case: params.json (ramoops parameters, CPUs, kernel, boots and their actions),
 * region-*.bin.gz (the region before and after each boot, gzipped) and listing*.json (the
 * kernel's /sys/fs/pstore: name, size, mode, uid, gid, mtime + ns, sha256, base64 content).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { bootRecord, type FixtureBoot, fixtureDir, kernelRecord, listingJson, reportBoot, writeJson } from './fixture-writer.js'
import { type KernelRamoopsParams, type KernelSelector, kernelInfo, prepareKernel, runKernel } from './harness.js'

interface Boot extends FixtureBoot {
  /** listings to keep from this boot, as listing-<label>.json */
  keepListing?: boolean
}

interface Case {
  kernel: KernelSelector
  name: string
  description: string
  params: KernelRamoopsParams
  cpus: number
  boots: Boot[]
}

const P1M: KernelRamoopsParams = { memSize: 0x100000, recordSize: 0x8000, consoleSize: 0x8000, ftraceSize: 0, pmsgSize: 0x1000, ecc: 0 }

const CASES: Case[] = [
  {
    kernel: '6.12-debian',
    name: 'a-panic-reboot',
    description: 'zeroed region; boot 1 writes a marker to /dev/kmsg and panics (sysrq c); boot 2 lists the record, removes it and lists again',
    params: P1M,
    cpus: 1,
    boots: [
      { label: 'panic', from: 'zero', actions: ['kmsg:fixture+marker+before+the+panic', 'panic'] },
      { label: 'erase', from: 'panic', actions: ['list', 'rm:dmesg-ramoops-0', 'list'], keepListing: true },
    ],
  },
  {
    kernel: '6.12-debian',
    name: 'c-ecc-oops',
    description: 'ecc=1 (16 parity bytes per 128-byte block), ftrace 0x2000 on 2 CPUs; boot 1 oopses twice (helper module); boot 2 lists both records',
    params: { ...P1M, ftraceSize: 0x2000, ecc: 1 },
    cpus: 2,
    boots: [
      { label: 'oops', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oopses', 'oops', 'oops'] },
      { label: 'list', from: 'oops', actions: ['list'], keepListing: true },
    ],
  },
  {
    kernel: '6.12-custom',
    name: 'h1-console-pmsg-panic',
    description:
      'custom 6.12 (every frontend, ramoops built in): boot 1 writes two pmsg messages and a kmsg marker, oopses (LKDTM EXCEPTION) and panics; boot 2 lists dmesg, console and pmsg',
    params: { ...P1M, pmsgSize: 0x2000 },
    cpus: 1,
    boots: [
      { label: 'crash', from: 'zero', actions: ['pmsg:Hello+world', 'pmsg:second+write', 'kmsg:fixture+marker', 'oops', 'panic'] },
      { label: 'list', from: 'crash', actions: ['list'], keepListing: true },
    ],
  },
  {
    kernel: '6.12-custom',
    name: 'h2-ftrace-smp2-ecc',
    description:
      'custom 6.12, 2 CPUs, ecc=1, ftrace 0x4000: boot 1 records ftrace for a moment, then panics; boot 2 lists ftrace-ramoops-0 (both per-CPU zones merged, with the ECC notice)',
    params: { ...P1M, ftraceSize: 0x4000, ecc: 1 },
    cpus: 2,
    boots: [
      { label: 'crash', from: 'zero', actions: ['ftrace:on', 'kmsg:traced', 'ftrace:off', 'panic'] },
      { label: 'list', from: 'crash', actions: ['list'], keepListing: true },
    ],
  },
]

const hex = (n: number): string => '0x' + n.toString(16)

const only = process.argv.slice(2)
for (const c of CASES) {
  if (only.length && !only.includes(c.name)) continue
  await prepareKernel(c.kernel)
  const info = kernelInfo(c.kernel)!
  const dir = fixtureDir(c.kernel === '6.12-debian' ? 'kernel-6.12' : 'kernel-6.12-custom', c.name)
  const regions = new Map<string, Buffer>([['zero', Buffer.alloc(c.params.memSize)]])
  const boots: object[] = []
  fs.writeFileSync(path.join(dir, 'region-before.bin.gz'), gzipSync(regions.get('zero')!))
  for (const b of c.boots) {
    const image = regions.get(b.from)!
    const r = await runKernel({ kernel: c.kernel, image, params: c.params, actions: b.actions, cpus: c.cpus })
    regions.set(b.label, r.region)
    fs.writeFileSync(path.join(dir, `region-after-${b.label}.bin.gz`), gzipSync(r.region, { level: 9 }))
    if (b.keepListing)
      writeJson(path.join(dir, b === c.boots[c.boots.length - 1] ? 'listing.json' : `listing-${b.label}.json`), listingJson(r, { contentLength: true }))
    boots.push(bootRecord(b, b.from === 'zero' ? 'region-before.bin.gz' : `region-after-${b.from}.bin.gz`, r))
    reportBoot(`${c.name}/${b.label}`, r)
  }
  const params = {
    description: c.description,
    kernel: kernelRecord(c.kernel, info),
    ramoops: {
      mem_address: hex(0x8000000),
      mem_size: hex(c.params.memSize),
      record_size: hex(c.params.recordSize),
      console_size: hex(c.params.consoleSize),
      ftrace_size: hex(c.params.ftraceSize),
      pmsg_size: hex(c.params.pmsgSize),
      ecc: String(c.params.ecc),
    },
    guest_nr_cpus: c.cpus,
    qemu: `${info.qemuVersion}, TCG, -M pc -m 256M -smp ${c.cpus}, RTC base 2024-01-01T00:00:00`,
    boots,
  }
  writeJson(path.join(dir, 'params.json'), params)
}
