/**
 * The mounted pstore through real clients: erase bytes, refused operations and their errno,
 * the pmsg FIFO, systemd-pstore, reboots, crash recovery and the read-only promise.
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { processAlive, readMountRecord } from '../../src/daemon/registry.js'
import { describeDiff } from '../helpers/fixtures.js'
import {
  assertErrno,
  cat,
  cliJs,
  demoImage,
  ls,
  mountBReboot,
  mountImage,
  pstoreSim,
  run,
  sha256,
  statFiles,
  tempDir,
  waitFor,
  waitGone,
} from '../helpers/mount.js'

t.test("rm is the kernel's erase: the image equals b-reboot/region-after-erase.bin", async (t) => {
  const { fixture: c, image, mnt, remount } = await mountBReboot(t, tempDir(t))
  const rm = await run('rm', [path.join(mnt, 'dmesg-ramoops-0')])
  t.equal(rm.code, 0, 'rm succeeds')
  // written before rm returned: read the image while still mounted
  const erased = c.read('region-after-erase.bin')
  const now = fs.readFileSync(image)
  t.ok(now.equals(erased), `image after rm is the kernel's erased region (${describeDiff(now, erased)})`)
  t.same(await ls(mnt), [], 'the file is gone')
  t.equal((await pstoreSim(['umount', mnt])).code, 0, 'umount')
  await remount()
  t.same(await ls(mnt), [], 'the record never comes back after umount + mount')
})

t.test("refused operations give the kernel pstore's errno", async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  t.equal((await pstoreSim(['pmsg', image, 'hello'])).code, 0)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const file = path.join(mnt, 'pmsg-ramoops-0')
  t.same(await ls(mnt), ['console-ramoops-0', 'pmsg-ramoops-0'])
  assertErrno(t, await run('touch', [path.join(mnt, 'new')]), 'Permission denied', 'touch new')
  assertErrno(t, await run('mkdir', [path.join(mnt, 'd')]), 'Operation not permitted', 'mkdir')
  assertErrno(t, await run('mv', [file, path.join(mnt, 'x')]), 'Operation not permitted', 'mv')
  assertErrno(t, await run('ln', [file, path.join(mnt, 'x')]), 'Operation not permitted', 'ln')
  assertErrno(t, await run('ln', ['-s', file, path.join(mnt, 'x')]), 'Operation not permitted', 'ln -s')
  assertErrno(t, await run('mknod', [path.join(mnt, 'p'), 'p']), 'Operation not permitted', 'mknod')
  assertErrno(t, await run('rmdir', [path.join(mnt, 'missing')]), 'No such file or directory', 'rmdir missing')
  assertErrno(t, await run('cat', [path.join(mnt, 'missing')]), 'No such file or directory', 'cat missing')
  assertErrno(t, await run('bash', ['-c', `echo x >> ${file}`]), 'Invalid argument', 'echo >>')
  assertErrno(t, await run('bash', ['-c', `echo x > ${file}`]), 'Invalid argument', 'echo >')
  t.equal((await statFiles(mnt, ['pmsg-ramoops-0']))[0].size, 0, '> (O_TRUNC) leaves the reported size at 0, as the kernel')
  t.equal((await run('chmod', ['600', file])).code, 0, 'chmod succeeds (in memory)')
  t.equal((await statFiles(mnt, ['pmsg-ramoops-0']))[0].mode, '0600', 'chmod shows in ls -l')
  t.equal((await run('touch', ['-d', '2020-01-02 03:04:05.123456789', file])).code, 0, 'touch -d succeeds')
  const touched = (await statFiles(mnt, ['pmsg-ramoops-0']))[0]
  t.same([touched.mtime, touched.mtimeNsec], [1577934245, 123456789], 'touch -d sets the time with ns')
})

t.test('-o ro: rm gives EROFS and no operation changes a byte of the image', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  await pstoreSim(['pmsg', image, 'evidence'])
  await pstoreSim(['panic', image])
  const before = sha256(fs.readFileSync(image))
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt, ['-o', 'ro'])
  t.same(await ls(mnt), ['console-ramoops-0', 'dmesg-ramoops-0', 'pmsg-ramoops-0'])
  assertErrno(t, await run('rm', ['-f', path.join(mnt, 'dmesg-ramoops-0')]), 'Read-only file system', 'rm')
  assertErrno(t, await run('touch', [path.join(mnt, 'x')]), 'Read-only file system', 'touch')
  await cat(path.join(mnt, 'dmesg-ramoops-0'))
  const reboot = await pstoreSim(['reboot', mnt])
  t.equal(reboot.code, 0, 'reboot of a read-only mount works in memory')
  const panic = await pstoreSim(['panic', mnt])
  t.not(panic.code, 0, 'a panic on a read-only mount is refused')
  t.equal(sha256(fs.readFileSync(image)), before, 'sha256 unchanged while mounted')
  t.equal((await pstoreSim(['umount', mnt])).code, 0)
  t.equal(sha256(fs.readFileSync(image)), before, 'sha256 unchanged after umount')
  t.notOk(fs.existsSync(`${mnt}.pmsg0`), 'no FIFO for a read-only mount')
})

t.test('pmsg FIFO: bytes from 20 concurrent writers all land and show after reboot', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  const mounted = await mountImage(t, image, mnt)
  const fifo = `${mnt}.pmsg0`
  t.match(mounted.stdout.toString(), fifo, 'the FIFO path is printed at mount')
  const st = fs.statSync(fifo)
  t.ok(st.isFIFO(), 'a named pipe')
  t.equal(st.mode & 0o777, 0o220, 'mode 0220 like /dev/pmsg0')
  const messages = Array.from({ length: 20 }, (_, i) => `writer ${String(i).padStart(2, '0')}: ${'x'.repeat(40 + i)}\n`)
  const writers = messages.map((m) => run('sh', ['-c', `printf '%s' "$1" > "$2"`, 'sh', m, fifo]))
  const results = await Promise.all(writers)
  t.ok(
    results.every((r) => r.code === 0),
    'every writer succeeded',
  )
  await run('sh', ['-c', `cat "$1" > "$2"`, 'sh', path.join(dir, 'demo.img.json'), fifo])
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  const shown = (await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString()
  for (const m of messages) t.ok(shown.includes(m), `intact: ${m.slice(0, 9)}`)
  t.ok(shown.endsWith(fs.readFileSync(path.join(dir, 'demo.img.json'), 'utf8').slice(-100)), 'cat file > FIFO landed too')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'second reboot')
  t.same(await ls(mnt), ['console-ramoops-0'], 'pmsg shows once: the next boot has nothing new')
  await pstoreSim(['umount', mnt])
  t.notOk(fs.existsSync(fifo), 'the FIFO is removed on unmount')
})

t.test('a write larger than the pmsg ring keeps its last bytes', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const big = Buffer.from(Array.from({ length: 10000 }, (_, i) => 65 + (i % 26)))
  t.equal((await pstoreSim(['pmsg', image, '-'], big)).code, 0)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const shown = (await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout
  t.equal(shown.length, 4096 - 12, 'the ring is full')
  t.ok(shown.equals(big.subarray(big.length - shown.length)), 'holding the last bytes written')
})

t.test(
  'systemd-pstore archives every record and unlinks them all, leaving the zones zapped',
  { skip: !fs.existsSync('/lib/systemd/systemd-pstore') && 'no /lib/systemd/systemd-pstore' },
  async (t) => {
    const dir = tempDir(t)
    const image = await demoImage(t, dir)
    await pstoreSim(['console', image, 'before the crash'])
    await pstoreSim(['pmsg', image, 'Hello world'])
    await pstoreSim(['ftrace', image, '-'], '0 ffffffff81000000 ffffffff81000100\n')
    await pstoreSim(['panic', image, '--reason', 'oops'])
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt)
    const names = await ls(mnt)
    t.same(names, ['console-ramoops-0', 'dmesg-ramoops-0', 'ftrace-ramoops', 'pmsg-ramoops-0'])
    const contents = Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await cat(path.join(mnt, n))).stdout] as const)))
    const archive = path.join(dir, 'archive')
    fs.mkdirSync(archive)
    const r = await run('/lib/systemd/systemd-pstore', [mnt, archive])
    t.equal(r.code, 0, `systemd-pstore: ${r.stderr}`)
    t.same(await ls(mnt), [], 'every file unlinked')
    const archived = fs.readdirSync(archive, { recursive: true }).map(String)
    for (const n of names) {
      const found = archived.find((a) => path.basename(a) === n)
      t.ok(found, `${n} archived`)
      if (found) t.ok(fs.readFileSync(path.join(archive, found)).equals(contents[n]), `${n}: archived bytes equal what cat showed`)
    }
    await pstoreSim(['umount', mnt])
    const inspect = JSON.parse((await pstoreSim(['inspect', image, '--json'])).stdout.toString())
    t.same(inspect.records, [], 'no record left in the image')
    for (const zone of inspect.zones) t.equal(zone.used, 0, `${zone.type}[${zone.index}] zapped`)
  },
)

t.test('reboot: pmsg and console written since the last boot appear, once; ftrace and dmesg persist', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  t.same(await ls(mnt), ['console-ramoops-0'], "the first boot's console output")
  await pstoreSim(['pmsg', mnt, 'after mount'])
  await pstoreSim(['console', mnt, 'a console line'])
  t.same(await ls(mnt), ['console-ramoops-0'], 'nothing new before the reboot')
  await pstoreSim(['reboot', mnt])
  t.same(await ls(mnt), ['console-ramoops-0', 'pmsg-ramoops-0'])
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'after mount')
  t.match((await cat(path.join(mnt, 'console-ramoops-0'))).stdout.toString(), /\] a console line\n/)
  for (let i = 0; i < 3; i++) t.equal((await pstoreSim(['panic', mnt, '--reason', 'oops'])).code, 0, `oops ${i + 1}`)
  const halted = await pstoreSim(['panic', mnt])
  t.equal(halted.code, 0, 'panic')
  const refused = await pstoreSim(['console', mnt, 'after the panic'])
  t.not(refused.code, 0, 'a halted machine refuses console output')
  t.match(refused.stderr, /halted/)
  await pstoreSim(['reboot', mnt])
  t.same(
    await ls(mnt),
    ['console-ramoops-0', 'dmesg-ramoops-0', 'dmesg-ramoops-1', 'dmesg-ramoops-2', 'dmesg-ramoops-3'],
    'three oopses in slots 0..2, the panic in 3',
  )
  t.match((await cat(path.join(mnt, 'dmesg-ramoops-3'))).stdout.toString(), /^Panic#4 Part1\n/)
  t.match((await cat(path.join(mnt, 'dmesg-ramoops-1'))).stdout.toString(), /^Oops#2 Part1\n/)
  await pstoreSim(['panic', mnt])
  await pstoreSim(['reboot', mnt])
  t.match((await cat(path.join(mnt, 'dmesg-ramoops-0'))).stdout.toString(), /^Panic#1 Part1\n/, 'the first crash after a boot goes to slot 0')
})

t.test('reads at any offset and size; rm of an open file leaves no .fuse_hidden file', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  await pstoreSim(['panic', image, '--no-compress'])
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const file = path.join(mnt, 'dmesg-ramoops-0')
  const whole = (await cat(file)).stdout
  t.ok(whole.length > 1000)
  for (const [bs, skip] of [
    [1, 7],
    [13, 5],
    [4097, 0],
    [333, 3],
  ] as const) {
    const r = await run('dd', [`if=${file}`, `bs=${bs}`, `skip=${skip}`, 'status=none'])
    t.ok(r.stdout.equals(whole.subarray(bs * skip)), `dd bs=${bs} skip=${skip}`)
  }
  const readers = await Promise.all(Array.from({ length: 8 }, () => cat(file)))
  t.ok(
    readers.every((r) => r.stdout.equals(whole)),
    '8 readers at once',
  )
  // hold the file open in another process, rm it, then let the holder read on (told by a line on its stdin)
  const holder = spawn('sh', ['-c', 'exec 3<"$1"; read -r line <&3; echo "$line"; read -r go; cat <&3 | wc -c', 'sh', file], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  holder.stdout.on('data', (d) => (out += d))
  await waitFor(() => out.includes('\n')) // the holder has it open
  t.equal((await run('rm', [file])).code, 0, 'rm of an open file')
  t.same(await ls(mnt), ['console-ramoops-0'], 'gone, and no .fuse_hidden* file')
  const holderExit = new Promise((r) => holder.on('exit', r))
  holder.stdin.end('go\n')
  await holderExit
  t.match(out, /^Panic#1 Part1/, 'the holder had its data')
})

t.test('kill -9 of the daemon: the next mount recovers the dead mount by itself', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const record = readMountRecord(mnt)!
  process.kill(record.pid, 'SIGKILL')
  let dead = await run('ls', [mnt])
  await waitFor(async () => (dead = await run('ls', [mnt])).stderr.includes('not connected'))
  t.match(dead.stderr, 'Transport endpoint is not connected', 'the mount is dead')
  t.ok(fs.lstatSync(`${mnt}.pmsg0`).isFIFO(), 'the killed daemon left its FIFO behind')
  // a symlink where the FIFO goes must be replaced, never followed
  const victim = path.join(dir, 'victim.txt')
  fs.writeFileSync(victim, 'keep me')
  fs.unlinkSync(`${mnt}.pmsg0`)
  fs.symlinkSync(victim, `${mnt}.pmsg0`)
  await mountImage(t, image, mnt)
  t.same(await ls(mnt), ['console-ramoops-0'], 'mounted again')
  t.ok(fs.lstatSync(`${mnt}.pmsg0`).isFIFO(), 'the stale entry was replaced by a FIFO')
  t.equal(fs.readFileSync(victim, 'utf8'), 'keep me', 'the symlink target was not touched')
})

t.test('SIGTERM unmounts cleanly; mountpoints are created or refused', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'deep', 'mnt')
  await mountImage(t, image, mnt)
  t.ok(fs.existsSync(mnt), 'a missing mountpoint is created')
  const record = readMountRecord(mnt)!
  process.kill(record.pid, 'SIGTERM')
  // the daemon exits once it has unmounted (the FIFO goes first, while the files still answer)
  await waitGone(record.pid)
  t.notOk(processAlive(record.pid), 'the daemon exited')
  t.notOk(fs.existsSync(`${mnt}.pmsg0`), 'FIFO removed')
  t.same(await ls(mnt), [], 'unmounted')
  fs.writeFileSync(path.join(mnt, 'stray'), 'x')
  const refused = await pstoreSim(['mount', image, mnt])
  t.equal(refused.code, 1, 'a non-empty mountpoint is refused')
  t.match(refused.stderr, 'not empty')
  const inspect = await pstoreSim(['inspect', image])
  t.equal(inspect.code, 0, 'the image is consistent')
})

t.test('the kernel caches attributes and names, but never shows a stale file after rm, reboot or a write through the CLI', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  await pstoreSim(['pmsg', image, 'first boot'])
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const pmsg = path.join(mnt, 'pmsg-ramoops-0')
  const sizeOf = async (name: string) => (await statFiles(mnt, [name]))[0].size
  t.equal(await sizeOf('pmsg-ramoops-0'), 'first boot'.length, 'stat before (now cached)')
  const consoleBefore = await sizeOf('console-ramoops-0')
  // a write through the CLI changes the image, not the view: nothing to see until the reboot
  await pstoreSim(['pmsg', mnt, 'the second boot has more to say'])
  await pstoreSim(['console', mnt, 'one more console line'])
  t.equal(await sizeOf('pmsg-ramoops-0'), 'first boot'.length, 'unchanged before the reboot, as on a kernel')
  await pstoreSim(['reboot', mnt])
  t.equal(await sizeOf('pmsg-ramoops-0'), 'the second boot has more to say'.length, 'right after reboot: the new size under the same name')
  t.equal((await cat(pmsg)).stdout.toString(), 'the second boot has more to say', 'and the new bytes')
  const consoleAfter = await sizeOf('console-ramoops-0')
  t.not(consoleAfter, consoleBefore, "console-ramoops-0 has the new boot's size")
  t.equal((await cat(path.join(mnt, 'console-ramoops-0'))).stdout.length, consoleAfter, 'stat and cat agree')
  await pstoreSim(['reboot', mnt])
  assertErrno(t, await run('stat', [pmsg]), 'No such file or directory', 'a file the reboot removed')
  t.same(await ls(mnt), ['console-ramoops-0'])
  await pstoreSim(['panic', mnt, '--reboot'])
  t.same(await ls(mnt), ['console-ramoops-0', 'dmesg-ramoops-0'], 'panic --reboot shows the new record at once')
  t.equal((await run('rm', [path.join(mnt, 'dmesg-ramoops-0')])).code, 0)
  assertErrno(t, await run('stat', [path.join(mnt, 'dmesg-ramoops-0')]), 'No such file or directory', 'stat after rm')
})

t.test('a mount the CLI refuses leaves no daemon and no log behind (the daemon starts before the arguments are parsed)', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const runDir = path.join(dir, 'run')
  const env = { ...process.env, PSTORE_SIM_RUN_DIR: runDir }
  const commandLine = (pid: string) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      return '' // gone meanwhile
    }
  }
  const daemonsOfThisRun = () => fs.readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && commandLine(pid).includes(runDir))
  for (const [what, args] of [
    ['an unknown -o option', ['mount', image, path.join(dir, 'm1'), '-o', 'bogus']],
    ['a missing mountpoint (yargs exits)', ['mount', image]],
    ['an image that does not exist', ['mount', path.join(dir, 'missing.img'), path.join(dir, 'm2')]],
  ] as const) {
    const r = await run(process.execPath, [cliJs, ...args], { env })
    t.equal(r.code, 1, `${what}: exit 1`)
    t.ok(r.stderr.length > 0, `${what}: says why (${r.stderr.trim().split('\n')[0]})`)
    await waitFor(() => daemonsOfThisRun().length === 0)
    t.same(daemonsOfThisRun(), [], `${what}: no daemon left`)
    const left = fs.existsSync(runDir) ? fs.readdirSync(runDir).filter((f) => f.startsWith('starting-')) : []
    t.same(left, [], `${what}: no start-up log left`)
  }
})

t.test(
  'as root the daemon unmounts without fusermount3 (umount2, as libfuse does for root); umount waits for its exit',
  { skip: process.getuid?.() !== 0 && 'needs root (an ordinary user unmounts through fusermount3: unprivileged.test.ts)' },
  async (t) => {
    const dir = tempDir(t)
    const image = await demoImage(t, dir)
    // a fusermount3 first in PATH that notes each call and runs the real one
    const real = (await run('sh', ['-c', 'command -v fusermount3'])).stdout.toString().trim()
    t.ok(real, `the real fusermount3: ${real}`)
    const shimDir = path.join(dir, 'shim')
    const calls = path.join(dir, 'fusermount3-calls')
    fs.mkdirSync(shimDir)
    fs.writeFileSync(path.join(shimDir, 'fusermount3'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${calls}'\nexec '${real}' "$@"\n`, { mode: 0o755 })
    const env = { PATH: `${shimDir}:${process.env.PATH ?? ''}` }
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt, [], env)
    const pid = readMountRecord(mnt)?.pid
    t.ok(pid && processAlive(pid), 'the daemon runs')
    const u = await run(process.execPath, [cliJs, 'umount', mnt], { env: { ...process.env, ...env } })
    t.equal(u.code, 0, `umount: ${u.stderr}`)
    t.notOk(pid && processAlive(pid), 'the daemon has exited when umount returns')
    t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'nothing is mounted there')
    const noted = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : ''
    t.notMatch(noted, /-u/, `no fusermount3 -u ran (calls: ${JSON.stringify(noted)})`)
    t.equal((await pstoreSim(['inspect', image])).code, 0, 'the image is consistent')
  },
)

t.test('mount --foreground ends with exit code 0 at umount, its last write done (the fast exit, without coverage)', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  // as a user runs it: no tap loader, no NODE_V8_COVERAGE (under which the daemon ends through Node's exit)
  const daemon = spawn('env', ['-u', 'NODE_V8_COVERAGE', '-u', 'NODE_OPTIONS', process.execPath, cliJs, 'mount', image, mnt, '--foreground'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)))
  let stderr = ''
  daemon.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  await new Promise<void>((resolve, reject) => {
    daemon.stdout.once('data', () => resolve())
    daemon.once('exit', (code) => reject(new Error(`the foreground daemon exited with ${code}: ${stderr}`)))
  })
  const w = await run('sh', ['-c', 'printf "last words\\n" > "$1"', 'sh', `${mnt}.pmsg0`])
  t.equal(w.code, 0, `a write to the FIFO: ${w.stderr}`)
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, `umount: ${u.stderr}`)
  t.equal(await exited, 0, 'the foreground process exited with 0')
  t.equal(stderr, '', 'it said nothing on stderr')
  const remount = await mountImage(t, image, mnt)
  t.equal(remount.code, 0, 'mounted again')
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'last words\n', 'the write before umount is in the image')
})
