/**
 * flock(2) through the patched fuse-native addon (patch level 4; Node has none): a lock on an
 * open file that the kernel drops when the holder's process dies, kill -9 included. Who holds
 * a lock is read from /proc/locks.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnvironmentError } from './errors.js'

/** The installed package (dist/src/util/ → its root), where the setup must run. */
const packageRoot = (): string => path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')

const require = createRequire(import.meta.url)

export type LockMode = 'exclusive' | 'shared'

interface LockTools {
  flock(fd: number, mode: LockMode | 'unlock'): boolean
}

let tools: LockTools | undefined

/** The addon's flock, or an error whose code is ENOSYS when it is not built at level 4. */
function lockTools(): LockTools {
  if (tools) return tools
  let fuse: { LOCKS?: boolean } & LockTools
  try {
    fuse = require('fuse-native')
  } catch (err) {
    throw Object.assign(new Error(`the fuse-native addon does not load (${(err as Error).message.split('\n')[0]})`), { code: 'ENOSYS' })
  }
  if (!fuse.LOCKS) {
    // The prebuilt addon an `npm ci` without the setup leaves: a problem of the installation.
    throw new EnvironmentError(
      `the fuse-native addon is not pstore-sim's patched build (patch level ${Number((fuse as { NATIVE_PATCH_LEVEL?: number }).NATIVE_PATCH_LEVEL ?? 0)}, need 4; a prebuilt addon has no flock): run "npm run setup" in ${packageRoot()} to build it`,
    )
  }
  tools = fuse
  return tools
}

/** Takes the lock without waiting: true when taken, false when another open file holds it. */
export function tryLock(fd: number, mode: LockMode): boolean {
  return lockTools().flock(fd, mode)
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
