/**
 * `--detect`: every kernel fixture's region read with no parameters. Mounted read-only through a
 * real FUSE mount with only the target kernel named (--kernel), `ls` and `cat` must show what the
 * kernel listed; `inspect --detect --json`'s parameters given to `format` must lay out the same
 * zones. One case names more than the kernel: f1-all-zones' ftrace zone was crafted for Debian's
 * 6.1, which was built without CONFIG_PSTORE_FTRACE, so its per-CPU combine step is a stub that
 * empties the record (no file); whether a frontend was built in is not in the bytes (a kernel
 * that wrote an ftrace zone had it), so that case alone adds --frontends none.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { fixturePath, type KernelListingFile, readFixture, repoRoot, systemMapPath } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

runProductsUninstrumented()

interface Case {
  dir: string
  image: string
  kernel: string
  /** Only where the listing depends on a build option the bytes cannot show (see above). */
  frontends?: string
  /** listing file and which of its listings shows the image given */
  listing: string
  index: 'files' | 0
  ecc: number
  cpus?: number
  /** zones the capture left without a signature (f1 crafted a wrong one) */
  unsigned?: string[]
}

const cases: Case[] = [
  { dir: 'kernel-6.1/b-reboot', image: 'region-before.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 0 },
  { dir: 'kernel-6.1/c-ecc-reboot', image: 'region-before.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 16 },
  { dir: 'kernel-6.1/d-three-panics', image: 'region-after-panic3.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 0 },
  {
    dir: 'kernel-6.1/f1-all-zones',
    image: 'region-before.bin',
    kernel: '6.1.192',
    frontends: 'none',
    listing: 'listing.json',
    index: 'files',
    ecc: 0,
    unsigned: ['dmesg 7'],
  },
  { dir: 'kernel-6.1/f2-wrapped', image: 'region-before.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 0 },
  { dir: 'kernel-6.1-custom/h1-panic', image: 'region-after-panic.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 0 },
  { dir: 'kernel-6.1-custom/h2-ftrace-smp2', image: 'region-after-panic.bin', kernel: '6.1.192', listing: 'listing.json', index: 'files', ecc: 0, cpus: 2 },
  { dir: 'kernel-6.12/a-panic-reboot', image: 'region-after-panic.bin', kernel: '6.12.107', listing: 'listing.json', index: 0, ecc: 0 },
  { dir: 'kernel-6.12/c-ecc-oops', image: 'region-after-oops.bin', kernel: '6.12.107', listing: 'listing.json', index: 0, ecc: 16, cpus: 2 },
]

function expected(c: Case): KernelListingFile[] {
  const listing = JSON.parse(readFixture(`${c.dir}/${c.listing}`).toString('utf8')) as {
    files: KernelListingFile[]
    listings: { files: KernelListingFile[] }[]
  }
  return c.index === 'files' ? listing.files : listing.listings[c.index].files
}

const targetFlags = (c: Case) => ['--kernel', c.kernel, ...(c.frontends ? ['--frontends', c.frontends] : [])]

for (const c of cases) {
  t.test(`${c.dir}: mount -o ro --detect lists what the kernel listed`, async (t) => {
    const dir = tempDir(t)
    const image = path.join(dir, 'dump with space.bin')
    fs.copyFileSync(fixturePath(`${c.dir}/${c.image}`), image)
    const before = sha256(fs.readFileSync(image))
    const mnt = path.join(dir, 'mnt')
    const extra = ['-o', 'ro', '--detect', '--exact-names', ...targetFlags(c)]
    if (c.dir.startsWith('kernel-6.1-custom')) extra.push('--system-map', systemMapPath())
    await mountImage(t, image, mnt, extra)
    const want = expected(c)
    t.ok(want.length > 0, `the kernel listed ${want.map((f) => f.name).join(', ')}`)
    const names = await ls(mnt)
    t.same(names, want.map((f) => f.name).sort(), "ls shows the kernel's names")
    for (const f of want) {
      const content = await cat(path.join(mnt, f.name))
      t.equal(content.code, 0, `cat ${f.name}`)
      t.equal(sha256(content.stdout), f.sha256, `${f.name}: the kernel's bytes`)
    }
    t.equal(sha256(fs.readFileSync(image)), before, 'the image is unchanged')
  })

  t.test(`${c.dir}: inspect --detect's parameters, given to format, lay out the same zones`, async (t) => {
    const dir = tempDir(t)
    const image = path.join(dir, 'dump.bin')
    fs.copyFileSync(fixturePath(`${c.dir}/${c.image}`), image)
    const r = await pstoreSim(['inspect', image, '--detect', '--json', ...targetFlags(c)])
    t.equal(r.code, 0, `inspect --detect exits 0 ${r.stderr}`)
    const report = JSON.parse(r.stdout.toString()) as {
      setup: { eccSize: number; cpus: number }
      detected: { forms: { moduleParams: string; pstoreSim: string } }
      zones: Array<{ type: string; index: number; offset: number; size: number; signatureValid: boolean }>
    }
    t.equal(report.setup.eccSize, c.ecc, 'ECC found by its parity')
    t.equal(report.setup.cpus, c.cpus ?? 1, 'per-CPU ftrace zones counted')
    t.same(
      report.zones.filter((z) => !z.signatureValid).map((z) => `${z.type} ${z.index}`),
      c.unsigned ?? [],
      'the zones of the detected layout carry their signature (but those the capture broke)',
    )
    const flags = report.detected.forms.moduleParams
      .split(' ')
      .filter((w) => !w.startsWith('mem_address='))
      .flatMap((w) => {
        const [k, v] = w.split('=')
        return [`--${k.replace(/_/g, '-')}`, v]
      })
    const made = path.join(dir, 'made.img')
    const f = await pstoreSim(['format', made, ...flags, '--cpus', String(report.setup.cpus), '--kernel', c.kernel])
    t.equal(f.code, 0, `format ${flags.join(' ')} exits 0 ${f.stderr}`)
    const again = await pstoreSim(['inspect', made, '--json'])
    const layout = (JSON.parse(again.stdout.toString()) as typeof report).zones.map((z) => [z.type, z.index, z.offset, z.size])
    t.same(
      layout,
      report.zones.map((z) => [z.type, z.index, z.offset, z.size]),
      'format makes the zones the dump has',
    )
    const byFlags = path.join(dir, 'by flags.img')
    const words = report.detected.forms.pstoreSim.split(' ')
    const g = await pstoreSim(['format', byFlags, ...words, '--kernel', c.kernel])
    t.equal(g.code, 0, `format ${words.join(' ')} (the pstore-sim flags inspect printed) exits 0 ${g.stderr}`)
    const third = await pstoreSim(['inspect', byFlags, '--json'])
    t.same(
      (JSON.parse(third.stdout.toString()) as typeof report).zones.map((z) => [z.type, z.index, z.offset, z.size]),
      report.zones.map((z) => [z.type, z.index, z.offset, z.size]),
      'so do the pstore-sim flags',
    )
  })
}

t.test('a zeroed region: detect says no kernel booted on it, and nothing is mounted', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'zeros.bin')
  fs.writeFileSync(image, Buffer.alloc(0x10000))
  const r = await pstoreSim(['inspect', image, '--detect'])
  t.equal(r.code, 1, 'a user error')
  t.match(r.stderr.toString(), /zeros\.bin: detect: no persistent RAM zone signature/, 'names the file and why')
})

t.test('an ERST file is read at its own size and record size, without --erst-size', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'erst.bin')
  const made = await pstoreSim(['format', image, '--backend', 'erst', '--erst-size', '0x20000', '--erst-record-size', '0x2000', '--kernel', '6.12.0'])
  t.equal(made.code, 0, 'format a 128 KiB ERST file')
  fs.rmSync(`${image}.json`) // no sidecar: only the file's own bytes
  const plain = await pstoreSim(['inspect', image, '--backend', 'erst', '--json'])
  t.equal(plain.code, 0, `inspect --backend erst needs no --erst-size ${plain.stderr}`)
  t.equal(JSON.parse(plain.stdout.toString()).setup.size, 0x20000, "the file's size (QEMU's size=)")
  const detected = await pstoreSim(['inspect', image, '--detect', '--json'])
  t.equal(detected.code, 0, `inspect --detect ${detected.stderr}`)
  const d = JSON.parse(detected.stdout.toString())
  t.equal(d.detected.backend, 'erst', 'recognised by its ERSTSTOR header')
  t.equal(d.setup.record_size, 0x2000, "the header's record size")
})

t.test('pstore/blk disks are recognised by their zone and kmsg headers', async (t) => {
  for (const [name, kmsg] of [
    ['blk-6.1/a-oops-rr/disk-after-list.bin', 64],
    ['blk-6.12/b-plain-zones/disk-after-oops.bin', 16],
  ] as const) {
    const dir = tempDir(t)
    const image = path.join(dir, 'disk.bin')
    fs.writeFileSync(image, gunzipSync(fs.readFileSync(path.join(repoRoot, 'test/fixtures', `${name}.gz`))))
    const r = await pstoreSim(['inspect', image, '--detect', '--json'])
    t.equal(r.code, 0, `${name}: inspect --detect ${r.stderr}`)
    const d = JSON.parse(r.stdout.toString())
    t.equal(d.detected.backend, 'blk', `${name}: pstore/blk`)
    t.equal(d.blk.params.kmsg_size, kmsg, `${name}: kmsg_size ${kmsg} KiB`)
    t.ok(d.records.length > 0, `${name}: its records are read`)
  }
})

t.test('three per-CPU ftrace zones of an odd split, and an odd region size', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'odd.img')
  // 0x2000 / 3 = 2730.67: zones of 2730 bytes (even); mem_size not a power of two
  const made = await pstoreSim([
    'format',
    image,
    '--mem-size',
    '0x5a000',
    '--record-size',
    '0x4000',
    '--console-size',
    '0x4000',
    '--pmsg-size',
    '0x800',
    '--ftrace-size',
    '0x2000',
    '--cpus',
    '3',
    '--kernel',
    '6.6.30',
  ])
  t.equal(made.code, 0, `format ${made.stderr}`)
  const want = JSON.parse((await pstoreSim(['inspect', image, '--json'])).stdout.toString()) as { zones: Array<{ type: string; offset: number; size: number }> }
  fs.rmSync(`${image}.json`)
  const r = await pstoreSim(['inspect', image, '--detect', '--json'])
  t.equal(r.code, 0, `inspect --detect ${r.stderr}`)
  const d = JSON.parse(r.stdout.toString()) as typeof want & { setup: { cpus: number; kernel: string } }
  t.equal(d.setup.cpus, 3, 'three CPUs from three ftrace zones')
  t.equal(d.setup.kernel, '6.6.30', 'the version the ftrace signature holds')
  t.same(
    d.zones.map((z) => [z.type, z.offset, z.size]),
    want.zones.map((z) => [z.type, z.offset, z.size]),
    'the layout format made',
  )
})

