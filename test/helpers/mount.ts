/**
 * Hermetic mounts for tests, in the spirit of libfuse's test suite: every test gets its own
 * temporary directory, every mount is torn down whatever happens, and clients (`ls`, `cat`,
 * `rm`, `stat`, …) always run as separate processes, asynchronously.
 */

import { execFile, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { type MountRecord, mountKey, processAlive } from '../../src/daemon/registry.js'
import { type FileAttributes, type FixtureCase, fixtureCase, fixtureFlags, repoRoot } from './fixtures.js'

/** The record a daemon wrote in `runDirectory` for `mountpoint`, if any. */
function readMountRecordIn(runDirectory: string, mountpoint: string): MountRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDirectory, `${mountKey(mountpoint)}.json`), 'utf8')) as MountRecord
  } catch {
    return undefined
  }
}

export const cliJs = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js')
/** package.json's bin: a plain `mount IMAGE DIR` starts the daemon itself, the rest runs cliJs. */
export const cliBin = path.join(repoRoot, 'bin', 'pstore-sim')

// A run directory of its own for every test process (tap runs each file in one): files running
// in parallel never see each other's daemons, and what a daemon leaves there is this file's.
const ownRunDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-run-'))
process.env.PSTORE_SIM_RUN_DIR = ownRunDir
process.on('exit', () => fs.rmSync(ownRunDir, { recursive: true, force: true }))

/**
 * tap instruments every Node process a test starts: @tapjs/processinfo puts its `--import` loader
 * into NODE_OPTIONS and puts it back on each spawn, whatever env is given. Here that costs ~0.5 s of
 * CPU per process (a pstore-sim call took 0.72 s instead of 0.21 s), more than the call itself.
 * Suites that start hundreds of pstore-sim processes to test behaviour rather than code paths (the
 * kernel loop, reliability, soak, faults, the unit tier's CLI checks, …) call this once: from then on
 * the programs this module starts that start the products (productStarters) run through env(1) with
 * the test's NODE_OPTIONS minus tap's loader and without NODE_V8_COVERAGE, as a user runs them, and
 * count for no coverage; the other suites' runs still do when tap collects coverage
 * (`npm run test:coverage`). Without coverage (`npm test`, the tiers' scripts: tap
 * --disable-coverage) the hook would record nothing anyone reads, so every suite runs them so.
 */
export function runProductsUninstrumented(): void {
  uninstrumented = true
}
// tap's runner tells each test process whether it collects coverage (its processinfo reads this)
let uninstrumented = process.env._TAPJS_PROCESSINFO_COVERAGE_ === '0'

/**
 * What starts the products: pstore-sim's bin, node, and what runs them as a user would: a shell
 * line, npm (pack), mount(8) and umount(8) (the mount helper), unshare(1) around a shell line.
 */
const productStarters = new Set([cliBin, process.execPath, 'bash', 'sh', 'npm', 'mount', 'umount', 'unshare'])

/**
 * `[cmd, args]` as this module starts them with `env` (see runProductsUninstrumented), also
 * without NODE_EXTRA_CA_CERTS (a machine may set it for a TLS proxy): Node reads and parses that
 * bundle at every start, `node -e 0` took 100–130 ms of CPU with Debian's bundle and 57 ms
 * without, and the unit tier alone starts ~240 product processes (issue 28). The products make no
 * TLS connection; npm keeps it (it may reach a registry). Only this variable goes: the rest of
 * the test's env (TMPDIR, …) still reaches the product and what it runs under `exec`, and the
 * product itself passes on all its caller gives it (a user's collector keeps the user's).
 */
export function productCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): [string, string[]] {
  if (!uninstrumented || !productStarters.has(cmd)) return [cmd, args]
  // spawn puts the loader back into any env it is given: env(1) sets the caller's options after it
  const own = (env.NODE_OPTIONS ?? '')
    .split(/\s+/)
    .filter((option) => option && !option.includes('@tapjs/processinfo'))
    .join(' ')
  // without NODE_V8_COVERAGE too: such a process counts for nothing, and a daemon ends as it
  // does for users (its fast exit is for runs without coverage: daemon.ts exitAfterStop)
  const unset = ['-u', 'NODE_V8_COVERAGE', ...(cmd === 'npm' ? [] : ['-u', 'NODE_EXTRA_CA_CERTS'])]
  return ['env', [...unset, ...(own ? [`NODE_OPTIONS=${own}`] : ['-u', 'NODE_OPTIONS']), cmd, ...args]]
}

export interface RunResult {
  code: number
  stdout: Buffer
  stderr: string
}

/**
 * Runs a program as its own process; never throws for a non-zero exit. No time limit of its own
 * unless `timeoutMs` is given: a busy machine may make any step slow, and the test's own limit
 * (tap's timeout) is the one that ends a process that never finishes.
 */
export function run(
  cmd: string,
  args: string[],
  options: { input?: Buffer | string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  const env = options.env ?? process.env
  const [file, argv] = productCommand(cmd, args, env)
  return new Promise((resolve) => {
    const child = execFile(
      file,
      argv,
      { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024, cwd: options.cwd, env, timeout: options.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as NodeJS.ErrnoException).code === 'number'
            ? ((err as NodeJS.ErrnoException).code as unknown as number)
            : ((err as { status?: number }).status ?? 1)
          : 0
        resolve({ code: err && code === 0 ? 1 : code, stdout, stderr: stderr.toString() })
      },
    )
    child.stdin?.on('error', () => undefined) // a client that never reads its stdin
    child.stdin?.end(options.input ?? '')
  })
}

/** `pstore-sim ARGS` as a user runs it: package.json's bin (bin/pstore-sim). */
export function pstoreSim(args: string[], input?: Buffer | string): Promise<RunResult> {
  return run(cliBin, args, { input })
}

