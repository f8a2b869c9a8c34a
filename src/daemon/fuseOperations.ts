/**
 * The FUSE operations of a mounted pstore: a thin mapping from the FUSE binding's callbacks (native/index.cjs) to the
 * MountView, answering with the errno the kernel's pstore gives (docs/ramoops-format.md §8). Everything is served
 * from state computed at boot; no handler parses the region. With the binding's native file table,
 * getattr, readdir, a read-only open and read are answered natively from the mirror in
 * nativeFiles.ts, with the same results: these handlers then see only the other requests.
 *
 * Caching (set up in daemon.ts): the kernel caches attributes and names for a few seconds;
 * every change but a reboot passes through these handlers and the kernel updates its cache
 * from our replies, and a reboot invalidates every name explicitly. Negative lookups are never
 * cached (a reboot's new names show at once), and file contents never enter the page cache
 * (direct_io): a reboot changes a file's bytes under the same name, and a descriptor opened before
 * it shares the kernel's inode with the new file, yet must read the record it opened (by its
 * handle, for one reboot; then EIO). fstat on such a descriptor may show the attributes the
 * kernel caches for the name.
 */

import type { Timespec } from '../pstore/filesystem.js'
import type { Attributes, MountEntry, MountView, RootAttributes } from '../pstore/mountView.js'
import type { FuseOperations, FuseStat, Reply } from '../util/fuseNative.js'

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const O_ACCMODE = 3
const O_RDONLY = 0
const O_WRONLY = 1
const O_TRUNC = 0o1000

/** Negative errno values as the binding expects them. */
export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  EACCES: -13,
  EEXIST: -17,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  EROFS: -30,
  ENOTEMPTY: -39,
  ENODATA: -61,
  EOPNOTSUPP: -95,
} as const

export interface FuseCallbacks {
  /** Backend erase of the record behind `entry` (an erase event, run to its end); an errno (0 = erased). */
  erase(entry: MountEntry): number
  readOnly: boolean
  now(): Timespec
}

/** A file's attributes as getattr answers them. */
export function fileStat(view: MountView, entry: MountEntry): FuseStat {
  const size = view.size(entry)
  return {
    mode: S_IFREG | entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size,
    nlink: 1,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    atime: entry.atime,
    mtime: entry.mtime,
    ctime: entry.ctime,
  }
}

/** The root directory's attributes as getattr answers them. */
export function rootStat(root: RootAttributes): FuseStat {
  return {
    mode: S_IFDIR | root.mode,
    uid: root.uid,
    gid: root.gid,
    size: 0,
    nlink: 2,
    blksize: 4096,
    atime: root.atime,
    mtime: root.mtime,
    ctime: root.ctime,
  }
}

/** A name in the root (the only directory), or undefined. */
type Lookup = (path: string) => MountEntry | undefined

/**
 * With a handle (fd ≠ 0), only its file, also one reboot later; two reboots later it finds
 * nothing (the caller answers EIO), as the path then names another boot's record.
 */
function handleOrPath(view: MountView, lookup: Lookup, fd: number, path: string): MountEntry | undefined {
  return fd !== 0 ? view.byHandle(fd) : lookup(path)
}

export function fuseOperations(view: MountView, callbacks: FuseCallbacks): FuseOperations {
  const lookup: Lookup = (path) => (path.startsWith('/') && path.indexOf('/', 1) < 0 ? view.get(path.slice(1)) : undefined)
  return { ...readOperations(view, callbacks, lookup), ...changeOperations(view, callbacks, lookup), ...otherOperations(callbacks, lookup) }
}

