/**
 * efivarfs over FUSE: the daemon of an efi mount serves its variable store as
 * /sys/firmware/efi/efivars shows it (the view: backend/efi/efivars.ts) on a second mount of its
 * own, in the run directory; `exec` binds it on /sys/firmware/efi/efivars inside its namespace.
 * One process keeps owning the image and its lock, and an unlink here is a `deleteVariable`
 * event (machine/events.ts): the backend's one delete (EfiBackend.deleteVariable), the same byte
 * pstore's erase clears.
 *
 * FUSE has no S_IMMUTABLE for the kernel to enforce, so the handlers give the errno the VFS
 * gives for an immutable inode (EPERM on unlink, open for writing, setattr); the flag itself is
 * not visible to lsattr (the binding has no ioctl). Creating and writing variables is refused
 * with EOPNOTSUPP, what efivarfs returns when the firmware answers EFI_UNSUPPORTED: SetVariable()
 * with data (OVMF's replace, append and authenticated writes) is not simulated.
 */
import fs from 'node:fs'
import type { PstoreBackend } from '../backend/backend.js'
import { EFI_MIN_RESERVE, EfiBackend } from '../backend/efi/efi.js'
import { type EfivarFile, efivarContent, efivarfsFiles } from '../backend/efi/efivars.js'
import { nowTimespec, type Timespec } from '../pstore/filesystem.js'
import { EnvironmentError } from '../util/errors.js'
import type { FuseNative, FuseOperations, FuseSession, FuseStat, Reply } from '../util/fuseNative.js'
import { logger } from '../util/log.js'
import { efivarsPath, unmountLazily } from './efivarsDir.js'
import { Errno, refusal } from './fuseOperations.js'

const debug = logger('efivars')

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const O_ACCMODE = 3
const O_RDONLY = 0
const O_TRUNC = 0o1000

/** What efivarfs keeps of a file in its inode: changed in memory only (chmod, touch), as simple_setattr does. */
interface Inode {
  mode: number
  uid: number
  gid: number
  size: number
  atime: Timespec
  mtime: Timespec
  ctime: Timespec
}

interface Entry {
  file: EfivarFile
  inode: Inode
}

/** The list efivarfs builds at mount, with its inodes; rebuilt at every boot. */
export class EfivarsList {
  private entries = new Map<string, Entry>()
  root: Inode

  constructor(
    readonly backend: EfiBackend,
    private readonly owner: { uid: number; gid: number },
    /** SetVariable(name, guid, size 0) as the daemon runs it: a deleteVariable event. */
    readonly deleteVariable: (name: string, guid: Buffer) => unknown,
  ) {
    this.root = this.inode(0o755, 0, nowTimespec())
  }

  private inode(mode: number, size: number, now: Timespec): Inode {
    return { mode, uid: this.owner.uid, gid: this.owner.gid, size, atime: now, mtime: now, ctime: now }
  }

  /** A boot: efivarfs mounted again, the list walked again. */
  load(): void {
    const now = nowTimespec()
    this.root = this.inode(0o755, 0, now)
    this.entries = new Map(
      efivarfsFiles(this.backend.store, this.backend.setup.kernel).map((file) => [file.fileName, { file, inode: this.inode(0o644, file.size, now) }]),
    )
  }

  names(): string[] {
    return [...this.entries.keys()]
  }

  /** The file at `/NAME`; the GUID part matches in any case (efivarfs_d_compare()), the name exactly. */
  get(fusePath: string): Entry | undefined {
    if (!fusePath.startsWith('/') || fusePath.indexOf('/', 1) >= 0) return undefined
    const name = fusePath.slice(1)
    return this.entries.get(name) ?? (name.length > 36 ? this.entries.get(name.slice(0, -36) + name.slice(-36).toLowerCase()) : undefined)
  }

  remove(entry: Entry): void {
    this.entries.delete(entry.file.fileName)
    this.root.mtime = this.root.ctime = nowTimespec()
  }
}

