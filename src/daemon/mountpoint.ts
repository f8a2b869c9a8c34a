/**
 * What a mount needs before the daemon serves it, and the one way a mount is detached: the
 * machine's FUSE (device, fusermount3), option values escaped for libfuse, the mountpoint
 * checked (created, a dead mount recovered, refused when busy) and what libfuse said when a
 * mount failed.
 */

import fs from 'node:fs'
import path from 'node:path'
import { EnvironmentError, type ErrorFacts, PstoreSimError } from '../util/errors.js'
import { childProcess } from '../util/lazyBuiltins.js'
import { logger } from '../util/log.js'
import { isMounted, liveDaemon, logPath, mountType } from './registry.js'

const debug = logger('daemon')

/** A mountpoint that cannot take the mount (facts, where the CLI has its own words for it). */
export class MountError extends PstoreSimError {
  override name = 'MountError'
  declare readonly facts?: ErrorFacts<'mounted'>
}

/** What a mount needs from the machine; each miss is an environment problem (exit 2). */
export function checkEnvironment(): void {
  if (!fs.existsSync('/dev/fuse')) {
    throw new EnvironmentError('no /dev/fuse on this machine: run "npm run setup" (as root it creates the device), or "modprobe fuse"')
  }
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK)
  } catch {
    throw new EnvironmentError("/dev/fuse: no permission to open it: as root, chmod 0666 /dev/fuse (Debian's default), or give this user access to it")
  }
  // libfuse 3 mounts for root with mount(2) itself; an ordinary user's mount goes through
  // fusermount3, the set-uid helper of FUSE 3 (a machine with only FUSE 2's fusermount has none).
  if (process.getuid?.() === 0) return
  const inPath = (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, 'fusermount3')))
  if (!inPath)
    throw new EnvironmentError(
      "no fusermount3 in PATH: an ordinary user's mount needs FUSE 3's fusermount3 (Debian/Ubuntu: apt-get install fuse3, where the legacy fuse package is not kept; Fedora: dnf install fuse3; Arch: pacman -S fuse3); root mounts without it",
    )
}

/**
 * A value inside libfuse's -o string (fuse_opt, the same in libfuse 3): options are separated by commas and a backslash escapes
 * the next character, so an image named `x,allow_other` cannot add an option.
 */
export function escapeFuseOption(value: string): string {
  if ([...value].some((ch) => ch < ' ' || ch === '\x7f'))
    throw new MountError(`${JSON.stringify(value)}: a control character cannot be passed to FUSE; rename it`)
  return value.replace(/[\\,]/g, (c) => '\\' + c)
}

/** The lines libfuse and fusermount3 printed to this daemon's log (its stderr) while mounting. */
export function fuseDiagnostics(mountpoint: string): string {
  try {
    const lines = fs.readFileSync(logPath(mountpoint), 'utf8').split('\n')
    return lines
      .filter((l) => /^(fuse|fusermount)[:\d]/.test(l))
      .slice(-3)
      .join('; ')
  } catch {
    return ''
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => childProcess().execFile(cmd, args, (err) => (err ? reject(err) : resolve())))
}

/**
 * Detaches the mount at `mountpoint` lazily (busy descriptors keep working until closed): FUSE
 * 3's `fusermount3 -uz`, which any user may run on their own mount, else root's `umount -l`.
 */
export async function detachMount(mountpoint: string): Promise<void> {
  try {
    await run('fusermount3', ['-uz', mountpoint])
  } catch (helperFailure) {
    await run('umount', ['-l', mountpoint]).catch(() => {
      const why = (helperFailure as NodeJS.ErrnoException).code === 'ENOENT' ? "no fusermount3 (FUSE 3's helper) in PATH" : 'it failed'
      throw new EnvironmentError(`fusermount3 -uz ${mountpoint}: ${why}; as root: umount -l ${mountpoint}`)
    })
  }
}

/** Checks the mountpoint: creates a missing one, recovers a dead mount, refuses a non-empty one. */
export async function prepareMountpoint(mountpoint: string): Promise<void> {
  try {
    fs.statSync(mountpoint)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      debug('recovering dead mount at %s', mountpoint)
      await detachMount(mountpoint).catch(() => undefined)
    } else if (code === 'ENOENT') {
      fs.mkdirSync(mountpoint, { recursive: true })
      return
    } else {
      throw new MountError(`${mountpoint}: cannot use as a mountpoint: ${(err as Error).message}`)
    }
  }
  // A pstore-sim mount whose daemon was killed: the kernel may still answer stat from its
  // attribute cache, so the dead mount is recognised by its missing daemon.
  if (mountType(mountpoint) === 'fuse.pstore' && !liveDaemon(mountpoint)) {
    debug('recovering the mount of a killed daemon at %s', mountpoint)
    await detachMount(mountpoint).catch(() => undefined)
  }
  if (isMounted(mountpoint))
    throw new MountError(`${mountpoint}: something is already mounted there (unmount it first)`, {
      problem: 'mounted',
      subject: mountpoint,
      param: 'mountpoint',
    })
  const stat = fs.statSync(mountpoint)
  if (!stat.isDirectory()) throw new MountError(`${mountpoint}: not a directory`)
  if (fs.readdirSync(mountpoint).length > 0) throw new MountError(`${mountpoint}: directory is not empty; mount on an empty or missing directory`)
}
