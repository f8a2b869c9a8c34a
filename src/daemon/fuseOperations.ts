/**
 * The FUSE operations of a mounted pstore: a thin mapping from fuse-native's callbacks to the
 * MountView, answering with the errno the kernel's pstore gives (docs/ramoops-format.md §8). Everything is served
 * from state computed at boot; no handler parses the region. With the patched fuse-native,
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

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const O_ACCMODE = 3
const O_RDONLY = 0
const O_TRUNC = 0o1000

/** Negative errno values as fuse-native expects them. */
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
  /** Backend erase of the record behind `entry`; returns an errno (0 = erased). */
  erase(entry: MountEntry): number
  readOnly: boolean
  now(): Timespec
}

type Cb = (...args: any[]) => void

/** A file's attributes as getattr answers them. */
export function fileStat(view: MountView, entry: MountEntry) {
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
export function rootStat(root: RootAttributes) {
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

export function fuseOperations(view: MountView, callbacks: FuseCallbacks): Record<string, (...args: any[]) => void> {
  const lookup = (path: string): MountEntry | undefined => (path.startsWith('/') && path.indexOf('/', 1) < 0 ? view.get(path.slice(1)) : undefined)
  // With a handle, only its file: after two reboots the path names another boot's record (EIO).
  const handleOrPath = (fd: number, path: string): MountEntry | undefined => (fd !== 0 ? view.byHandle(fd) : lookup(path))

  const stat = (entry: MountEntry) => fileStat(view, entry)
  const setAttributes = (path: string, cb: Cb, change: (attributes: Attributes) => void) => {
    const target = path === '/' ? view.root : lookup(path)
    if (!target) return cb(Errno.ENOENT)
    if (callbacks.readOnly) return cb(Errno.EROFS)
    view.setAttributes(target, change, callbacks.now())
    cb(0)
  }
  // The kernel refuses these in the VFS: pstore has only lookup and unlink.
  // On a read-only mount the VFS answers EROFS first.
  const refuse =
    (errno: number) =>
    (...args: any[]) =>
      (args[args.length - 1] as Cb)(callbacks.readOnly ? Errno.EROFS : errno)

  return {
    init: (cb: Cb) => cb(0),
    getattr: (path: string, cb: Cb) => {
      if (path === '/') return cb(0, rootStat(view.root))
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      cb(0, stat(entry))
    },
    fgetattr: (path: string, fd: number, cb: Cb) => {
      if (path === '/') return cb(0, rootStat(view.root))
      const entry = handleOrPath(fd, path)
      if (!entry) return cb(fd !== 0 ? Errno.EIO : Errno.ENOENT)
      cb(0, stat(entry))
    },
    readdir: (path: string, cb: Cb) => {
      if (path !== '/') return cb(lookup(path) ? Errno.ENOTDIR : Errno.ENOENT)
      cb(0, ['.', '..', ...view.names()])
    },
    open: (path: string, flags: number, cb: Cb) => {
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      if ((flags & O_ACCMODE) !== O_RDONLY && callbacks.readOnly) return cb(Errno.EROFS)
      // Root may open for writing (the mode check passed in the kernel); writes then fail.
      if (flags & O_TRUNC) view.truncate(entry)
      cb(0, entry.handle)
    },
    read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      const entry = handleOrPath(fd, path)
      if (!entry) return cb(fd !== 0 ? Errno.EIO : Errno.ENOENT)
      const content = entry.file.content
      const size = view.size(entry)
      if (pos >= size) return cb(0)
      const n = content.copy(buf, 0, pos, Math.min(size, pos + len))
      cb(n)
    },
    write: (_path: string, _fd: number, _buf: Buffer, _len: number, _pos: number, cb: Cb) => cb(Errno.EINVAL),
    truncate: (path: string, size: number, cb: Cb) => {
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      if (callbacks.readOnly) return cb(Errno.EROFS)
      if (size === 0) view.truncate(entry)
      cb(0)
    },
    ftruncate: (path: string, fd: number, size: number, cb: Cb) => {
      const entry = handleOrPath(fd, path)
      if (!entry) return cb(fd !== 0 ? Errno.EIO : Errno.ENOENT)
      if (callbacks.readOnly) return cb(Errno.EROFS)
      if (size === 0) view.truncate(entry)
      cb(0)
    },
    unlink: (path: string, cb: Cb) => {
      const entry = lookup(path)
      if (!entry) return cb(Errno.ENOENT)
      if (callbacks.readOnly) return cb(Errno.EROFS)
      const errno = callbacks.erase(entry)
      if (errno) return cb(errno)
      view.remove(entry.file.name, callbacks.now())
      cb(0)
    },
    chmod: (path: string, mode: number, cb: Cb) => setAttributes(path, cb, (t) => (t.mode = mode & 0o7777)),
    chown: (path: string, uid: number, gid: number, cb: Cb) =>
      setAttributes(path, cb, (t) => {
        // (uid_t)-1 leaves that id unchanged
        if (uid !== 0xffffffff && uid !== -1) t.uid = uid
        if (gid !== 0xffffffff && gid !== -1) t.gid = gid
      }),
    utimens: (path: string, atime: Timespec | null, mtime: Timespec | null, cb: Cb) =>
      setAttributes(path, cb, (t) => {
        if (atime) t.atime = { sec: atime.sec, nsec: atime.nsec }
        if (mtime) t.mtime = { sec: mtime.sec, nsec: mtime.nsec }
      }),
    statfs: (_path: string, cb: Cb) =>
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 }),
    create: (_path: string, _mode: number, cb: Cb) => cb(callbacks.readOnly ? Errno.EROFS : Errno.EACCES),
    mknod: refuse(Errno.EPERM),
    mkdir: refuse(Errno.EPERM),
    rmdir: (path: string, cb: Cb) => cb(path === '/' ? Errno.EPERM : lookup(path) ? Errno.ENOTDIR : Errno.ENOENT),
    rename: refuse(Errno.EPERM),
    link: refuse(Errno.EPERM),
    symlink: refuse(Errno.EPERM),
    setxattr: refuse(Errno.EOPNOTSUPP),
  }
}
