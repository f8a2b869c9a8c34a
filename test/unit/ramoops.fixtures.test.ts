/**
 * The engine against regions a real 6.1.192 kernel wrote and read: the boot's and the erase's
 * byte changes must be identical, and the read pass must give the kernel's listing exactly.
 */

import crypto from 'node:crypto'
import fs from 'node:fs'
import t, { type Test } from 'tap'
import { Ramoops } from '../../src/backend/ramoops/ramoops.js'
import { RegionImage } from '../../src/format/region.js'
import { makeFiles, type PstoreFile, type Timespec } from '../../src/pstore/filesystem.js'
import { SymbolTable } from '../../src/pstore/symbols.js'
import { describeDiff, type FixtureCase, fixtureCase, fixtureConfig, type KernelListingFile, systemMapPath } from '../helpers/fixtures.js'

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