function stat(inode: Inode, type: number): FuseStat {
  return { ...inode, mode: type | inode.mode, nlink: type === S_IFDIR ? 2 : 1, blksize: 4096, blocks: Math.ceil(inode.size / 512) }
}

/** truncate, chmod, chown, touch: EROFS, EPERM on an immutable file, else the inode changes in memory (simple_setattr). */
function attributeOperations(list: EfivarsList, readOnly: boolean): FuseOperations {
  const setattr = (p: string, cb: Reply, change: (inode: Inode) => void) => {
    const entry = list.get(p)
    const inode = p === '/' ? list.root : entry?.inode
    if (!inode) return cb(Errno.ENOENT)
    if (readOnly) return cb(Errno.EROFS)
    if (entry && !entry.file.removable) return cb(Errno.EPERM)
    change(inode)
    inode.ctime = nowTimespec()
    cb(0)
  }
  return {
    truncate: (p, size, cb) => setattr(p, cb, (inode) => (inode.size = size)),
    ftruncate: (p, _fd, size, cb) => setattr(p, cb, (inode) => (inode.size = size)),
    chmod: (p, mode, cb) => setattr(p, cb, (inode) => (inode.mode = mode & 0o7777)),
    chown: (p, uid, gid, cb) =>
      setattr(p, cb, (inode) => {
        if (uid !== 0xffffffff && uid !== -1) inode.uid = uid
        if (gid !== 0xffffffff && gid !== -1) inode.gid = gid
      }),
    utimens: (p, atime, mtime, cb) =>
      setattr(p, cb, (inode) => {
        if (atime) inode.atime = { sec: atime.sec, nsec: atime.nsec }
        if (mtime) inode.mtime = { sec: mtime.sec, nsec: mtime.nsec }
      }),
  }
}

/** The handlers: errno as efivarfs and the VFS give them. */
export function efivarsOperations(list: EfivarsList, readOnly: boolean): FuseOperations {
  const refuse = refusal(readOnly)
  return {
    ...attributeOperations(list, readOnly),
    init: (cb) => cb(0),
    getattr: (p, cb) => {
      if (p === '/') return cb(0, stat(list.root, S_IFDIR))
      const entry = list.get(p)
      if (!entry) return cb(Errno.ENOENT)
      cb(0, stat(entry.inode, S_IFREG))
    },
    readdir: (p, cb) => (p === '/' ? cb(0, ['.', '..', ...list.names()]) : cb(list.get(p) ? Errno.ENOTDIR : Errno.ENOENT)),
    open: (p, flags, cb) => {
      const entry = list.get(p)
      if (!entry) return cb(Errno.ENOENT)
      if ((flags & O_ACCMODE) !== O_RDONLY || flags & O_TRUNC) {
        if (readOnly) return cb(Errno.EROFS)
        if (!entry.file.removable) return cb(Errno.EPERM) // inode_permission(): MAY_WRITE on an immutable inode
      }
      cb(0, 0)
    },
    read: (p, _fd, buf, len, pos, cb) => {
      const entry = list.get(p)
      if (!entry) return cb(Errno.ENOENT)
      const content = efivarContent(list.backend.store, entry.file)
      if (!content || pos >= content.length) return cb(0)
      cb(content.copy(buf, 0, pos, Math.min(content.length, pos + len)))
    },
    write: (_p, _fd, _buf, _len, _pos, cb) => cb(Errno.EOPNOTSUPP),
    unlink: (p, cb) => {
      const entry = list.get(p)
      if (!entry) return cb(Errno.ENOENT)
      if (readOnly) return cb(Errno.EROFS)
      if (!entry.file.removable) return cb(Errno.EPERM) // may_delete(): IS_IMMUTABLE
      // EFI_NOT_FOUND (already deleted, e.g. by pstore's erase) counts as done, as efivar_entry_delete() takes it
      try {
        list.deleteVariable(entry.file.name, entry.file.guid)
      } catch (err) {
        debug('delete failed: %s', (err as Error).message)
        return cb(Errno.EINVAL) // efivarfs_unlink(): any failure of the delete
      }
      list.remove(entry)
      cb(0)
    },
    statfs: (_p, cb) => {
      // efivarfs_statfs(): 1-byte blocks holding QueryVariableInfo()'s figures; f_bavail keeps the x86 reserve
      const { storage, remaining } = list.backend.queryVariableInfo()
      const bavail = Math.max(0, remaining - EFI_MIN_RESERVE)
      cb(0, { bsize: 1, frsize: 1, blocks: storage, bfree: remaining, bavail, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 })
    },
    create: refuse(Errno.EOPNOTSUPP),
    mknod: refuse(Errno.EPERM),
    mkdir: refuse(Errno.EPERM),
    rmdir: (p, cb) => cb(p === '/' ? Errno.EPERM : list.get(p) ? Errno.ENOTDIR : Errno.ENOENT),
    rename: refuse(Errno.EPERM),
    link: refuse(Errno.EPERM),
    symlink: refuse(Errno.EPERM),
    setxattr: refuse(Errno.EOPNOTSUPP),
  }
}

