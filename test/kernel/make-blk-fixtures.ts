/**
 * Writes the pstore/blk fixtures of test/fixtures/blk-6.1/ and test/fixtures/blk-6.12/ with the
 * harness (Debian's kernels, pstore_blk.ko on a virtio disk, best_effort=y). Not a test: run by
 * hand when the fixtures are to be made again (see the README.md next to them):
 *
 *   node --import=./node_modules/@tapjs/typescript/dist/esm/import.mjs test/kernel/make-blk-fixtures.ts [6.1-debian|6.12-debian] [case…]
 *
 * Each case: params.json (disk size, module options, kernel, boots and their actions),
 * disk-*.bin.gz (the disk before and after each boot, gzipped) and listing-<boot>.json (the
 * kernel's /sys/fs/pstore: name, size, mode, uid, gid, mtime + ns, sha256, base64 content).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { bootRecord, type FixtureBoot, fixtureDir, kernelRecord, listingJson, reportBoot, writeJson } from './fixture-writer.js'
import { type KernelSelector, kernelInfo, prepareKernel, runKernel } from './harness.js'

interface Case {
  name: string
  description: string
  diskSize: number
  options: string[]
  extraCmdline?: string[]
  boots: FixtureBoot[]
}

export const BLK_FIXTURE_CASES: Case[] = [
  {
    name: 'a-oops-rr',
    description:
      '256 KiB disk, kmsg_size=64 (4 dmesg zones), compressed (the kernel default): boot 1 oopses twice and panics (no panic record: no panic_write); boot 2 lists, removes dmesg-pstore_blk-0, lists, oopses; boot 3 lists',
    diskSize: 256 * 1024,
    options: ['blkdev=/dev/vda', 'kmsg_size=64', 'best_effort=y'],
    boots: [
      { label: 'crash', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oopses', 'oops', 'sleep:2', 'oops', 'sleep:2', 'panic'] },
      { label: 'erase', from: 'crash', actions: ['list', 'rm:dmesg-pstore_blk-0', 'list', 'oops', 'sleep:2'] },
      { label: 'list', from: 'erase', actions: ['list'] },
    ],
  },
  {
    name: 'b-plain-zones',
    description:
      '128 KiB disk, kmsg_size=16, pmsg_size=8, console_size=8, pstore.compress=none: boot 1 oopses; boot 2 lists (uncompressed record with its extra first line)',
    diskSize: 128 * 1024,
    options: ['blkdev=/dev/vda', 'kmsg_size=16', 'pmsg_size=8', 'console_size=8', 'best_effort=y'],
    extraCmdline: ['pstore.compress=none'],
    boots: [
      { label: 'oops', from: 'zero', actions: ['kmsg:fixture+marker+before+the+oops', 'oops', 'sleep:2'] },
      { label: 'list', from: 'oops', actions: ['list'] },
    ],
  },
]

if (process.argv[1]?.endsWith('make-blk-fixtures.ts')) {
  const args = process.argv.slice(2)
  const kernels = (args.filter((a) => a.endsWith('-debian')) as KernelSelector[]) ?? []
  const only = args.filter((a) => !a.endsWith('-debian'))
  for (const kernel of kernels.length ? kernels : (['6.1-debian', '6.12-debian'] as KernelSelector[])) {
    await prepareKernel(kernel)
    const info = kernelInfo(kernel)!
    for (const c of BLK_FIXTURE_CASES) {
      if (only.length && !only.includes(c.name)) continue
      const dir = fixtureDir(kernel === '6.1-debian' ? 'blk-6.1' : 'blk-6.12', c.name)
      const disks = new Map<string, Buffer>([['zero', Buffer.alloc(c.diskSize)]])
      const boots: object[] = []
      for (const b of c.boots) {
        const r = await runKernel({ kernel, image: disks.get(b.from)!, blk: c.options, extraCmdline: c.extraCmdline, actions: b.actions, timeoutMs: 240_000 })
        disks.set(b.label, r.region)
        fs.writeFileSync(path.join(dir, `disk-after-${b.label}.bin.gz`), gzipSync(r.region, { level: 9 }))
        writeJson(path.join(dir, `listing-${b.label}.json`), { ...listingJson(r), moduleParams: r.moduleParams })
        fs.writeFileSync(
          path.join(dir, `serial-${b.label}.log`),
          r.serial
            .split('\n')
            .filter((l) => /pstore|Oops|panic|virtio|vda/i.test(l))
            .join('\n') + '\n',
        )
        boots.push(bootRecord(b, b.from === 'zero' ? 'zeros' : `disk-after-${b.from}.bin.gz`, r))
        reportBoot(`${kernel} ${c.name}/${b.label}`, r)
      }
      const params = {
        description: c.description,
        kernel: kernelRecord(kernel, info),
        disk_size: c.diskSize,
        pstore_blk: c.options,
        extra_cmdline: c.extraCmdline ?? [],
        qemu: `${info.qemuVersion}, TCG, -M pc -m 256M -smp 1, -drive format=raw,if=virtio, RTC base 2024-01-01T00:00:00`,
        boots,
      }
      writeJson(path.join(dir, 'params.json'), params)
    }
  }
}
