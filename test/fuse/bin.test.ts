/**
 * bin/pstore-sim, package.json's bin: a plain `mount IMAGE DIR` starts the daemon itself (one
 * Node start, daemon/plainMount.ts), every other call runs the CLI. What a user sees must be
 * what the CLI (dist/src/cli/main.js) gives for the same words: output, messages, exit codes,
 * and a daemon that keeps nothing of its caller's open.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { logPath, readMountRecord } from '../../src/daemon/registry.js'
import { cliBin, cliJs, demoImage, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

const viaCli = (args: string[]) => run(process.execPath, [cliJs, ...args])

/** What a process has open on fds 0–3 (readlink of /proc/PID/fd/N; '' when closed). */
function openFds(pid: number): string[] {
  return [0, 1, 2, 3].map((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      return ''
    }
  })
}

t.test('mount IMAGE DIR: the CLI’s output, a usable mount, and a daemon holding nothing of the caller’s', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  // through sh's $(…): it returns only when every holder of its pipe has closed it
  const r = await run('sh', ['-c', 'out=$("$0" mount "$1" "$2") || exit; printf "%s\\n" "$out"', cliBin, image, mnt])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.toString(), `mounted ${image} at ${mnt}\npmsg FIFO: ${mnt}.pmsg0\n`, 'the words the CLI prints')
  t.equal(r.stderr, '', 'nothing on stderr')
  const record = readMountRecord(mnt)
  t.ok(record, 'the mount is recorded')
  t.teardown(() => pstoreSim(['umount', mnt]))
  t.same(await ls(mnt), ['console-ramoops-0'], 'usable when the command returned')
  const fds = openFds(record!.pid)
  const log = logPath(mnt)
  t.same(fds, ['/dev/null', log, log, ''], 'stdin /dev/null, stdout and stderr its log, the report pipe closed')
  t.equal(fs.readFileSync(`/proc/${record!.pid}/stat`, 'utf8').split(' ')[5], String(record!.pid), 'a session of its own (setsid)')
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, u.stderr)
  t.notOk(fs.existsSync(log), 'umount leaves no log behind (the daemon logged nothing)')
})

t.test('a refused plain mount: the CLI’s line and exit code, nothing left behind', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const cases: [string, string[]][] = [
    ['no such image', ['mount', path.join(dir, 'nosuch.img'), path.join(dir, 'm1')]],
    ['the mountpoint is a file', ['mount', image, image]],
  ]
  for (const [what, args] of cases) {
    const bin = await run(cliBin, args)
    const cli = await viaCli(args)
    t.not(bin.code, 0, `${what}: refused (${bin.stderr.trim()})`)
    t.same(
      { code: bin.code, stdout: bin.stdout.toString(), stderr: bin.stderr },
      { code: cli.code, stdout: cli.stdout.toString(), stderr: cli.stderr },
      `${what}: as the CLI`,
    )
    t.equal(bin.stderr.trim().split('\n').length, 1, `${what}: one line`)
    t.notOk(fs.existsSync(logPath(args[2]!)), `${what}: no log left`)
  }
  // refused before the daemon has a log: a run directory others may use (exit 2, environment)
  const shared = path.join(dir, 'shared-run')
  fs.mkdirSync(shared)
  fs.chmodSync(shared, 0o755)
  const env = { ...process.env, PSTORE_SIM_RUN_DIR: shared }
  const sharedArgs = ['mount', image, dir]
  const sharedBin = await run(cliBin, sharedArgs, { env })
  const sharedCli = await run(process.execPath, [cliJs, ...sharedArgs], { env })
  t.same({ code: sharedBin.code, stderr: sharedBin.stderr }, { code: 2, stderr: sharedCli.stderr }, 'a shared run directory: as the CLI')
  t.match(sharedBin.stderr, /^pstore-sim: .*shared-run: the run directory has mode 0755.*\n$/, 'one line naming it')
  t.same(fs.readdirSync(shared), [], 'nothing written there')
  // the image already served: the holder named, exit code as the CLI's
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const again = ['mount', image, path.join(dir, 'mnt2')]
  const bin = await run(cliBin, again)
  const cli = await viaCli(again)
  t.same({ code: bin.code, stderr: bin.stderr }, { code: cli.code, stderr: cli.stderr }, 'image in use: as the CLI')
  t.match(bin.stderr, /in use/)
})

t.test('a daemon that dies before its report: one line, exit 1, what it said, nothing left behind', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  const dies = async (name: string, script: string) => {
    const file = path.join(dir, `${name}.cjs`)
    fs.writeFileSync(file, script)
    return run(cliBin, ['mount', image, mnt], { env: { ...process.env, NODE_OPTIONS: `--require ${file}` } })
  }
  // as it starts, before its log: its stderr is the report pipe
  const early = await dies('early', "process.stderr.write('dying early\\n'); process.exit(7)\n")
  t.same(
    { code: early.code, stderr: early.stderr },
    { code: 1, stderr: 'pstore-sim: the daemon exited before the mount was usable: dying early\n' },
    'as it starts',
  )
  // once its log has taken over stderr (right after its `log` line): the log is shown, then removed
  const late = await dies(
    'late',
    `const fs = require('node:fs'); const write = fs.writeSync
fs.writeSync = function (fd, text, ...rest) {
  const n = write.call(fs, fd, text, ...rest)
  if (fd === 3 && String(text).startsWith('log ')) { process.stderr.write('dying late\\n'); process.exit(7) }
  return n
}
`,
  )
  t.same({ code: late.code, stderr: late.stderr }, { code: 1, stderr: 'pstore-sim: the daemon exited with code 7: dying late\n' }, 'with its log')
  t.notOk(fs.existsSync(logPath(mnt)), 'no log left')
  t.notOk(readMountRecord(mnt), 'no mount recorded')
})

t.test('every other call is the CLI’s, arguments untouched', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  for (const args of [['--version'], ['inspect', image], ['mount', image], ['mount', '-x', 'a', 'b'], ['mount', '', 'b'], ['console', image, 'a b  c\\n']]) {
    const bin = await run(cliBin, args)
    const cli = await viaCli(args)
    t.same(
      { code: bin.code, stdout: bin.stdout.toString(), stderr: bin.stderr },
      { code: cli.code, stdout: cli.stdout.toString(), stderr: cli.stderr },
      args.join(' '),
    )
  }
  // a symlink to the bin (npm's node_modules/.bin) finds the package
  const link = path.join(dir, 'pstore-sim')
  fs.symlinkSync(cliBin, link)
  const v = await run(link, ['--version'])
  t.equal(v.code, 0, v.stderr)
})
