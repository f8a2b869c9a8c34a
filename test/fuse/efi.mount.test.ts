/**
 * efi-pstore through the real thing: the CLI (format, panic, inspect, bad flags), a FUSE mount
 * (ls, stat, cat, rm, -o ro) of pstore-sim's own store and of the stores Debian's kernels wrote
 * through OVMF, and Debian's systemd-pstore rebuilding dmesg.txt from a multi-part efi dump.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, run, sha256, statFiles, tempDir } from '../helpers/mount.js'

const SYSTEMD_PSTORE = '/lib/systemd/systemd-pstore'
const TIME = 1796000000
const LOG =
  Array.from(
    { length: 600 },
    (_, i) => `line ${String(i).padStart(3, '0')} ${Buffer.from(String(i * 7919)).toString('base64')} ${(i * 2654435761) % 1000003} padding`,
  ).join('\n') + '\n'
const gz = (f: string): Buffer => gunzipSync(fs.readFileSync(f))
const idOf = (part: number, count = 1) => (BigInt(TIME) * 100n + BigInt(part)) * 1000n + BigInt(count)

async function efiImage(t: Test, dir: string, kernel: string, extra: string[] = []): Promise<string> {
  const image = path.join(dir, 'vars.fd')
  const r = await pstoreSim(['format', image, '--backend', 'efi', '--kernel', kernel, ...extra])
  t.equal(r.code, 0, `format: ${r.stderr}`)
  return image
}

t.test('bad efi flags: one line naming the flag, exit 1, nothing written', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'x.fd')
  for (const [args, flag] of [
    [['--efi-record-size', '4096', '--kernel', '6.1.192'], /--efi-record-size: record_size is efi_pstore\.record_size, a parameter of 6\.2 and later/],
    [['--efi-record-size', 'big', '--kernel', '6.12.107'], /--efi-record-size: "big" is not a size/],
    [['--efi-vars-template', path.join(dir, 'missing.fd')], /--efi-vars-template: .*missing\.fd: cannot read the variable store template \(ENOENT\)/],
    [['--mem-size', '1M'], /ramoops parameters .* do not apply to the efi backend/],
    [['--erst-size', '64K'], /--erst-size and --erst-record-size apply to --backend erst only/],
  ] as const) {
    const r = await pstoreSim(['format', image, '--backend', 'efi', ...args])
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, flag)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    t.notOk(fs.existsSync(image) || fs.existsSync(`${image}.json`), 'no image, no sidecar')
  }
})

for (const [kernel, backendName] of [
  ['6.1.192', 'efi'],
  ['6.12.107', 'efi_pstore'],
] as const) {
  t.test(`${kernel}: format, panic, mount: dmesg-${backendName}-<id> files, 0 ns mtimes; rm changes one byte; -o ro refuses rm`, async (t) => {
    const dir = tempDir(t)
    const image = await efiImage(t, dir, kernel)
    if (fs.existsSync('/usr/share/OVMF/OVMF_VARS_4M.fd'))
      t.ok(fs.readFileSync(image).equals(fs.readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd')), "format = Debian's OVMF_VARS_4M.fd")
    const logFile = path.join(dir, 'log.txt')
    fs.writeFileSync(logFile, LOG)
    const p = await pstoreSim(['panic', image, '--log', logFile, '--time', String(TIME), '--reboot'])
    t.equal(p.code, 0, p.stderr)
    t.match(
      p.stdout.toString(),
      new RegExp(`^stored panic part 1 as dmesg-${backendName}-${idOf(1)} \\(variable at 0x64\\) \\(compressed\\)\n`),
      'panic says where each part went',
    )
    const inspect = await pstoreSim(['inspect', image])
    t.match(
      inspect.stdout.toString(),
      new RegExp(`dump-type0-1-1-${TIME}-C \\(cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0\\)  id ${idOf(1)}`),
      'inspect lists the variable',
    )
    const json = JSON.parse((await pstoreSim(['inspect', image, '--json'])).stdout.toString())
    t.ok(json.efi.variables.length >= 2, 'inspect --json: the variables')

    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt)
    const names = await ls(mnt)
    t.ok(names.length >= 5, `${names.length} parts`)
    t.same(names, [...names].sort(), 'ls order')
    t.ok(names.includes(`dmesg-${backendName}-${idOf(1)}`) && names.includes(`dmesg-${backendName}-${idOf(2)}`), 'names: (seconds·100 + part)·1000 + count')
    const stats = await statFiles(mnt, names)
    t.ok(
      stats.every((s) => s.mtime === TIME && s.mtimeNsec === 0 && s.mode === '0444'),
      'mtime the seconds, 0 ns, 0444',
    )
    const part1 = (await cat(path.join(mnt, `dmesg-${backendName}-${idOf(1)}`))).stdout.toString('latin1')
    t.match(part1, /^Panic#1 Part1\n<6>\[/)
    t.ok(part1.endsWith('padding\n'), 'inflated text')

    const before = fs.readFileSync(image)
    const rm = await run('rm', [path.join(mnt, `dmesg-${backendName}-${idOf(1)}`)])
    t.equal(rm.code, 0, rm.stderr)
    const after = fs.readFileSync(image)
    const changed = [...after].flatMap((b, i) => (b !== before[i] ? [i] : []))
    t.equal(changed.length, 1, 'one byte changed in the file before rm returned')
    t.same([before[changed[0]!], after[changed[0]!]], [0x3f, 0x3d], 'State 0x3f → 0x3d')
    t.notOk((await ls(mnt)).includes(`dmesg-${backendName}-${idOf(1)}`))
    const u = await pstoreSim(['umount', mnt])
    t.equal(u.code, 0, u.stderr)

    await mountImage(t, image, mnt, ['-o', 'ro'])
    const roNames = await ls(mnt)
    const rmRo = await run('rm', [path.join(mnt, roNames[0]!)])
    t.not(rmRo.code, 0, 'rm on -o ro fails')
    t.match(rmRo.stderr.toString(), /Read-only file system/)
    t.ok(fs.readFileSync(image).equals(after), 'the store is unchanged')
  })
}

for (const [kdir, version] of [
  ['efi-6.1', '6.1.192'],
  ['efi-6.12', '6.12.107'],
] as const) {
  const dir = path.join(repoRoot, 'test/fixtures', kdir, 'a-oops-panic')
  if (!fs.existsSync(path.join(dir, 'params.json'))) continue
  t.test(`${kdir}: the kernel's store mounted -o ro shows the kernel's next listing; rm on rw changes the byte the kernel's rm changed`, async (t) => {
    const tmp = tempDir(t)
    const image = path.join(tmp, 'vars.fd')
    const crash = gz(path.join(dir, 'vars-after-crash.fd.gz'))
    fs.writeFileSync(image, crash)
    const mnt = path.join(tmp, 'mnt')
    const flags = ['--backend', 'efi', '--kernel', version]
    await mountImage(t, image, mnt, ['-o', 'ro', ...flags])
    const want = (JSON.parse(fs.readFileSync(path.join(dir, 'listing-erase.json'), 'utf8')) as { listings: { files: KernelListingFile[] }[] }).listings[0]!
      .files
    const names = await ls(mnt)
    t.same(names, want.map((f) => f.name).sort())
    const stats = await statFiles(mnt, names)
    for (const w of want) {
      const got = stats.find((s) => s.name === w.name)
      if (!got) continue
      const c = await cat(path.join(mnt, w.name))
      t.equal(sha256(c.stdout), w.sha256, `${w.name}: cat = the kernel's bytes`)
      t.same([got.size, got.mode, got.mtime, got.mtimeNsec], [w.size, w.mode, w.mtime, w.mtime_nsec], `${w.name}: size, mode, mtime`)
    }
    t.equal((await pstoreSim(['umount', mnt])).code, 0)
    t.equal(sha256(fs.readFileSync(image)), sha256(crash), '-o ro: unchanged')

    await mountImage(t, image, mnt, flags)
    const r = await run('rm', [path.join(mnt, want[0]!.name)])
    t.equal(r.code, 0, `rm: ${r.stderr}`)
    t.equal((await pstoreSim(['umount', mnt])).code, 0)
    const ours = fs.readFileSync(image)
    const kernels = gz(path.join(dir, 'vars-after-erase.fd.gz'))
    const changed = [...ours].flatMap((b, i) => (b !== crash[i] ? [i] : []))
    t.equal(changed.length, 1, 'one byte')
    t.equal(kernels[changed[0]!], ours[changed[0]!], "the kernel's rm cleared the same bit of the same byte")
  })
}

t.test(
  'systemd-pstore on a mount of a multi-part efi dump (both names): dmesg.txt from the parts, every record erased',
  { skip: !fs.existsSync(SYSTEMD_PSTORE) && `${SYSTEMD_PSTORE} missing: install Debian's systemd` },
  async (t) => {
    for (const [kernel, backendName] of [
      ['6.1.192', 'efi'],
      ['6.12.107', 'efi_pstore'],
    ] as const) {
      const dir = tempDir(t)
      const image = await efiImage(t, dir, kernel)
      const logFile = path.join(dir, 'log.txt')
      fs.writeFileSync(logFile, LOG)
      const mnt = path.join(dir, 'mnt')
      await mountImage(t, image, mnt)
      const p = await pstoreSim(['panic', mnt, '--log', logFile, '--time', String(TIME), '--reboot'])
      t.equal(p.code, 0, p.stderr)
      const names = await ls(mnt)
      t.ok(names.length >= 5, `${kernel}: ${names.length} parts`)
      const contents = new Map<string, Buffer>()
      for (const name of names) contents.set(name, (await cat(path.join(mnt, name))).stdout)
      const archive = path.join(dir, 'archive')
      fs.mkdirSync(archive)
      const r = await run(SYSTEMD_PSTORE, [mnt, archive])
      t.equal(r.code, 0, `systemd-pstore exits 0: ${r.stderr}`)
      const groups = fs.readdirSync(archive)
      t.comment(
        `${backendName}: systemd-pstore made ${JSON.stringify(groups)} ${JSON.stringify(groups.map((g) => (fs.statSync(path.join(archive, g)).isDirectory() ? fs.readdirSync(path.join(archive, g)) : 'file')))}`,
      )
      const withText = groups.filter((g) => fs.statSync(path.join(archive, g)).isDirectory() && fs.existsSync(path.join(archive, g, 'dmesg.txt')))
      t.equal(withText.length, 1, `${backendName}: one directory with a dmesg.txt`)
      const text = withText[0] ? fs.readFileSync(path.join(archive, withText[0], 'dmesg.txt')).toString('latin1') : ''
      // the parts, highest part (the oldest lines) first: the log in order again
      const ordered = [...names].sort((a, b) => (BigInt(b.split('-').pop()!) > BigInt(a.split('-').pop()!) ? 1 : -1))
      t.same(text, ordered.map((n) => `${n}:\n${contents.get(n)!.toString('latin1')}`).join(''), 'dmesg.txt = part N … part 1')
      t.same(await ls(mnt), [], 'systemd-pstore unlinked every record')
    }
  },
)

t.test('the JS API: formatImage and mount with { backend: "efi" }; unknown efi keys and console on efi refused', async (t) => {
  // the built library, as users import it (it starts the built daemon)
  const api = (await import(pathToFileURL(path.join(repoRoot, 'dist/src/index.js')).href)) as typeof import('../../src/index.js')
  const dir = tempDir(t)
  const image = path.join(dir, 'vars.fd')
  await t.rejects(api.formatImage(image, { backend: 'efi', efi: { recordSize: 2048 } as never }), /efi\.recordSize: unknown option/)
  await api.formatImage(image, { backend: 'efi', efi: { record_size: 2048 }, target: { kernel: '6.12.107' } })
  t.equal(JSON.parse(fs.readFileSync(`${image}.json`, 'utf8')).resolved.record_size, 2048, 'the sidecar keeps record_size')
  const mnt = path.join(dir, 'mnt')
  const m = await api.mount(image, mnt)
  t.teardown(() => m.unmount().catch(() => undefined))
  const r = await m.panic({ log: LOG, time: TIME, reboot: true })
  t.ok(r.stored, 'stored')
  const names = await ls(mnt)
  t.ok(names.length >= 3 && names.every((n) => n.startsWith('dmesg-efi_pstore-')), `${names.length} parts of up to 2048 bytes`)
  await t.rejects(m.console('a console line'), /efi-pstore stores dmesg records only/)
  await m.unmount()
})
