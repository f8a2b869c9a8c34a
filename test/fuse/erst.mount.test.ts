/**
 * ERST through the real thing: the CLI (format, panic, inspect, bad flags), a FUSE mount (ls,
 * stat, cat, rm) and Debian's systemd-pstore rebuilding dmesg.txt from a multi-part dump.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { cat, ls, mountImage, pstoreSim, run, statFiles, tempDir } from '../helpers/mount.js'

const SYSTEMD_PSTORE = '/lib/systemd/systemd-pstore'
const TIME = 1796000000
const BASE = BigInt(TIME) << 32n
const LOG = Array.from({ length: 400 }, (_, i) => `a line of the kernel log, number ${String(i).padStart(3, '0')}, some padding`).join('\n') + '\n'

async function erstImage(t: Test, dir: string, extra: string[] = []): Promise<string> {
  const image = path.join(dir, 'erst.img')
  const r = await pstoreSim(['format', image, '--backend', 'erst', '--kernel', '6.12.107', ...extra])
  t.equal(r.code, 0, `format: ${r.stderr}`)
  return image
}

t.test('bad ERST flags: one line naming the flag, exit 1, nothing written', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'x.img')
  for (const [args, flag] of [
    [['--erst-record-size', '5000'], /--erst-record-size: .*power of two of at least 4096/],
    [['--erst-record-size', '2K'], /--erst-record-size/],
    [['--erst-size', '0x11000'], /--erst-size: .*not a multiple of record_size 8192/],
    [['--erst-size', 'lots'], /--erst-size: "lots" is not a size/],
  ] as const) {
    const r = await pstoreSim(['format', image, '--backend', 'erst', ...args])
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, flag)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    t.notOk(fs.existsSync(image) || fs.existsSync(`${image}.json`), 'no image, no sidecar')
  }
  // blk without its module parameters: refused, naming them
  const blk = await pstoreSim(['format', image, '--backend', 'blk'])
  t.equal(blk.code, 1)
  t.match(blk.stderr, /--backend blk needs the module parameters: --cmdline "pstore_blk\.blkdev=/)
  t.notOk(fs.existsSync(image), 'no image')
  const unknown = await pstoreSim(['format', image, '--backend', 'nvram'])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /--backend: unknown backend "nvram"/)
  const mixed = await pstoreSim(['format', image, '--backend', 'erst', '--mem-size', '1M'])
  t.equal(mixed.code, 1)
  t.match(mixed.stderr, /ramoops parameters .* do not apply to the erst backend/)
  t.notOk(fs.existsSync(image), 'still nothing written')
})

t.test('format, panic, mount: dmesg-erst-<id> files with 0 ns mtimes; rm clears the map entry', async (t) => {
  const dir = tempDir(t)
  const image = await erstImage(t, dir)
  t.equal(JSON.parse(fs.readFileSync(`${image}.json`, 'utf8')).setup.backend, 'erst', 'the sidecar records the backend')
  const logFile = path.join(dir, 'log.txt')
  fs.writeFileSync(logFile, LOG)
  const p = await pstoreSim(['panic', image, '--log', logFile, '--no-compress', '--time', String(TIME), '--reboot'])
  t.equal(p.code, 0, p.stderr)
  t.match(p.stdout.toString(), new RegExp(`part 1 as record ${BASE + 1n} \\(slot 1\\)\\n.*part 2 as record ${BASE + 2n} \\(slot 2\\)`))
  const inspect = await pstoreSim(['inspect', image])
  t.match(inspect.stdout.toString(), new RegExp(`1 +${BASE + 1n} +\\d+ +${TIME} +dmesg +1`), 'inspect lists slot, id, part')

  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const names = [`dmesg-erst-${BASE + 1n}`, `dmesg-erst-${BASE + 2n}`]
  t.same(await ls(mnt), names)
  const stats = await statFiles(mnt, names)
  t.same(
    stats.map((s) => [s.mtime, s.mtimeNsec, s.mode]),
    [
      [TIME, 0, '0444'],
      [TIME, 0, '0444'],
    ],
  )
  const part1 = (await cat(path.join(mnt, names[0]))).stdout.toString('latin1')
  t.match(part1, /^Panic#1 Part1\n<6>\[/)
  t.ok(part1.endsWith('number 399, some padding\n'), 'part 1: the newest lines')

  const rm = await run('rm', [path.join(mnt, names[0])])
  t.equal(rm.code, 0, rm.stderr)
  const bytes = fs.readFileSync(image)
  t.equal(bytes.readBigUInt64LE(24 + 8), 0n, 'map[1] zeroed in the file before rm returned')
  t.equal(bytes.readUInt32LE(20), 1, 'record_count 1')
  t.same(await ls(mnt), [names[1]])
  const again = await run('rm', [path.join(mnt, names[0])])
  t.not(again.code, 0, 'a second rm fails')
  t.match(again.stderr, /No such file/)
})

t.test(
  'systemd-pstore on a mount of a multi-part dump: one directory per dump, dmesg.txt from the parts, every record erased',
  { skip: !fs.existsSync(SYSTEMD_PSTORE) && `${SYSTEMD_PSTORE} missing: install Debian's systemd` },
  async (t) => {
    const dir = tempDir(t)
    const image = await erstImage(t, dir, ['--erst-size', '0x20000'])
    const logFile = path.join(dir, 'log.txt')
    fs.writeFileSync(logFile, LOG.repeat(3))
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt, ['-o', 'kmsg_bytes=30000'])
    const p = await pstoreSim(['panic', mnt, '--log', logFile, '--no-compress', '--time', String(TIME), '--reboot'])
    t.equal(p.code, 0, p.stderr)
    const names = await ls(mnt)
    t.equal(names.length, 4, 'kmsg_bytes 30000: four 7944-byte parts (three make 23832)')
    const contents = new Map<string, Buffer>()
    for (const name of names) contents.set(name, (await cat(path.join(mnt, name))).stdout)
    const archive = path.join(dir, 'archive')
    fs.mkdirSync(archive)
    const r = await run(SYSTEMD_PSTORE, [mnt, archive])
    t.equal(r.code, 0, `systemd-pstore exits 0: ${r.stderr}`)
    // systemd-pstore names an ERST dump's directory by the record id less its last six digits.
    const group = (BASE + 1n).toString().slice(0, -6)
    t.same(fs.readdirSync(archive), [group], 'one directory for the dump')
    t.same(fs.readdirSync(path.join(archive, group)).sort(), [...names, 'dmesg.txt'].sort())
    for (const name of names) t.ok(fs.readFileSync(path.join(archive, group, name)).equals(contents.get(name)!), `${name} archived as served`)
    // The parts, highest id (the oldest lines) first: the log in order again.
    const expected = [...names].reverse().map((name) => Buffer.concat([Buffer.from(`${name}:\n`), contents.get(name)!]))
    t.same(
      fs.readFileSync(path.join(archive, group, 'dmesg.txt')).toString('latin1'),
      Buffer.concat(expected).toString('latin1'),
      'dmesg.txt = part 4, 3, 2, then part 1',
    )
    t.same(await ls(mnt), [], 'systemd-pstore unlinked every record')
    const bytes = fs.readFileSync(image)
    t.equal(bytes.readUInt32LE(20), 0, 'record_count 0: the ERST file is empty')
  },
)

t.test('a file QEMU would refuse: inspect and mount say so in one line and change nothing', async (t) => {
  const dir = tempDir(t)
  const image = await erstImage(t, dir)
  const bytes = fs.readFileSync(image)
  bytes.write('XXXX', 0, 'latin1')
  fs.writeFileSync(image, bytes)
  for (const args of [
    ['inspect', image],
    ['mount', image, path.join(dir, 'mnt')],
  ]) {
    const r = await pstoreSim(args)
    t.equal(r.code, 1, `${args[0]}: exit 1`)
    t.match(r.stderr, /erst\.img: QEMU refuses this ERST file: the storage header is invalid/)
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    t.ok(fs.readFileSync(image).equals(bytes), 'the file is unchanged')
  }
})
