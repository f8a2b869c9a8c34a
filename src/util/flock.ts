/**
 * flock(2) through the native layer (native/sys.c; Node has none): a lock on an
 * open file that the kernel drops when the holder's process dies, kill -9 included. Who holds
 * a lock is read from /proc/locks. Where the native layer is not built (`npm ci` alone: the
 * events and the unit tests need no FUSE), util-linux's flock(1) takes the same lock.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { EnvironmentError } from './errors.js'
import { type FuseNative, type LockMode, loadFuse } from './fuseNative.js'

export type { LockMode }

/** Takes the lock without waiting: true when taken, false when another open file holds it. */
export function tryLock(fd: number, mode: LockMode): boolean {
  const native = nativeLayer()
  return native ? native.flock(fd, mode) : flockCommand(fd, mode)
}

function nativeLayer(): FuseNative | undefined {
  try {
    return loadFuse()
  } catch (err) {
    if (err instanceof EnvironmentError) return undefined
    throw err
  }
}

/**
 * flock(1) given our open file as its fd 3: a flock belongs to the open file (not the process),
 * so the lock it takes stays ours when it exits, and goes when we close the file or die.
 */
function flockCommand(fd: number, mode: LockMode): boolean {
  const r = spawnSync('flock', ['--nonblock', mode === 'shared' ? '--shared' : '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] })
  if (r.status === 0) return true
  if (r.status === 1) return false // --nonblock: another open file holds it
  const why = r.error ? r.error.message : r.stderr.toString().trim() || `exit ${r.status ?? r.signal}`
  throw new EnvironmentError(`cannot lock the image: the native addons are not built (npm run setup) and flock(1) failed (${why})`)
}

/** The pid holding a flock on the file open as `fd` (as /proc/locks tells it), if any. */
export function lockHolder(fd: number): number | undefined {
  const stat = fs.fstatSync(fd, { bigint: true })
  const dev = stat.dev
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn))
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn))
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${stat.ino}`
  let text: string
  try {
    text = fs.readFileSync('/proc/locks', 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters are "1: -> FLOCK …"
    if (fields[1] === 'FLOCK' && fields[5] === id) return alive(Number(fields[4]))
  }
  return undefined
}

/** The pid while it runs: a lock flock(1) took names flock(1), gone since, not its holder. */
function alive(pid: number): number | undefined {
  try {
    process.kill(pid, 0)
    return pid
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined
  }
}