/** Attributes, the directory, open and read (with native files, the addon answers most of them). */
function readOperations(view: MountView, callbacks: FuseCallbacks, lookup: Lookup): FuseOperations {
  const stat = (entry: MountEntry) => fileStat(view, entry)
  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => {
      if (path === '/') return cb(0, rootStat(view.root))
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      cb(0, stat(entry))
    },
    fgetattr: (path, fd, cb) => {
      if (path === '/') return cb(0, rootStat(view.root))
      const entry = handleOrPath(view, lookup, fd, path)
      if (!entry) return cb(fd !== 0 ? Errno.EIO : Errno.ENOENT)
      cb(0, stat(entry))
    },
    readdir: (path, cb) => {
      if (path !== '/') return cb(lookup(path) ? Errno.ENOTDIR : Errno.ENOENT)
      cb(0, ['.', '..', ...view.names()])
    },
    open: (path, flags, cb) => {
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      if ((flags & O_ACCMODE) !== O_RDONLY && callbacks.readOnly) return cb(Errno.EROFS)
      // Root may open for writing (the mode check passed in the kernel); writes then fail.
      if (flags & O_TRUNC) view.truncate(entry)
      // A record inflated only for its size at boot gets its text now, before the reads.
      if ((flags & O_ACCMODE) !== O_WRONLY) view.content(entry)
      cb(0, entry.handle)
    },
    read: (path, fd, buf, len, pos, cb) => {
      const entry = handleOrPath(view, lookup, fd, path)
      if (!entry) return cb(fd !== 0 ? Errno.EIO : Errno.ENOENT)
      const content = view.content(entry)
      const size = view.size(entry)
      if (pos >= size) return cb(0)
      const n = content.copy(buf, 0, pos, Math.min(size, pos + len))
      cb(n)
    },
  }
}

/** What a user may change on a mount: truncate to 0 (a no-op on the record), rm (an erase), chmod/chown/touch (in memory). */
function changeOperations(view: MountView, callbacks: FuseCallbacks, lookup: Lookup): FuseOperations {
  const setAttributes = (path: string, cb: Reply, change: (attributes: Attributes) => void) => {
    const target = path === '/' ? view.root : lookup(path)
    if (!target) return cb(Errno.ENOENT)
    if (callbacks.readOnly) return cb(Errno.EROFS)
    view.setAttributes(target, change, callbacks.now())
    cb(0)
  }
  const truncate = (entry: MountEntry | undefined, size: number, cb: Reply) => {
    if (!entry) return cb(Errno.ENOENT)
    if (callbacks.readOnly) return cb(Errno.EROFS)
    if (size === 0) view.truncate(entry)
    cb(0)
  }
  return {
    write: (_path, _fd, _buf, _len, _pos, cb) => cb(Errno.EINVAL),
    truncate: (path, size, cb) => truncate(lookup(path), size, cb),
    ftruncate: (path, fd, size, cb) => {
      const entry = handleOrPath(view, lookup, fd, path)
      if (!entry && fd !== 0) return cb(Errno.EIO)
      truncate(entry, size, cb)
    },
    unlink: (path, cb) => {
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      if (callbacks.readOnly) return cb(Errno.EROFS)
      const errno = callbacks.erase(entry)
      if (errno) return cb(errno)
      view.remove(entry.file.name, callbacks.now())
      cb(0)
    },
    chmod: (path, mode, cb) => setAttributes(path, cb, (t) => (t.mode = mode & 0o7777)),
    chown: (path, uid, gid, cb) =>
      setAttributes(path, cb, (t) => {
        // (uid_t)-1 leaves that id unchanged
        if (uid !== 0xffffffff && uid !== -1) t.uid = uid
        if (gid !== 0xffffffff && gid !== -1) t.gid = gid
      }),
    utimens: (path, atime, mtime, cb) =>
      setAttributes(path, cb, (t) => {
        if (atime) t.atime = { sec: atime.sec, nsec: atime.nsec }
        if (mtime) t.mtime = { sec: mtime.sec, nsec: mtime.nsec }
      }),
  }
}

/** A handler answering `errno` whatever it is asked; on a read-only mount the VFS answers EROFS first. */
export function refusal(readOnly: boolean): (errno: number) => (...args: unknown[]) => void {
  return (errno) =>
    (...args) =>
      (args[args.length - 1] as Reply)(readOnly ? Errno.EROFS : errno)
}

/** statfs, and what pstore has no operation for: the kernel refuses these in the VFS (pstore has only lookup and unlink). */
function otherOperations(callbacks: FuseCallbacks, lookup: Lookup): FuseOperations {
  const refuse = refusal(callbacks.readOnly)
  return {
    statfs: (_path, cb) => cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }),
    create: (_path, _mode, cb) => cb(callbacks.readOnly ? Errno.EROFS : Errno.EACCES),
    mknod: refuse(Errno.EPERM),
    mkdir: refuse(Errno.EPERM),
    rmdir: (path, cb) => cb(path === '/' ? Errno.EPERM : lookup(path) ? Errno.ENOTDIR : Errno.ENOENT),
    rename: refuse(Errno.EPERM),
    link: refuse(Errno.EPERM),
    symlink: refuse(Errno.EPERM),
    setxattr: refuse(Errno.EOPNOTSUPP),
  }
}
