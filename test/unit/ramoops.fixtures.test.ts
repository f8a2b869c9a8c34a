/**
 * Regions real kernels wrote and read, against pstore-sim's ramoops engine without FUSE or QEMU.
 * A 6.1.192 kernel's (test/fixtures/kernel-6.1): the boot's and the erase's byte changes must be
 * identical, and the read pass must give the kernel's listing exactly. Debian's 6.12.107
 * (test/fixtures/kernel-6.12, see its README.md), read through the real CLI (`inspect --json
 * --content`): the files pstore-sim shows must be the ones the kernel's next boot listed, byte for
 * byte (compressed records inflated), with the same i_size and mtime.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { Ramoops } from '../../src/backend/ramoops/ramoops.js'
import { RegionImage } from '../../src/format/region.js'
import { makeFiles, type PstoreFile, type Timespec } from '../../src/pstore/filesystem.js'
import { SymbolTable } from '../../src/pstore/symbols.js'
import {
  describeDiff,
  type FixtureCase,
  fixtureCase,
  fixtureConfig,
  type KernelListingFile,
  ramoopsFlags,
  repoRoot,
  systemMapPath,
} from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex')

function bootAndRead(c: FixtureCase, image: string, now: Timespec) {
  const config = fixtureConfig(c)
  const region = RegionImage.fromBuffer(Buffer.from(c.read(image)))
  const ramoops = new Ramoops(config, region)
  const reports = ramoops.boot()
  const symbols = config.frontends.ftrace ? SymbolTable.parseSystemMap(fs.readFileSync(systemMapPath(), 'utf8'), systemMapPath()) : undefined
  const files = makeFiles(ramoops.readRecords(), { now, wordBits: config.wordBits, symbols, exactNames: true })
  return { ramoops, region, reports, files }
}

/** The time the kernel gave files without a record time: the pass's creation time. */
function creationTime(expected: KernelListingFile[]): Timespec {
  const untimed = expected.find((f) => !f.name.startsWith('dmesg-'))
  return untimed ? { sec: untimed.mtime, nsec: untimed.mtime_nsec } : { sec: 1, nsec: 0 }
}

/**
 * Files without a record time get the inode's creation time: one clock read per file in the
 * kernel (a coarse clock: h2's ftrace file is 4 ms younger than its console file), one per
 * pass here. Those are compared within 50 ms of the pass time; dmesg times exactly.
 */
function assertListing(t: Test, files: PstoreFile[], expected: KernelListingFile[], now?: Timespec) {
  const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name))
  t.same(
    sorted.map((f) => f.name),
    expected.map((f) => f.name).sort(),
    'names',
  )
  for (const want of expected) {
    const got = files.find((f) => f.name === want.name)
    if (!got) continue
    t.equal(got.kernelSize, want.size, `${want.name}: size`)
    t.equal('0' + got.mode.toString(8), want.mode, `${want.name}: mode`)
    if (got.record.time.sec !== 0n || !now) {
      t.same([got.mtime.sec, got.mtime.nsec], [want.mtime, want.mtime_nsec], `${want.name}: mtime with ns`)
    } else {
      t.same(got.mtime, now, `${want.name}: mtime is the creation time`)
      const apartNs = Math.abs((want.mtime - now.sec) * 1e9 + (want.mtime_nsec - now.nsec))
      t.ok(apartNs < 50e6, `${want.name}: the kernel's creation time is within 50 ms of the pass (${apartNs} ns)`)
    }
    t.equal(sha256(got.content), want.sha256, `${want.name}: content sha256`)
  }
}

const cases61 = ['b-reboot', 'c-ecc-reboot', 'f1-all-zones', 'f2-wrapped'] as const
for (const name of cases61) {
  t.test(`kernel-6.1/${name}: boot bytes and listing`, async (t) => {
    const c = fixtureCase('kernel-6.1', name)
    const expected = c.listing().files
    const { region } = bootAndRead(c, 'region-before.bin', creationTime(expected))
    const after = c.read('region-after-boot.bin')
    t.ok(region.bytes.equals(after), `region after boot is byte-identical (${describeDiff(region.bytes, after)})`)
    const { files } = bootAndRead(c, 'region-before.bin', creationTime(expected))
    assertListing(t, files, expected, creationTime(expected))
  })
}

