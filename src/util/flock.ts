/**
 * flock(2) through the native layer (native/sys.c; Node has none): a lock on an
 * open file that the kernel drops when the holder's process dies, kill -9 included. Who holds
 * a lock is read from /proc/locks.
 */
import fs from 'node:fs'
import { type LockMode, loadFuse } from './fuseNative.js'

export type { LockMode }

/** Takes the lock without waiting: true when taken, false when another open file holds it. */
export function tryLock(fd: number, mode: LockMode): boolean {
  return loadFuse().flock(fd, mode)
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
    if (fields[1] === 'FLOCK' && fields[5] === id) return Number(fields[4])
  }
  return undefined
}
