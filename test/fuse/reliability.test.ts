/**
 * Issue 10, "stops, one writer, nothing trusted": acknowledged pmsg bytes survive every clean
 * stop, a mount that fails after its boot changes nothing, one writer per image, nothing
 * planted is followed or trusted, and nothing is left behind. Real mounts, real clients.
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { processAlive, readMountRecord } from '../../src/daemon/registry.js'
import { cliJs, DEMO, demoImage, mountImage, pstoreSim, run, runProductsUninstrumented, sha256, tempDir, waitFor, waitGone } from '../helpers/mount.js'
import { checkLines, startWriters } from '../helpers/pmsgLoad.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The bytes of an image and of the files beside it. */
function snapshot(image: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of [image, `${image}.json`, `${image}.state.json`]) out[path.basename(f)] = fs.existsSync(f) ? sha256(fs.readFileSync(f)) : 'missing'
  return out
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(process.execPath, [cliJs, ...args], { env: { ...process.env, ...env } })
}

/** Whether the daemon has exited, waiting for it however long it takes (helpers/mount.ts waitFor). */
async function exited(pid: number): Promise<boolean> {
  await waitGone(pid)
  return !processAlive(pid)
}

t.test('a reboot stores what writers were told is written before it boots', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'r.img')
  t.equal(
    (await pstoreSim(['format', image, '--mem-size', '1M', '--record-size', '32K', '--console-size', '32K', '--pmsg-size', '256K', '--ftrace-size', '0'])).code,
    0,
  )
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const socket = readMountRecord(mnt)!.socket
  // 60 000 bytes (under the pipe's capacity: no write blocks), then at once a reboot.
  const fd = fs.openSync(`${mnt}.pmsg0`, 'w')
  const lines: string[] = []
  for (let i = 1; i <= 5000; i++) lines.push(`w0 ${i}\n`)
  for (const line of lines) fs.writeSync(fd, line)
  const answer = await new Promise<string>((resolve) => {
    const c = net.createConnection(socket, () => c.write('{"op":"reboot"}\n'))
    c.on('data', (d) => {
      resolve(d.toString())
      c.end()
    })
  })
  fs.closeSync(fd)
  t.match(answer, /"ok":true/, 'reboot answered')
  const pmsg = await run('cat', [path.join(mnt, 'pmsg-ramoops-0')])
  const report = checkLines(pmsg.stdout.toString(), [5000])
  t.equal(report.missingLines, 0, `all 5000 lines in the new boot's pmsg-ramoops-0 (${report.missingLines} missing)`)
})

for (const kind of ['SIGTERM', 'SIGINT', 'umount', 'fusermount3 -u'] as const) {
  t.test(`${kind}: every acknowledged pmsg line is in the image`, async (t) => {
    const dir = tempDir(t)
    const image = path.join(dir, 's.img')
    t.equal(
      (await pstoreSim(['format', image, '--mem-size', '8M', '--record-size', '32K', '--console-size', '32K', '--pmsg-size', '6M', '--ftrace-size', '0'])).code,
      0,
    )
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt)
    const pid = readMountRecord(mnt)!.pid
    // 32 × 12000 lines (< 4.7 MB): the 6 MiB ring never wraps, however late the stop comes.
    // paced so that writing lasts well past the stop (≥ 12 s; an idle CI run once saw a umount
    // outlast 6 s of writing), however idle the machine
    const writers = startWriters(`${mnt}.pmsg0`, 32, 12000, 5, 5)
    await writers.ready
    await sleep(500)
    if (kind === 'umount') t.equal((await pstoreSim(['umount', mnt])).code, 0, 'umount')
    else if (kind === 'fusermount3 -u') t.equal((await run('fusermount3', ['-u', mnt])).code, 0, 'fusermount3 -u')
    else process.kill(pid, kind)
    const acked = await writers.done
    t.ok(await exited(pid), 'the daemon exits')
    t.notOk(fs.existsSync(`${mnt}.pmsg0`), 'the FIFO is gone')
    await mountImage(t, image, mnt)
    const pmsg = await run('cat', [path.join(mnt, 'pmsg-ramoops-0')])
    const report = checkLines(pmsg.stdout.toString(), acked)
    t.ok(
      acked.some((n) => n < 12000),
      `writers were writing at the stop (${report.ackedLines} lines acknowledged)`,
    )
    t.equal(report.missingLines, 0, `no acknowledged line missing (${report.missingLines})`)
    t.same(report.damaged, [], 'no damaged line')
  })
}