for (const name of ['b-reboot', 'c-ecc-reboot'] as const) {
  t.test(`kernel-6.1/${name}: rm dmesg-ramoops-0 gives the kernel's erased region`, async (t) => {
    const c = fixtureCase('kernel-6.1', name)
    const { ramoops, region } = bootAndRead(c, 'region-before.bin', { sec: 1, nsec: 0 })
    ramoops.erase('dmesg', 0)
    const erased = c.read('region-after-erase.bin')
    t.ok(region.bytes.equals(erased), `erased region identical (${describeDiff(region.bytes, erased)})`)
    // the kernel re-read the erased region after rmmod/insmod: nothing left
    const reread = new Ramoops(fixtureConfig(c), RegionImage.fromBuffer(Buffer.from(erased)))
    reread.boot()
    t.same(reread.readRecords(), [], 'no record after reload')
  })
}

t.test('kernel-6.1/d-three-panics: what each boot saw', async (t) => {
  const c = fixtureCase('kernel-6.1', 'd-three-panics')
  const steps: Array<[string, string]> = [
    ['region-before.bin', 'listing-boot1.json'],
    ['region-after-panic1.bin', 'listing-boot2.json'],
    ['region-after-panic2.bin', 'listing-boot3.json'],
    ['region-after-panic3.bin', 'listing.json'],
  ]
  for (const [image, listing] of steps) {
    const expected = c.listing(listing).files
    const { files } = bootAndRead(c, image, creationTime(expected))
    t.test(listing, async (t) => assertListing(t, files, expected, creationTime(expected)))
  }
  const { region } = bootAndRead(c, 'region-after-panic3.bin', { sec: 1, nsec: 0 })
  const after = c.read('region-after-boot4.bin')
  t.ok(region.bytes.equals(after), `boot 4 bytes (${describeDiff(region.bytes, after)})`)
})

t.test('kernel-6.1/f1, f2: the listing after rmmod+insmod (console and pmsg were zapped at boot)', async (t) => {
  for (const name of ['f1-all-zones', 'f2-wrapped']) {
    const c = fixtureCase('kernel-6.1', name)
    const listing = c.listing()
    const reload = listing.listings.find((l) => l.tag === 'step2')!
    const { region } = bootAndRead(c, 'region-before.bin', { sec: 1, nsec: 0 })
    const again = new Ramoops(fixtureConfig(c), RegionImage.fromBuffer(Buffer.from(region.bytes)))
    again.boot()
    const files = makeFiles(again.readRecords(), { now: { sec: 1, nsec: 0 }, wordBits: 64, exactNames: true })
    assertListing(t, files, reload.files)
  }
})

for (const name of ['h1-panic', 'h2-ftrace-smp2'] as const) {
  t.test(`kernel-6.1-custom/${name}: console, pmsg${name.startsWith('h2') ? ', per-CPU ftrace' : ''} written by the kernel`, async (t) => {
    const c = fixtureCase('kernel-6.1-custom', name)
    const boot1 = bootAndRead(c, 'region-before.bin', { sec: 1, nsec: 0 })
    t.same(boot1.files, [], 'boot 1 saw nothing')
    const expected = c.listing().files
    const boot2 = bootAndRead(c, 'region-after-panic.bin', creationTime(expected))
    assertListing(t, boot2.files, expected, creationTime(expected))
    // This kernel's console frontend writes boot 2's own log into the console zone after the
    // boot: every byte outside that zone's ring must be what our boot left.
    const after = Buffer.from(c.read('region-after-boot.bin'))
    const consoleZone = boot2.ramoops.console!
    after.set(boot2.region.bytes.subarray(consoleZone.offset + 4, consoleZone.offset + consoleZone.layout.size), consoleZone.offset + 4)
    t.ok(boot2.region.bytes.equals(after), `region after boot 2 identical outside the console ring (${describeDiff(boot2.region.bytes, after)})`)
  })
}

// Debian's 6.12.107, read through the CLI

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