t.test('-o detect in the one -o parser (mount(8), exec)', async (t) => {
  const { parseMountOptionList, MOUNT_COMMAND_SCOPE } = await import('../../src/cli/mountOptions.js')
  t.equal(parseMountOptionList('ro,detect,kernel=6.1.192').overrides?.detect, true, 'mount(8) form')
  t.equal(parseMountOptionList('ro,detect', MOUNT_COMMAND_SCOPE).overrides?.detect, true, 'pstore-sim mount -o')
  t.throws(() => parseMountOptionList('detect=yes'), /-o detect=yes: takes no value/, 'no value')
})

t.test('UEFI variable stores: mount -o ro --detect with only --kernel lists what the kernel listed', async (t) => {
  for (const [name, kernel, boot] of [
    ['efi-6.1/a-oops-panic/vars-after-crash.fd', '6.1.192', 'erase'],
    ['efi-6.12/d-record-size/vars-after-crash.fd', '6.12.107', 'list'],
  ] as const) {
    const dir = tempDir(t)
    const image = path.join(dir, 'vars store.fd')
    fs.copyFileSync(fixturePath(name), image)
    const before = sha256(fs.readFileSync(image))
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt, ['-o', 'ro', '--detect', '--kernel', kernel])
    const listing = JSON.parse(readFixture(`${path.dirname(name)}/listing-${boot}.json`).toString('utf8')) as { listings: { files: KernelListingFile[] }[] }
    const want = listing.listings[0].files
    t.ok(want.length > 0, `${name}: the kernel listed ${want.length} files`)
    t.same(await ls(mnt), want.map((f) => f.name).sort(), `${name}: ls shows the kernel's names`)
    for (const f of want.slice(0, 3)) {
      const content = await cat(path.join(mnt, f.name))
      t.equal(sha256(content.stdout), f.sha256, `${name}: ${f.name}: the kernel's bytes`)
    }
    t.equal(sha256(fs.readFileSync(image)), before, `${name}: the store is unchanged`)
  }
})

