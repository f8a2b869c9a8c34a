/**
 * The patched fuse-native addon, typed as pstore-sim uses it, loaded and checked once. Every
 * user (the image lock in flock.ts, the daemon's mount, its native file table, the pmsg FIFO)
 * goes through loadFuse(): a prebuilt (unpatched) addon loads and mounts, but has no flock,
 * rounds every time to ms and cannot invalidate or answer natively, so it is refused here,
 * rather than serving a pstore that differs from the kernel's. The API is in
 * patches/fuse-native+2.2.6.patch and native-setup/README.md.
 */
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnvironmentError } from './errors.js'

/** The patch level pstore-sim relies on (native-setup/README.md: ns times, invalidate, native files). */
export const REQUIRED_PATCH_LEVEL = 6 // files without content until first open (level 6); files.retire (5); Fuse.flock, Fuse.pipeBytes (4)

/** A time as the patched addon takes and gives it (level 1: nanoseconds, not ms). */
export interface FuseTime {
  sec: number
  nsec: number
}

export interface FuseStat {
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  blksize: number
  blocks?: number
  atime: FuseTime
  mtime: FuseTime
  ctime: FuseTime
}

export interface FuseStatfs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  fsid: number
  flag: number
  namemax: number
}

/** A handler's answer: 0 or a negative errno, then the result (read and write: bytes or errno). */
export type Reply<T = never> = (code: number, result?: T) => void

/** The FUSE operations pstore-sim implements, with fuse-native's arguments. */
export interface FuseOperations {
  init?(cb: Reply): void
  getattr?(path: string, cb: Reply<FuseStat>): void
  fgetattr?(path: string, fd: number, cb: Reply<FuseStat>): void
  readdir?(path: string, cb: Reply<string[]>): void
  open?(path: string, flags: number, cb: Reply<number>): void
  read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Reply): void
  write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Reply): void
  truncate?(path: string, size: number, cb: Reply): void
  ftruncate?(path: string, fd: number, size: number, cb: Reply): void
  unlink?(path: string, cb: Reply): void
  chmod?(path: string, mode: number, cb: Reply): void
  chown?(path: string, uid: number, gid: number, cb: Reply): void
  utimens?(path: string, atime: FuseTime | null, mtime: FuseTime | null, cb: Reply): void
  statfs?(path: string, cb: Reply<FuseStatfs>): void
  create?(path: string, mode: number, cb: Reply<number>): void
  mknod?(path: string, mode: number, dev: number, cb: Reply): void
  mkdir?(path: string, mode: number, cb: Reply): void
  rmdir?(path: string, cb: Reply): void
  rename?(src: string, dest: string, cb: Reply): void
  link?(src: string, dest: string, cb: Reply): void
  symlink?(src: string, dest: string, cb: Reply): void
  setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Reply): void
}

export interface FuseMountOptions {
  fsname?: string
  subtype?: string
  defaultPermissions?: boolean
  allowOther?: boolean
  hardRemove?: boolean
  directIO?: boolean
  attrTimeout?: number
  entryTimeout?: number
  negativeTimeout?: number
  /** Milliseconds a handler may take; false: no limit. */
  timeout?: number | false
}

/** `fuse.files` (level 3): files the addon answers getattr, readdir, open and read for natively. */
export interface NativeFileTable {
  setRoot(stat: FuseStat): void
  /** content null: not made yet; open and read of it reach the handlers until setContent (level 6). */
  set(handle: number, name: string, stat: FuseStat, content: Buffer | null): void
  /** The content of a file set without one; false when the table has no such handle. */
  setContent(handle: number, content: Buffer): boolean
  setStat(handle: number, stat: FuseStat): boolean
  remove(handle: number): boolean
  clear(): void
  /** A reboot: unlisted files freed, listed ones unlisted but readable through open handles (level 5). */
  retire(): void
  batch<T>(fn: () => T): T
}

export interface FuseSession {
  /** The native file table; null on an addon below level 3. */
  readonly files: NativeFileTable | null
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err?: Error | null) => void): void
  /** Level 2: drops what the kernel cached about these names (and the root's attributes). */
  invalidate(names: string[]): Promise<{ invalidated: number; notCached: number }>
}

export type LockMode = 'exclusive' | 'shared'

/** What a ring pump moves into (level 8): a ring of `capacity` bytes at dataAt, its start and size at headerAt. */
export interface RingPumpSpec {
  pipeFd: number
  fileFd: number
  headerAt: number
  dataAt: number
  capacity: number
  start: number
  size: number
  /** Only empty the pipe. */
  discard?: boolean
}

/** Where a stopped pump left the ring; errno: the first write to the file that failed (then it discarded), or 0. */
export interface RingPumpResult {
  moved: number
  start: number
  size: number
  errno: number
}

export interface RingPump {
  /** Joins the pump's thread: the ring is the caller's again. */
  stop(): RingPumpResult
}

/** fuse-native's module: the Fuse class and the patch's static helpers and feature flags. */
export interface FuseNative {
  new (mountpoint: string, ops: FuseOperations, options: FuseMountOptions): FuseSession
  NATIVE_PATCH_LEVEL?: number
  INVALIDATE: boolean
  NATIVE_FILES: boolean
  LOCKS: boolean
  /** mkfifo(3), which Node lacks (level 3). */
  mkfifo(path: string, mode: number): void
  /** fcntl(F_SETPIPE_SZ) (level 3): the size set. */
  setPipeSize(fd: number, size: number): number
  /** ioctl(FIONREAD) on a pipe (level 4): bytes waiting in it. */
  pipeBytes(fd: number): number
  /** flock(2) without waiting (level 4): true when taken or released, false when another open file holds it. */
  flock(fd: number, mode: LockMode | 'unlock'): boolean
  /** Level 8: startRingPump is there. */
  RING_PUMP?: boolean
  /** A thread moving a pipe's bytes into a ring in a file with splice(2) (level 8). */
  startRingPump(spec: RingPumpSpec): RingPump
  /** _exit(2) (level 8; process.exit on an older addon): no 'exit' event, no teardown. */
  exitNow(code: number): never
}

const require = createRequire(import.meta.url)
let loaded: FuseNative | undefined

/** The installed package (dist/src/util/ → its root), where the setup must run. */
function packageRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
}

/** The patched, source-built addon, or an EnvironmentError saying what to run. */
export function loadFuse(): FuseNative {
  if (loaded) return loaded
  let fuse: FuseNative
  try {
    fuse = require('fuse-native') as FuseNative
  } catch (err) {
    throw new EnvironmentError(
      `the fuse-native addon does not load (${(err as Error).message.split('\n')[0]}): run "npm run setup" in ${packageRoot()} (native-setup/setup.sh installs Debian's fuse package and rebuilds the addon)`,
    )
  }
  const level = Number(fuse.NATIVE_PATCH_LEVEL ?? 0)
  if (!(level >= REQUIRED_PATCH_LEVEL) || !fuse.LOCKS) {
    // The prebuilt addon an `npm ci` without the setup leaves: a problem of the installation.
    throw new EnvironmentError(
      `the fuse-native addon is not pstore-sim's patched build (patch level ${level}, need ${REQUIRED_PATCH_LEVEL}; a prebuilt addon has no flock and rounds times to ms): run "npm run setup" in ${packageRoot()} to build it`,
    )
  }
  loaded = fuse
  return fuse
}
