/**
 * The native layer (native/: the FUSE binding on libfuse 3 and the system calls beside it),
 * typed as pstore-sim uses it, loaded and checked once. Every user (the image lock in
 * flock.ts, the daemon's mount, its native file table, the pmsg FIFO) goes through
 * loadFuse(), which refuses an addon of any other version than NATIVE_VERSION with one line:
 * an addon built from older sources would serve a pstore that differs from the kernel's.
 * The API: native/README.md and native/index.cjs.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnvironmentError } from './errors.js'

/** The native layer's version this code is written for: native/version.h's PSTORE_NATIVE_VERSION. */
export const NATIVE_VERSION = 11

/** A time as the addon takes and gives it (nanoseconds). */
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

/** The FUSE operations pstore-sim implements, with the binding's arguments (native/index.cjs). */
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

/** `fuse.files`: files the addon answers getattr, readdir, open and read for natively. */
export interface NativeFileTable {
  setRoot(stat: FuseStat): void
  /** content null: not made yet; open and read of it reach the handlers until setContent. */
  set(handle: number, name: string, stat: FuseStat, content: Buffer | null): void
  /** The content of a file set without one; false when the table has no such handle. */
  setContent(handle: number, content: Buffer): boolean
  setStat(handle: number, stat: FuseStat): boolean
  remove(handle: number): boolean
  clear(): void
  /** A reboot: unlisted files freed, listed ones unlisted but readable through open handles. */
  retire(): void
  batch<T>(fn: () => T): T
}

export interface FuseSession {
  /** The native file table. */
  readonly files: NativeFileTable
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err?: Error | null) => void): void
  /** Drops what the kernel cached about these names (and the root's attributes). */
  invalidate(names: string[]): Promise<{ invalidated: number; notCached: number }>
}

export type LockMode = 'exclusive' | 'shared'

/** What a ring pump moves into: a ring of `capacity` bytes at dataAt, its start and size at headerAt. */
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

/** native/index.cjs: the Fuse class and the system calls beside FUSE (native/sys.cjs). */
export interface FuseNative {
  new (mountpoint: string, ops: FuseOperations, options: FuseMountOptions): FuseSession
  /** native/version.h's PSTORE_NATIVE_VERSION, as built. */
  NATIVE_VERSION: number
  /** mkfifo(3), which Node lacks. */
  mkfifo(path: string, mode: number): void
  /** fcntl(F_SETPIPE_SZ): the size set. */
  setPipeSize(fd: number, size: number): number
  /** ioctl(FIONREAD) on a pipe: bytes waiting in it. */
  pipeBytes(fd: number): number
  /** flock(2) without waiting: true when taken or released, false when another open file holds it. */
  flock(fd: number, mode: LockMode | 'unlock'): boolean
  /** A thread moving a pipe's bytes into a ring in a file with splice(2). */
  startRingPump(spec: RingPumpSpec): RingPump
  /** _exit(2): no 'exit' event, no teardown. */
  exitNow(code: number): never
}

const require = createRequire(import.meta.url)
let loaded: FuseNative | undefined

/** The installed package (dist/src/util/ → its root), where the setup must run. */
function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  // src/util/ when run from source (tests), dist/src/util/ or dist/src/<bundle>/ when built
  const fromSource = path.resolve(here, '../..')
  return fs.existsSync(path.join(fromSource, 'native', 'version.h')) ? fromSource : path.resolve(here, '../../..')
}

/** native/index.cjs of this installation (dist/src/util/ or src/util/ → the package root). */
export function nativeModulePath(): string {
  return path.join(packageRoot(), 'native', 'index.cjs')
}

/** The native layer built by the setup, of this version, or an EnvironmentError saying what to run. */
export function loadFuse(): FuseNative {
  if (loaded) return loaded
  let fuse: FuseNative
  try {
    fuse = require(nativeModulePath()) as FuseNative
  } catch (err) {
    throw new EnvironmentError(
      `the native addons do not load (${(err as Error).message.split('\n')[0]}): run "npm run setup" in ${packageRoot()} (native-setup/setup.sh builds native/ against libfuse 3)`,
    )
  }
  if (fuse.NATIVE_VERSION !== NATIVE_VERSION) {
    throw new EnvironmentError(
      `native/build holds version ${fuse.NATIVE_VERSION} of the native addons, this pstore-sim needs version ${NATIVE_VERSION}: run "npm run setup" in ${packageRoot()} to rebuild them`,
    )
  }
  loaded = fuse
  return fuse
}