/** The second mount of an efi daemon: its directory in the run directory, its FUSE session, its list. */
export class EfivarsMount {
  private fuse: FuseSession | undefined
  readonly list: EfivarsList

  constructor(
    private readonly mountpoint: string,
    backend: EfiBackend,
    private readonly readOnly: boolean,
    deleteVariable: EfivarsList['deleteVariable'],
  ) {
    this.list = new EfivarsList(backend, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }, deleteVariable)
  }

  /** An efi machine's efivars mount, or undefined for the other backends (they have no variable store). */
  static forBackend(mountpoint: string, backend: PstoreBackend, readOnly: boolean, deleteVariable: EfivarsList['deleteVariable']): EfivarsMount | undefined {
    return backend instanceof EfiBackend ? new EfivarsMount(mountpoint, backend, readOnly, deleteVariable) : undefined
  }

  get dir(): string {
    return efivarsPath(this.mountpoint)
  }

  /** Mounts on a fresh directory (what a killed daemon left there is unmounted first). */
  async mount(Fuse: FuseNative, fsname: string, allowOther: boolean): Promise<void> {
    await unmountLazily(this.dir)
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o755 })
    const fuse = new Fuse(this.dir, efivarsOperations(this.list, this.readOnly), {
      fsname,
      subtype: 'efivars',
      defaultPermissions: true,
      allowOther,
      hardRemove: true,
      // contents are read from the store at every read (a variable pstore erased reads empty)
      directIO: true,
      // nothing cached: few files, and a reboot changes the list
      attrTimeout: 0,
      entryTimeout: 0,
      negativeTimeout: 0,
      timeout: false,
    })
    await new Promise<void>((resolve, reject) =>
      fuse.mount((err) => (err ? reject(new EnvironmentError(`cannot mount the efivars view on ${this.dir}: ${err.message}`)) : resolve())),
    )
    this.fuse = fuse
  }

  /** Unmounts (bounded, like the pstore mount's) and removes the directory. */
  async unmount(): Promise<void> {
    const fuse = this.fuse
    this.fuse = undefined
    if (fuse) {
      let bound: NodeJS.Timeout | undefined
      await Promise.race([new Promise<void>((resolve) => fuse.unmount(() => resolve())), new Promise<void>((resolve) => (bound = setTimeout(resolve, 5000)))])
      clearTimeout(bound)
      await unmountLazily(this.dir)
    }
    try {
      fs.rmdirSync(this.dir)
    } catch (err) {
      debug('cannot remove %s: %s', this.dir, (err as Error).message)
    }
  }
}
