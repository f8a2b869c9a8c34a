/**
 * Kernel fixtures mounted read-only through a real FUSE mount: `ls`, `stat` and `cat` (separate
 * processes) must show the kernel's own listing, and the image must not change by a byte.
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { fixtureCase, fixtureFlags, systemMapPath } from '../helpers/fixtures.js'
import { cat, ls, mountImage, sha256, statFiles, tempDir } from '../helpers/mount.js'

interface Case {
  kernel: 'kernel-6.1' | 'kernel-6.1-custom'
  name: string
  image: string
  listing?: string
}

const cases: Case[] = [
  { kernel: 'kernel-6.1', name: 'b-reboot', image: 'region-before.bin' },
  { kernel: 'kernel-6.1', name: 'c-ecc-reboot', image: 'region-before.bin' },
  { kernel: 'kernel-6.1', name: 'd-three-panics', image: 'region-after-panic3.bin' },
  { kernel: 'kernel-6.1', name: 'f1-all-zones', image: 'region-before.bin' },
  { kernel: 'kernel-6.1', name: 'f2-wrapped', image: 'region-before.bin' },
  { kernel: 'kernel-6.1-custom', name: 'h1-panic', image: 'region-after-panic.bin' },
  { kernel: 'kernel-6.1-custom', name: 'h2-ftrace-smp2', image: 'region-after-panic.bin' },
]

for (const fc of cases) {
  t.test(`${fc.kernel}/${fc.name} mounted -o ro`, async (t) => {
    const c = fixtureCase(fc.kernel, fc.name)
    const dir = tempDir(t)
    const image = path.join(dir, 'dump.bin')
    fs.copyFileSync(c.file(fc.image), image)
    const before = sha256(fs.readFileSync(image))
    const mnt = path.join(dir, 'mnt')
    const extra = ['-o', 'ro', '--exact-names', ...fixtureFlags(fc.kernel, fc.name)]
    if (fc.kernel === 'kernel-6.1-custom') extra.push('--system-map', systemMapPath())
    // the mount's time lies between these two, however long the mount took (whole seconds: stat's %Y)
    const beforeMount = Math.floor(Date.now() / 1000)
    await mountImage(t, image, mnt, extra)
    const afterMount = Math.ceil(Date.now() / 1000)
    const expected = c.listing(fc.listing).files
    const names = await ls(mnt)
    t.same(names, expected.map((f) => f.name).sort(), "ls shows the kernel's names")
    const stats = await statFiles(mnt, names)
    for (const want of expected) {
      const got = stats.find((s) => s.name === want.name)
      if (!got) continue
      const content = await cat(path.join(mnt, want.name))
      t.equal(content.code, 0, `cat ${want.name}`)
      t.equal(sha256(content.stdout), want.sha256, `${want.name}: cat returns the kernel's bytes`)
      // ftrace: the kernel reports the binary size; our size is what cat returns (README: deliberate)
      t.equal(got.size, want.name.startsWith('ftrace-') ? content.stdout.length : want.size, `${want.name}: size`)
      t.equal(got.mode, want.mode, `${want.name}: mode`)
      t.equal(got.type, 'regular file', `${want.name}: regular file`)
      t.equal(got.uid, process.getuid!(), `${want.name}: owned by the mounting user`)
      if (want.name.startsWith('dmesg-')) {
        t.same([got.mtime, got.mtimeNsec], [want.mtime, want.mtime_nsec], `${want.name}: mtime with ns from the record`)
      } else {
        t.ok(
          got.mtime >= beforeMount && got.mtime <= afterMount,
          `${want.name}: mtime ${got.mtime} is the mount (creation) time, ${beforeMount}..${afterMount}`,
        )
      }
    }
    const root = (await import('node:child_process')).execFileSync('stat', ['-c', '%a', mnt]).toString().trim()
    t.equal(root, '750', 'root directory mode 0750')
    t.equal(sha256(fs.readFileSync(image)), before, 'the image is unchanged (read-only mount)')
  })
}
