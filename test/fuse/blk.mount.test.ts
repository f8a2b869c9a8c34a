/**
 * pstore/blk through the CLI and a real FUSE mount (separate ls, stat, cat, rm processes): the
 * kernels' own disks mounted -o ro show the kernels' listings and stay byte-identical; rm on a rw
 * mount writes the kernel's erase bytes; format, panic --reason oops, panic and bad setups
 * through the CLI.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, run, sha256, statFiles, tempDir } from '../helpers/mount.js'

const CMDLINE = 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y'
const gz = (f: string): Buffer => gunzipSync(fs.readFileSync(f))

for (const [kdir, version] of [
  ['blk-6.1', '6.1.192'],
  ['blk-6.12', '6.12.107'],
] as const) {
  const dir = path.join(repoRoot, 'test/fixtures', kdir, 'a-oops-rr')
  const flags = ['--backend', 'blk', '--cmdline', CMDLINE, '--kernel', version]

  t.test(`${kdir}: the kernel's disk mounted -o ro shows the kernel's next listing`, async (t) => {
    const tmp = tempDir(t)
    const image = path.join(tmp, 'vda.img')
    fs.writeFileSync(image, gz(path.join(dir, 'disk-after-crash.bin.gz')))
    const before = sha256(fs.readFileSync(image))
    const mnt = path.join(tmp, 'mnt')
    await mountImage(t, image, mnt, ['-o', 'ro', ...flags])
    const want = (JSON.parse(fs.readFileSync(path.join(dir, 'listing-erase.json'), 'utf8')) as { listings: { files: KernelListingFile[] }[] }).listings[0].files
    const names = await ls(mnt)
    t.same(names, want.map((f) => f.name).sort())
    const stats = await statFiles(mnt, names)
    for (const w of want) {
      const got = stats.find((s) => s.name === w.name)
      t.ok(got, w.name)
      if (!got) continue
      const c = await cat(path.join(mnt, w.name))
      t.equal(sha256(c.stdout), w.sha256, `${w.name}: cat = the kernel's bytes`)
      t.same([got.size, got.mode, got.mtime, got.mtimeNsec], [w.size, w.mode, w.mtime, w.mtime_nsec], `${w.name}: size, mode, mtime with ns`)
    }
    const rm = await run('rm', [path.join(mnt, names[0])])
    t.not(rm.code, 0, 'rm on -o ro fails')
    t.match(rm.stderr.toString(), /Read-only file system/)
    t.equal(sha256(fs.readFileSync(image)), before, 'the dump is unchanged')
  })

  t.test(`${kdir}: rm through a rw mount writes what the kernel's rm wrote`, async (t) => {
    const tmp = tempDir(t)
    const image = path.join(tmp, 'vda.img')
    const crash = gz(path.join(dir, 'disk-after-crash.bin.gz'))
    const erased = gz(path.join(dir, 'disk-after-erase.bin.gz'))
    fs.writeFileSync(image, crash)
    const mnt = path.join(tmp, 'mnt')
    await mountImage(t, image, mnt, flags)
    const r = await run('rm', [path.join(mnt, 'dmesg-pstore_blk-0')])
    t.equal(r.code, 0, `rm: ${r.stderr}`)
    t.same(await ls(mnt), ['dmesg-pstore_blk-1'])
    const u = await pstoreSim(['umount', mnt])
    t.equal(u.code, 0, `umount: ${u.stderr}`)
    const ours = fs.readFileSync(image)
    // the kernel's boot then oopsed into zone 2 (0x20000..0x30000): compare everything else
    const outside = (b: Buffer) => Buffer.concat([b.subarray(0, 0x20000), b.subarray(0x30000)])
    t.ok(outside(ours).equals(outside(erased)), 'the disk outside the zone the kernel oopsed into afterwards = the kernel’s')
    t.ok(ours.subarray(0x20000, 0x30000).equals(crash.subarray(0x20000, 0x30000)), 'zone 2 untouched by rm')
    t.not(ours.subarray(0, 12).toString('hex'), crash.subarray(0, 12).toString('hex'), 'the erase changed zone 0’s header')
  })
}

t.test('the CLI on a blk disk: format, Oops, panic (not written), inspect, mount, rm', async (t) => {
  const tmp = tempDir(t)
  const image = path.join(tmp, 'disk.img')
  const flags = ['--backend', 'blk', '--cmdline', CMDLINE, '--kernel', '6.12.107']
  let r = await pstoreSim(['format', image, '--disk-size', '256K', ...flags])
  t.equal(r.code, 0, r.stderr.toString())
  t.match(r.stdout.toString(), /262144 bytes, 4 dmesg zones/)
  t.ok(fs.readFileSync(image).equals(Buffer.alloc(256 * 1024)), 'a fresh disk is zeros: the kernel formats nothing')
  r = await pstoreSim(['panic', '--reason', 'oops', image])
  t.equal(r.code, 0, r.stderr.toString())
  t.match(r.stdout.toString(), /stored oops in dmesg zone 0/)
  const afterOops = sha256(fs.readFileSync(image))
  r = await pstoreSim(['panic', image])
  t.equal(r.code, 0, r.stderr.toString())
  t.match(r.stdout.toString(), /no panic record: pstore\/blk best_effort has no panic_write driver/)
  t.equal(sha256(fs.readFileSync(image)), afterOops, 'the panic left the disk as it was')
  r = await pstoreSim(['inspect', image])
  t.match(r.stdout.toString(), /next {4}dump to dmesg zone 1; Oops counter 1, Panic counter 0/)
  const mnt = path.join(tmp, 'mnt')
  await mountImage(t, image, mnt)
  t.same(await ls(mnt), ['dmesg-pstore_blk-0'])
  const c = await cat(path.join(mnt, 'dmesg-pstore_blk-0'))
  t.match(c.stdout.toString(), /^Oops#1 Part1\n/)
  const rm = await run('rm', [path.join(mnt, 'dmesg-pstore_blk-0')])
  t.equal(rm.code, 0)
  t.same(await ls(mnt), [])
  t.equal(fs.readFileSync(image).readUInt32LE(4), 0, 'datalen 0 on the disk')
  // an Oops on the mounted machine goes to the zone after the newest header (the erased zone 0)
  r = await pstoreSim(['panic', '--reason', 'oops', mnt])
  t.match(r.stdout.toString(), /stored oops in dmesg zone 1/)
  r = await pstoreSim(['reboot', mnt])
  t.equal(r.code, 0, r.stderr.toString())
  t.same(await ls(mnt), ['dmesg-pstore_blk-1'])
  const c2 = await cat(path.join(mnt, 'dmesg-pstore_blk-1'))
  t.match(c2.stdout.toString(), /^Oops#1 Part1\n/)
  const console = await pstoreSim(['console', mnt, 'hello'])
  t.equal(console.code, 1)
  t.match(console.stderr.toString(), /no pstore console frontend/)
})

t.test('bad blk setups: one line naming the flag and the fix, exit 1, nothing written', async (t) => {
  const tmp = tempDir(t)
  const image = path.join(tmp, 'disk.img')
  const cases: Array<[string[], RegExp]> = [
    [['--backend', 'blk', '--disk-size', '64K'], /--backend blk needs the module parameters: --cmdline "pstore_blk\.blkdev=/],
    [['--backend', 'blk', '--disk-size', '64K', '--cmdline', 'pstore_blk.blkdev=/dev/vda'], /best_effort is off.*give best_effort=y/],
    [['--backend', 'blk', '--disk-size', '6000', '--cmdline', CMDLINE], /multiple of 4096/],
    [['--backend', 'blk', '--disk-size', '64K', '--cmdline', `${CMDLINE} pstore_blk.pmsg_size=128`], /no room for the pmsg zones/],
    [['--backend', 'blk', '--disk-size', '64K', '--record-size', '4K', '--cmdline', CMDLINE], /--record-size is a ramoops parameter/],
    [['--backend', 'blk', '--disk-size', '64K', '--cmdline', 'pstore_blk.kmsg_size=x pstore_blk.best_effort=y'], /pstore_blk\.kmsg_size: "x" is not a number/],
  ]
  for (const [args, message] of cases) {
    const r = await pstoreSim(['format', image, ...args])
    t.equal(r.code, 1, args.join(' '))
    t.match(r.stderr.toString(), message)
    t.equal(r.stderr.toString().trim().split('\n').length, 1, 'one line')
    t.notOk(fs.existsSync(image), 'no image')
  }
  // an existing disk is opened with its own size and the given parameters
  fs.writeFileSync(image, Buffer.alloc(64 * 1024))
  const r = await pstoreSim(['inspect', image, '--backend', 'blk', '--cmdline', 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=16'])
  t.equal(r.code, 1)
  t.match(r.stderr.toString(), /best_effort is off/)
})
