/**
 * The state of a mounted pstore between reboots: the files made at the last boot, and what the
 * VFS lets users change on them in memory only (chmod, chown, utimes, an O_TRUNC open), all lost
 * at the next mount as on the kernel's pstore (spec 8). No FUSE here.
 */
import { makeFiles, PstoreFile, ROOT_MODE, Timespec, ViewOptions } from './pstoreFs.js'
import { PstoreRecord } from './record.js'

/** What chmod, chown and utimes may change, in memory only, on a file or the root. */
export interface Attributes {
  mode: number
  uid: number
  gid: number
  atime: Timespec
  mtime: Timespec
  ctime: Timespec
}

export interface MountEntry extends Attributes {
  file: PstoreFile
  /** An O_TRUNC open by root leaves the reported size at 0 until the next mount. */
  truncated: boolean
  /** The file handle `open` returns for this file. */
  handle: number
}

export type RootAttributes = Attributes

export class MountView {
  private entries = new Map<string, MountEntry>()
  /** This boot's files by position, kept after unlink so that an open file stays readable. */
  private byHandleIndex: MountEntry[] = []
  root: RootAttributes
  /** Counts boots: a file handle from an earlier boot finds nothing. */
  private boots = 0

  constructor(
    readonly owner: { uid: number; gid: number },
    now: Timespec,
  ) {
    this.root = { mode: ROOT_MODE, uid: owner.uid, gid: owner.gid, atime: now, mtime: now, ctime: now }
  }

  /** A boot's records replace the whole view (a fresh mount). */
  load(records: PstoreRecord[], options: ViewOptions): void {
    this.entries.clear()
    this.byHandleIndex = []
    for (const file of makeFiles(records, options)) {
      const entry: MountEntry = {
        file,
        mode: file.mode,
        uid: this.owner.uid,
        gid: this.owner.gid,
        atime: file.atime,
        mtime: file.mtime,
        ctime: file.ctime,
        truncated: false,
        handle: 0,
      }
      this.byHandleIndex.push(entry)
      // A handle names the boot and the file, so no table of open files is needed (and no
      // release round trip): 12 bits of generation, 20 bits of index.
      entry.handle = (((this.boots + 1) & 0xfff) << 20) | this.byHandleIndex.length
      this.entries.set(file.name, entry)
    }
    this.root = { ...this.root, atime: options.now, mtime: options.now, ctime: options.now }
    this.boots++
  }

  /** The entry an open file handle refers to, even after unlink; undefined after a reboot. */
  byHandle(handle: number): MountEntry | undefined {
    if (((handle >>> 20) & 0xfff) !== (this.boots & 0xfff)) return undefined
    return this.byHandleIndex[(handle & 0xfffff) - 1]
  }

  get(name: string): MountEntry | undefined {
    return this.entries.get(name)
  }

  names(): string[] {
    return [...this.entries.keys()]
  }

  size(entry: MountEntry): number {
    return entry.truncated ? 0 : entry.file.content.length
  }

  remove(name: string, now: Timespec): MountEntry | undefined {
    const entry = this.entries.get(name)
    if (!entry) return undefined
    this.entries.delete(name)
    this.root.mtime = now
    this.root.ctime = now
    return entry
  }
}