t.test("an image's own size is never asked for: ramoops, pstore/blk, ERST and efi without a size flag", async (t) => {
  const dir = tempDir(t)
  const cases: Array<[string, string[], string[]]> = [
    ['ramoops.img', ['--mem-size', '0x30000', '--record-size', '0x4000', '--console-size', '0x4000'], ['--record-size', '0x4000', '--console-size', '0x4000']],
    ['cmdline.img', ['--mem-size', '0x30000', '--record-size', '0x4000'], ['--cmdline', 'ramoops.record_size=0x4000']],
    [
      'blk.img',
      ['--backend', 'blk', '--cmdline', 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=16 pstore_blk.best_effort=y', '--disk-size', '0x30000'],
      ['--backend', 'blk', '--cmdline', 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=16 pstore_blk.best_effort=y'],
    ],
    ['erst.img', ['--backend', 'erst', '--erst-size', '0x30000'], ['--backend', 'erst']],
    ['efi.fd', ['--backend', 'efi'], ['--backend', 'efi']],
  ]
  for (const [file, formatFlags, inspectFlags] of cases) {
    const image = path.join(dir, file)
    const made = await pstoreSim(['format', image, ...formatFlags])
    t.equal(made.code, 0, `format ${file} ${made.stderr}`)
    fs.rmSync(`${image}.json`) // no sidecar: the size must come from the file
    const r = await pstoreSim(['inspect', image, '--json', ...inspectFlags])
    t.equal(r.code, 0, `inspect ${file} ${inspectFlags.join(' ')} needs no size ${r.stderr}`)
    const setup = JSON.parse(r.stdout.toString()).setup
    const size = setup.backend === 'ramoops' ? setup.memSize : setup.backend === 'blk' ? setup.diskSize : setup.size
    t.equal(size, fs.statSync(image).size, `${file}: the file's size`)
  }
})