async function failedMount(t: Test, what: string, image: string, args: string[], message: RegExp, prepare: () => void = () => undefined) {
  const before = snapshot(image)
  prepare()
  const r = await cli(['mount', image, ...args])
  t.equal(r.code, 1, `${what}: exit 1`)
  t.match(r.stderr, message, `${what}: says why (${r.stderr.trim()})`)
  t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`)
  t.same(snapshot(image), before, `${what}: image, sidecar and state unchanged`)
}

t.test('a mount that fails changes nothing and its daemon exits', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  t.equal((await pstoreSim(['console', image, 'the previous boot'])).code, 0)
  t.equal((await pstoreSim(['pmsg', image, 'previous pmsg'])).code, 0)
  const m1 = path.join(dir, 'm1')
  await failedMount(t, 'a regular file at MOUNT.pmsg0', image, [m1], /m1\.pmsg0: exists and is not a FIFO: remove it or choose another --pmsg-fifo/, () =>
    fs.writeFileSync(`${m1}.pmsg0`, 'x'),
  )
  t.equal(fs.readFileSync(`${m1}.pmsg0`, 'utf8'), 'x', 'the file is untouched')
  await failedMount(
    t,
    'a missing --pmsg-fifo directory',
    image,
    [path.join(dir, 'm2'), '--pmsg-fifo', path.join(dir, 'nowhere', 'pmsg0')],
    /nowhere\/pmsg0: its directory .*nowhere is not usable/,
  )
  const m3 = path.join(dir, 'm3')
  fs.mkdirSync(m3)
  fs.writeFileSync(path.join(m3, 'busy'), '')
  await failedMount(t, 'a non-empty mountpoint', image, [m3], /m3: directory is not empty/)
  const daemons = fs.readdirSync('/proc').filter(
    (p) =>
      /^\d+$/.test(p) &&
      (() => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(image)
        } catch {
          return false
        }
      })(),
  )
  t.same(daemons, [], 'no daemon left running')
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  t.match((await run('cat', [path.join(mnt, 'console-ramoops-0')])).stdout.toString(), /the previous boot/, "the previous boot's console is still there")
  t.equal((await run('cat', [path.join(mnt, 'pmsg-ramoops-0')])).stdout.toString(), 'previous pmsg', 'and its pmsg')
})

t.test('one writer per image: second mounts, writes through a symlink, format --force', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const pid = readMountRecord(mnt)!.pid
  const before = snapshot(image)
  const holder = new RegExp(`the image is in use \\(pstore-sim pid ${pid}, mounted at ${mnt.replace(/[/.]/g, '\\$&')}`)
  for (const [what, args] of [
    ['a second read-write mount', ['mount', image, path.join(dir, 'm2')]],
    ['a read-only mount', ['mount', image, path.join(dir, 'm3'), '-o', 'ro']],
    ['format --force', ['format', image, '--force', ...DEMO]],
  ] as const) {
    const r = await cli([...args])
    t.equal(r.code, 1, `${what}: refused`)
    t.match(r.stderr, holder, `${what}: names the holder (${r.stderr.trim()})`)
  }
  t.same(snapshot(image), before, 'the image is unchanged')
  const link = path.join(dir, 'other', 'link.img')
  fs.mkdirSync(path.dirname(link))
  fs.symlinkSync(image, link)
  t.equal((await pstoreSim(['console', link, 'through the link'])).code, 0, 'console through a symlink')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0)
  t.match(
    (await run('cat', [path.join(mnt, 'console-ramoops-0')])).stdout.toString(),
    /through the link/,
    "went through the daemon: in the next boot's console",
  )
  process.kill(pid, 'SIGKILL')
  t.ok(await exited(pid))
  t.equal((await pstoreSim(['console', image, 'after the kill'])).code, 0, 'the lock died with its holder (kill -9)')
  t.equal((await pstoreSim(['umount', mnt])).code, 0, 'umount of the dead mount')
})

t.test('read-only mounts share the image; a writer is refused while one is up', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  await mountImage(t, image, path.join(dir, 'a'), ['-o', 'ro'])
  await mountImage(t, image, path.join(dir, 'b'), ['-o', 'ro'])
  const before = snapshot(image)
  const r = await pstoreSim(['format', image, '--force', ...DEMO])
  t.equal(r.code, 1, 'format --force of the image is refused')
  t.match(r.stderr, /the image is in use \(pstore-sim pid \d+, mounted read-only at/, r.stderr.trim())
  const c = await pstoreSim(['console', image, 'x'])
  t.equal(c.code, 1, 'console on the image goes to a read-only daemon: refused')
  t.same(snapshot(image), before, 'the image is unchanged')
})

t.test("the run directory must be the user's own, mode 0700", async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const open = path.join(dir, 'open')
  fs.mkdirSync(open, { mode: 0o777 })
  fs.chmodSync(open, 0o777)
  const foreign = path.join(dir, 'foreign')
  fs.mkdirSync(foreign, { mode: 0o700 })
  fs.chownSync(foreign, 65534, 65534)
  const link = path.join(dir, 'link')
  fs.symlinkSync(open, link)
  for (const [what, runDir, message] of [
    ['mode 0777', open, /the run directory has mode 0777, others may use it: chmod 700/],
    ['owned by another uid', foreign, /the run directory belongs to uid 65534, not to you \(uid 0\)/],
    ['a symlink', link, /the run directory is a symlink/],
  ] as const) {
    const r = await cli(['mount', image, path.join(dir, 'mnt')], { PSTORE_SIM_RUN_DIR: runDir })
    t.equal(r.code, 2, `${what}: exit 2`)
    t.match(r.stderr, message, `${what}: ${r.stderr.trim()}`)
    t.match(r.stderr, /set PSTORE_SIM_RUN_DIR to a directory of your own with mode 0700/, `${what}: says the fix`)
  }
  t.same(fs.readdirSync(open), [], 'nothing written into the open directory')
})

t.test('files beside an image: planted symlinks are replaced, never followed; 0600', async (t) => {
  const dir = tempDir(t)
  const victim = path.join(dir, 'victim')
  fs.writeFileSync(victim, 'secret', { mode: 0o600 })
  const image = path.join(dir, 'p.img')
  fs.symlinkSync(victim, `${image}.json`)
  t.equal((await pstoreSim(['format', image, ...DEMO])).code, 0, 'format')
  t.equal(fs.readFileSync(victim, 'utf8'), 'secret', 'the sidecar symlink was not followed')
  fs.rmSync(`${image}.state.json`)
  fs.symlinkSync(victim, `${image}.state.json`)
  t.equal((await pstoreSim(['console', image, 'hello'])).code, 0, 'console')
  t.equal(fs.readFileSync(victim, 'utf8'), 'secret', 'the state symlink was not followed')
  for (const f of [image, `${image}.json`, `${image}.state.json`]) {
    const st = fs.lstatSync(f)
    t.ok(st.isFile(), `${path.basename(f)} is a regular file`)
    t.equal((st.mode & 0o777).toString(8), '600', `${path.basename(f)} is 0600`)
  }
  t.same(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
    'no temporary file left',
  )
})

t.test('the image name cannot inject FUSE options', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  for (const name of ['x,allow_other', 'crash,dump.img', 'back\\slash']) {
    const copy = path.join(dir, name)
    fs.copyFileSync(image, copy)
    fs.copyFileSync(`${image}.json`, `${copy}.json`)
    const mnt = path.join(dir, `m-${name.length}`)
    await mountImage(t, copy, mnt)
    const line =
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .find((l) => l.split(' ')[4] === mnt) ?? ''
    t.ok(line, `${name}: mounted`)
    const fields = line.split(' ')
    const [source, superOptions] = fields.slice(fields.indexOf('-') + 2)
    t.equal(source, `pstore-sim:${name.replace(/\\/g, '\\134')}`, `${name}: the whole name is the source`)
    t.notMatch(`${fields[5]},${superOptions}`, /allow_other/, `${name}: no allow_other (${superOptions})`)
    t.equal((await pstoreSim(['umount', mnt])).code, 0)
  }
})

t.test('kill -9: nothing blocks for ever, umount of the dead mount leaves nothing', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const runDir = path.join(dir, 'run')
  const env = { PSTORE_SIM_RUN_DIR: runDir }
  const mnt = path.join(dir, 'mnt')
  t.equal((await cli(['mount', image, mnt], env)).code, 0, 'mount')
  t.equal((await cli(['umount', mnt], env)).code, 0, 'umount')
  t.same(fs.readdirSync(runDir), [], 'a clean mount + umount leaves nothing in the run directory')
  t.equal((await cli(['mount', image, mnt], env)).code, 0, 'mount again')
  const record = JSON.parse(fs.readFileSync(path.join(runDir, fs.readdirSync(runDir).find((f) => f.endsWith('.json'))!), 'utf8'))
  process.kill(record.pid, 'SIGKILL')
  t.ok(await exited(record.pid), 'killed')
  const dead = await cli(['console', mnt, 'x'], env)
  t.match(dead.stderr, /its daemon \(pid \d+\) is gone; run pstore-sim umount/, `a command on the dead mount says so: ${dead.stderr.trim()}`)
  // A writer opening the stale FIFO blocks (no reader), until umount lets it through.
  const writer = spawn('sh', ['-c', `echo late > ${mnt}.pmsg0`], { stdio: 'ignore' })
  const writerEnd = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    writer.on('exit', (code, signal) => resolve({ code, signal })),
  )
  // the kernel's wait in open() of a FIFO without a reader (fs/pipe.c)
  await waitFor(() => fs.readFileSync(`/proc/${writer.pid}/wchan`, 'utf8') === 'wait_for_partner' || writer.exitCode !== null)
  t.equal(writer.exitCode, null, 'the writer waits in open()')
  t.equal((await cli(['umount', mnt], env)).code, 0, 'umount of the dead mount')
  // A writer never let go shows as this test running into its time limit. Let go, it either wrote
  // to the reader that opened the FIFO (exit 0) or met the pipe closed under it (SIGPIPE).
  const end = await writerEnd
  t.ok(end.code === 0 || end.signal === 'SIGPIPE', `the blocked writer is let go (${JSON.stringify(end)})`)
  t.notOk(fs.existsSync(`${mnt}.pmsg0`), 'no FIFO left')
  t.same(fs.readdirSync(runDir), [], 'no record, socket or log left')
  t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'not mounted')
})
