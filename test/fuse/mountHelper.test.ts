/**
 * pstore-sim through the real mount(8) and umount(8): `mount -t fuse.pstore-sim`, an fstab line
 * (a temporary fstab: `mount --fstab FILE DIR`), mount.fuse's own options, a plain umount.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { processAlive, readMountRecord } from '../../src/daemon/registry.js'
import { fixtureCase } from '../helpers/fixtures.js'
import { assertErrno, cat, cliBin, cliJs, demoImage, ls, pstoreSim, run, sha256, tempDir, waitGone } from '../helpers/mount.js'

/** mount(8) finds helpers in its default PATH: /usr/local/sbin holds ours for these tests. */
const HELPER = '/usr/local/sbin/pstore-sim'

t.before(() => {
  if (fs.existsSync(HELPER) && fs.realpathSync(HELPER) !== fs.realpathSync(cliBin))
    throw new Error(`${HELPER} exists and is not this checkout's: remove it to run these tests`)
  // what `npm link` puts on PATH: package.json's bin
  fs.symlinkSync(cliBin, HELPER + '.tmp')
  fs.renameSync(HELPER + '.tmp', HELPER)
})
t.teardown(() => fs.rmSync(HELPER, { force: true }))

/** Waits for a daemon to leave after an outside umount (it checks every 500 ms). */
async function gone(pid: number): Promise<boolean> {
  await waitGone(pid)
  return !processAlive(pid)
}

/** Unmounts at teardown whatever a failing test left mounted. */
function umountAtTeardown(t: { teardown(fn: () => Promise<void>): void }, mnt: string): void {
  t.teardown(async () => {
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `)) await run('umount', [mnt])
  })
}

t.test('the bin is an executable sh script, and npm run build leaves an executable CLI with a node shebang', async (t) => {
  t.ok(fs.statSync(cliBin).mode & 0o111, `${cliBin} is executable`)
  t.match(fs.readFileSync(cliBin, 'utf8').split('\n')[0], /^#!\/bin\/sh$/)
  t.ok(fs.statSync(cliJs).mode & 0o111, `${cliJs} is executable`)
  t.match(fs.readFileSync(cliJs, 'utf8').split('\n')[0], /^#!\/usr\/bin\/env node$/)
})

t.test('mount -t fuse.pstore-sim IMAGE DIR -o ro,kmsg_bytes=…,cache_timeout=…; umount DIR ends the daemon', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  t.equal((await pstoreSim(['panic', image])).code, 0)
  const before = sha256(fs.readFileSync(image))
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  umountAtTeardown(t, mnt)
  const m = await run('mount', ['-t', 'fuse.pstore-sim', image, mnt, '-o', 'ro,kmsg_bytes=4096,cache_timeout=0'])
  t.equal(m.code, 0, `mount: ${m.stderr}`)
  t.equal(m.stdout.toString() + m.stderr, '', 'silent, as mount helpers are')
  t.same(await ls(mnt), ['console-ramoops-0', 'dmesg-ramoops-0'], 'usable as soon as mount returns')
  assertErrno(t, await run('rm', [path.join(mnt, 'dmesg-ramoops-0')]), 'Read-only file system', 'rm on -o ro')
  const record = readMountRecord(mnt)!
  t.ok(record?.readOnly, "the daemon took ro from mount.fuse's options")
  t.equal((await run('umount', [mnt])).code, 0, 'plain umount')
  t.ok(await gone(record.pid), 'the daemon exits')
  t.notOk(readMountRecord(mnt), 'and its run-directory record is gone')
  t.equal(sha256(fs.readFileSync(image)), before, 'not a byte of the image changed')
})

t.test('an fstab line (noauto,rw) mounts with "mount DIR"; umount saves the state and removes the FIFO', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  umountAtTeardown(t, mnt)
  const fstab = path.join(dir, 'fstab')
  fs.writeFileSync(fstab, `# pstore-sim test\n${image} ${mnt} fuse.pstore-sim noauto,rw,nofail,x-test=1 0 0\n`)
  const m = await run('mount', ['--fstab', fstab, mnt])
  t.equal(m.code, 0, `mount DIR: ${m.stderr}`)
  const fifo = `${mnt}.pmsg0`
  t.ok(fs.statSync(fifo).isFIFO(), 'the pmsg FIFO beside the mountpoint')
  t.equal((await run('sh', ['-c', 'printf "via fstab" > "$1"', 'sh', fifo])).code, 0, 'a pmsg write')
  const pid = readMountRecord(mnt)!.pid
  t.equal((await run('umount', [mnt])).code, 0, 'umount DIR')
  t.ok(await gone(pid), 'the daemon exits')
  t.notOk(fs.existsSync(fifo), 'the FIFO is removed')
  t.equal((await run('mount', ['--fstab', fstab, mnt])).code, 0, 'mount DIR again (a boot)')
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'via fstab', 'the write survived: state saved on umount')
  t.equal((await run('umount', [mnt])).code, 0)
})

t.test("-o with ramoops module parameter names sets up a raw dump: the kernel's file, byte for byte", async (t) => {
  const c = fixtureCase('kernel-6.1', 'b-reboot')
  const p = c.params.ramoops
  const dir = tempDir(t)
  const image = path.join(dir, 'dump.bin')
  fs.copyFileSync(c.file('region-before.bin'), image)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  umountAtTeardown(t, mnt)
  const o = `ro,kernel=6.1.192,mem_size=${p.mem_size},record_size=${p.record_size},console_size=${p.console_size},ftrace_size=${p.ftrace_size},pmsg_size=${p.pmsg_size},ecc=${p.ecc},cpus=${c.params.guest_nr_cpus},frontends=none`
  const m = await run('mount', ['-t', 'fuse.pstore-sim', image, mnt, '-o', o])
  t.equal(m.code, 0, `mount: ${m.stderr}`)
  const kernel = c.listing().files
  t.same(await ls(mnt), kernel.map((f) => f.name).sort(), "the kernel's listing")
  for (const f of kernel) t.ok((await cat(path.join(mnt, f.name))).stdout.equals(Buffer.from(f.content_b64, 'base64')), `${f.name}: the kernel's bytes`)
  t.equal((await run('umount', [mnt])).code, 0)
})

t.test('a bad -o fails the mount with one line naming it; nothing is mounted', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  umountAtTeardown(t, mnt)
  const m = await run('mount', ['-t', 'fuse.pstore-sim', image, mnt, '-o', 'rw,bogus=1'])
  t.not(m.code, 0, 'mount fails')
  t.match(m.stderr, /-o bogus=1: unknown mount option/, 'naming the option')
  t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'nothing mounted')
  const missing = await run('mount', ['-t', 'fuse.pstore-sim', path.join(dir, 'none.img'), mnt])
  t.match(missing.stderr, /none\.img: no such image/, 'a missing image is named')
})
