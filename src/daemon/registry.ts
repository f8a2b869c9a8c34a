/**
 * Where running daemons are found: one small JSON file and one control socket per mountpoint in
 * a run directory (`/run/pstore-sim` for root, else `$XDG_RUNTIME_DIR/pstore-sim` or
 * `/tmp/pstore-sim-<uid>`), keyed by the mountpoint's absolute path.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { EnvironmentError } from '../util/errors.js'
import { writeFileAtomic } from '../util/files.js'
import { sha256Hex } from '../util/sha256.js'

export interface MountRecord {
  pid: number
  image: string
  mountpoint: string
  socket: string
  fifo?: string
  /** An efi mount's efivarfs view (efivarsFuse.ts), bound by exec on /sys/firmware/efi/efivars. */
  efivars?: string
  readOnly: boolean
  startedAt: string
}

function runDirPath(): string {
  if (process.env.PSTORE_SIM_RUN_DIR) return path.resolve(process.env.PSTORE_SIM_RUN_DIR)
  const uid = process.getuid?.() ?? 0
  if (uid === 0) return '/run/pstore-sim'
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'pstore-sim')
  return path.join(os.tmpdir(), `pstore-sim-${uid}`)
}

let checkedRunDir: string | undefined

/**
 * The run directory, created 0700 if missing. Its records name sockets the CLI talks to and
 * files daemons write, so it must be the user's own: a directory (not a symlink) owned by this
 * uid that nobody else can write or list. Anything else (another user pre-creating
 * /tmp/pstore-sim-<uid>) is refused.
 */
export function runDir(): string {
  const dir = runDirPath()
  if (checkedRunDir === dir) return dir
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    else if (code !== 'EEXIST') throw new EnvironmentError(`${dir}: cannot create the run directory: ${(err as Error).message}`)
  }
  const stat = fs.lstatSync(dir)
  const uid = process.getuid?.() ?? 0
  const fix = `remove it (rm -rf ${dir}) or set PSTORE_SIM_RUN_DIR to a directory of your own with mode 0700`
  if (!stat.isDirectory()) throw new EnvironmentError(`${dir}: the run directory is ${stat.isSymbolicLink() ? 'a symlink' : 'not a directory'}: ${fix}`)
  if (stat.uid !== uid) throw new EnvironmentError(`${dir}: the run directory belongs to uid ${stat.uid}, not to you (uid ${uid}): ${fix}`)
  if ((stat.mode & 0o077) !== 0) {
    throw new EnvironmentError(`${dir}: the run directory has mode 0${(stat.mode & 0o777).toString(8)}, others may use it: chmod 700 ${dir}, or ${fix}`)
  }
  checkedRunDir = dir
  return dir
}

export function mountKey(mountpoint: string): string {
  return sha256Hex(path.resolve(mountpoint)).slice(0, 16)
}

export function recordPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.json`)
}

export function socketPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.sock`)
}

/** The daemon's log (stdout and stderr), kept while it runs and after a failure. */
export function logPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.log`)
}

export function writeMountRecord(record: MountRecord): void {
  writeFileAtomic(recordPath(record.mountpoint), JSON.stringify(record, null, 2) + '\n')
}

export function readMountRecord(mountpoint: string): MountRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(recordPath(mountpoint), 'utf8')) as MountRecord
  } catch {
    return undefined
  }
}

export function removeMountRecord(mountpoint: string, options: { log?: boolean } = {}): void {
  const files = [recordPath(mountpoint), socketPath(mountpoint)]
  if (options.log) files.push(logPath(mountpoint))
  for (const file of files) fs.rmSync(file, { force: true })
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  return !isZombie(pid)
}

/**
 * A process that has exited but not been reaped: kill(pid, 0) still succeeds. A daemon's parent
 * (the `mount` CLI) is gone, so its reaper is whatever adopted it, and some (a container's init)
 * reap only every second or so: for us it has flushed and exited.
 */
function isZombie(pid: number): boolean {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return false
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state === 'Z' || state === 'X'
}

/**
 * The record of the daemon serving `mountpoint`, if it still runs. A killed daemon's record
 * stays until `umount` (or the next mount there) cleans up after it: it names its FIFO.
 */
export function liveDaemon(mountpoint: string): MountRecord | undefined {
  const record = readMountRecord(mountpoint)
  return record && processAlive(record.pid) ? record : undefined
}

/** All records whose daemon still runs. */
export function liveMounts(): MountRecord[] {
  let names: string[]
  try {
    names = fs.readdirSync(runDir()).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  const live: MountRecord[] = []
  for (const name of names) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(runDir(), name), 'utf8')) as MountRecord
      if (processAlive(record.pid)) live.push(record)
    } catch {
      /* half-written or foreign file: ignore */
    }
  }
  return live
}

/** The live daemon serving `target`, given as its mountpoint or as its image (through any symlink). */
export function findDaemon(target: string): MountRecord | undefined {
  const abs = path.resolve(target)
  let real = abs
  try {
    real = fs.realpathSync(abs)
  } catch {
    /* not there: compare the name */
  }
  return liveMounts().find((m) => m.mountpoint === abs || m.image === abs || m.image === real)
}

/** The live daemon with this pid (a lock holder), if it is a pstore-sim daemon of this user. */
export function daemonByPid(pid: number | undefined): MountRecord | undefined {
  return pid === undefined ? undefined : liveMounts().find((m) => m.pid === pid)
}

/** The filesystem type mounted at a path (`fuse.pstore` for ours), from /proc/self/mountinfo. */
export function mountType(mountpoint: string): string | undefined {
  const abs = path.resolve(mountpoint)
  const escaped = abs.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'))
  let info = ''
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return undefined
  }
  let type: string | undefined
  for (const line of info.split('\n')) {
    const fields = line.split(' ')
    if (fields[4] === escaped) type = fields[fields.indexOf('-') + 1] // the last one is on top
  }
  return type
}

/** Whether a path is currently a mountpoint (from /proc/self/mountinfo). */
export function isMounted(mountpoint: string): boolean {
  const abs = path.resolve(mountpoint)
  let info: string
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return false
  }
  const escaped = abs.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'))
  return info.split('\n').some((line) => line.split(' ')[4] === escaped)
}