/**
 * Waits until `condition` holds, checking every `intervalMs`. It has no deadline of its own: how
 * long a state takes to come depends on how busy the machine is, and the test's own limit (tap's
 * timeout) ends a wait for a state that never comes.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, intervalMs = 50): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, intervalMs))
}

/** Waits until process `pid` has exited (see waitFor). */
export function waitGone(pid: number): Promise<void> {
  return waitFor(() => !processAlive(pid))
}

export function sha256(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex')
}

/** A fresh directory removed after the test (after its mounts are gone). */
export function tempDir(t: Test, prefix = 'pstore-sim-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => {
    // a mount left behind would make rm fail: lazy-unmount anything below first
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mnt = line.split(' ')[4]
      if (mnt?.startsWith(dir + '/')) spawnSync('fusermount3', ['-uz', mnt])
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** The demo's layout (`npm start`): 1 MiB, 32 KiB records and console, 4 KiB pmsg, 8 KiB ftrace. */
export const DEMO = ['--mem-size', '1M', '--record-size', '32K', '--console-size', '32K', '--pmsg-size', '4K', '--ftrace-size', '8K']

/** `pstore-sim format DIR/demo.img` with the demo's layout. */
export async function demoImage(t: Test, dir: string): Promise<string> {
  const image = path.join(dir, 'demo.img')
  const r = await pstoreSim(['format', image, ...DEMO])
  t.equal(r.code, 0, `format: ${r.stderr}`)
  return image
}

/**
 * Mounts with the CLI (in the background) and guarantees `umount` at teardown; `env` is added to
 * the CLI's (and so the daemon's) environment. Teardown fails the test when the daemon does not
 * go away cleanly, as libfuse's test harness does: `umount` must succeed (unless the test
 * unmounted already), the daemon must exit, and its log must be empty (without DEBUG a daemon
 * writes there only what went wrong: an erase or pmsg write that failed, a crash).
 */
export async function mountImage(t: Test, image: string, mountpoint: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const daemonEnv = { ...process.env, ...env }
  const result = await run(cliBin, ['mount', image, mountpoint, ...extra], { env: daemonEnv })
  const runDirectory = daemonEnv.PSTORE_SIM_RUN_DIR ?? ownRunDir
  const record = readMountRecordIn(runDirectory, mountpoint)
  t.teardown(async () => {
    const u = await run(cliBin, ['umount', mountpoint], { env: daemonEnv })
    if (u.code !== 0) {
      spawnSync('fusermount3', ['-uz', mountpoint])
      if (!/not mounted/.test(u.stderr)) throw new Error(`teardown: umount ${mountpoint} failed: ${u.stderr}`)
    }
    if (!record) return
    // a daemon that never exits shows as this teardown running into the test's time limit
    await waitFor(() => !processAlive(record.pid))
    const log = path.join(runDirectory, `${mountKey(mountpoint)}.log`)
    const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim() : ''
    if (text && !daemonEnv.DEBUG) throw new Error(`teardown: the daemon of ${mountpoint} logged: ${text}`)
  })
  if (result.code !== 0) t.fail(`mount failed: ${result.stderr}`)
  return result
}

/** A kernel 6.1 region, b-reboot's, copied into `dir` and mounted as that kernel names its files. */
export interface FixtureMount {
  fixture: FixtureCase
  image: string
  mnt: string
  /** Mounts the image again (after an umount), with the same flags. */
  remount(): Promise<RunResult>
}

/** b-reboot (a panic's dmesg record, kernel 6.1) as exec and rm tests start from it. */
export async function mountBReboot(t: Test, dir: string): Promise<FixtureMount> {
  const fixture = fixtureCase('kernel-6.1', 'b-reboot')
  const image = path.join(dir, 'dump.bin')
  fs.copyFileSync(fixture.file('region-before.bin'), image)
  const mnt = path.join(dir, 'mnt')
  const remount = () => mountImage(t, image, mnt, ['--exact-names', ...fixtureFlags('kernel-6.1', 'b-reboot')])
  await remount()
  return { fixture, image, mnt, remount }
}

/** Like libfuse's _assert_errno: the client failed, and with the kernel's message for that errno. */
export function assertErrno(t: Test, result: RunResult, message: string, what: string): void {
  t.ok(result.code !== 0, `${what}: fails`)
  t.match(result.stderr, message, `${what}: "${message}"`)
}

export interface StatLine extends FileAttributes {
  mtimeNsec: number
  type: string
}

/** `stat` of every file, from a separate process, as the kernel's listing records them. */
export async function statFiles(dir: string, names: string[]): Promise<StatLine[]> {
  if (names.length === 0) return []
  const r = await run('stat', ['-c', '%n|%s|%a|%u|%g|%Y|%y|%F', ...names.map((n) => path.join(dir, n))])
  if (r.code !== 0) throw new Error(`stat failed: ${r.stderr}`)
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((line) => {
      const [name, size, mode, uid, gid, mtime, full, type] = line.split('|')
      const nsec = Number(/\.(\d{9})/.exec(full)?.[1] ?? 0)
      return {
        name: path.basename(name),
        size: Number(size),
        mode: mode.padStart(4, '0'),
        uid: Number(uid),
        gid: Number(gid),
        mtime: Number(mtime),
        mtimeNsec: nsec,
        type,
      }
    })
}

export async function ls(dir: string): Promise<string[]> {
  const r = await run('ls', ['-A', dir])
  if (r.code !== 0) throw new Error(`ls failed: ${r.stderr}`)
  return r.stdout.toString().split('\n').filter(Boolean).sort()
}

export async function cat(file: string): Promise<RunResult> {
  return run('cat', [file])
}
