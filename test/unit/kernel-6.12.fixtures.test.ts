/**
 * Regions Debian's real 6.12.107 kernel wrote (test/fixtures/kernel-6.12, see its README.md), read
 * by pstore-sim's engine (`inspect --json --content`, no FUSE, no QEMU): the files pstore-sim shows
 * must be the ones the kernel's next boot listed, byte for byte (compressed records inflated), with
 * the same i_size and mtime.
 */

import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { type KernelListingFile, ramoopsFlags, repoRoot } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const dir612 = path.join(repoRoot, 'test/fixtures/kernel-6.12')

interface Params {
  kernel: { kernelVersion: string }
  ramoops: Record<string, string>
  guest_nr_cpus: number
  boots: Array<{ label: string; image: string; actions: string }>
}

const cases = fs.readdirSync(dir612).filter((n) => fs.existsSync(path.join(dir612, n, 'listing.json')))
t.ok(cases.length >= 2, `fixture cases: ${cases.join(', ')}`)

for (const name of cases) {
  t.test(`kernel-6.12/${name}: pstore-sim reads what Debian's 6.12.107 listed`, async (t) => {
    const c = path.join(dir612, name)
    const params = JSON.parse(fs.readFileSync(path.join(c, 'params.json'), 'utf8')) as Params
    const listing = JSON.parse(fs.readFileSync(path.join(c, 'listing.json'), 'utf8')) as { listings: { tag: string; files: KernelListingFile[] }[] }
    // listing.json comes from the last boot; its first listing shows the region that boot started from
    const lastBoot = params.boots[params.boots.length - 1]
    t.match(lastBoot.actions, /^list(,|$)/, 'the last boot lists first')
    const files = listing.listings[0].files
    t.ok(files.length > 0, `the kernel listed ${files.map((f) => f.name).join(', ')}`)
    const image = path.join(tempDir(t), 'region.bin')
    fs.writeFileSync(image, gunzipSync(fs.readFileSync(path.join(c, lastBoot.image))))
    const setup = ramoopsFlags(params.ramoops, { kernel: params.kernel.kernelVersion, cpus: params.guest_nr_cpus, frontends: 'none' })
    const r = await pstoreSim(['inspect', image, '--json', '--content', '--exact-names', ...setup])
    t.equal(r.code, 0, `inspect exits 0 ${r.stderr.toString()}`)
    const pred = JSON.parse(r.stdout.toString()) as { records: Array<{ name: string; kernelSize: number; mtime: string | null; contentBase64?: string }> }
    t.same(pred.records.map((x) => x.name).sort(), files.map((f) => f.name).sort(), 'same file names')
    for (const f of files) {
      const rec = pred.records.find((x) => x.name === f.name)
      if (!rec) continue
      t.equal(rec.kernelSize, f.size, `${f.name}: i_size ${f.size}`)
      t.ok(Buffer.from(rec.contentBase64 ?? '', 'base64').equals(Buffer.from(f.content_b64, 'base64')), `${f.name}: content byte for byte (${f.size} bytes)`)
      if (f.name.startsWith('dmesg-')) t.equal(rec.mtime, `${f.mtime}.${String(f.mtime_nsec).padStart(9, '0')}`, `${f.name}: mtime`)
    }
  })
}
