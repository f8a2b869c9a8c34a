/**
 * The state of a mounted pstore between reboots: the files made at the last boot, and what the
 * VFS lets users change on them in memory only (chmod, chown, utimes, an O_TRUNC open), all lost
 * at the next mount as on the kernel's pstore (docs/ramoops-format.md §8). No FUSE here.
 */
import { makeFiles, type PstoreFile, ROOT_MODE, type Timespec, type ViewOptions } from './filesystem.js'
import type { PstoreRecord } from './record.js'

/** What chmod, chown and utimes may change, in memory only, on a file or the root. */
export interface Attributes {
  mode: number
  uid: number
  gid: number
  atime: Timespec
  mtime: Timespec
  ctime: Timespec
}

/**
 * A file of the mount: the record it shows and its inode's attributes. The attributes start as
 * the record's (pstore_mkfile() takes mode and times from the record) and then belong to the
 * inode: chmod, chown and touch change them and never the record, as on /sys/fs/pstore.
 */
export interface MountEntry extends Attributes {
  file: PstoreFile
  /** An O_TRUNC open by root leaves the reported size at 0 until the next mount. */
  truncated: boolean
  /** The file handle `open` returns for this file. */
  handle: number
}

export type RootAttributes = Attributes

/**
 * Told of every change to the view, after it is made: a FUSE binding that answers from a copy
 * of the view (the FUSE binding's native file table) updates that copy from here.
 */
export interface MountViewObserver {
  /** The view was replaced (a boot), or the observer was just attached. */
  loaded(view: MountView): void
  /** An entry's attributes or size changed. */
  changed(entry: MountEntry): void
  /** An entry was unlinked (still readable through an open handle until the next boot). */
  removed(entry: MountEntry): void
  /** A file's content was made (its first open, see PstoreFile.content). */
  contentMade(entry: MountEntry): void
  rootChanged(root: RootAttributes): void
}

export class MountView {
  private entries = new Map<string, MountEntry>()
  /** This boot's files by position, kept after unlink so that an open file stays readable. */
  private byHandleIndex: MountEntry[] = []
  /**
   * The previous boot's: a descriptor opened before a reboot reads the record it opened (as a
   * pstore inode keeps its record) for one reboot, then fails; memory holds two boots at most.
   */
  private previousByHandle: MountEntry[] = []
  root: RootAttributes
  /** Counts boots: a file handle from an earlier boot finds nothing. */
  private boots = 0
  private observer: MountViewObserver | undefined

  constructor(
    readonly owner: { uid: number; gid: number },
    now: Timespec,
  ) {
    this.root = { mode: ROOT_MODE, uid: owner.uid, gid: owner.gid, atime: now, mtime: now, ctime: now }
  }

  /** A boot's records replace the whole view (a fresh mount). */
  load(records: PstoreRecord[], options: ViewOptions): void {
    this.entries.clear()
    this.previousByHandle = this.byHandleIndex
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
      // >>> 0: from the 2048th boot on, bit 31 is set; a handle is a uint32, never negative.
      entry.handle = ((((this.boots + 1) & 0xfff) << 20) | this.byHandleIndex.length) >>> 0
      this.entries.set(file.name, entry)
    }
    this.root = { ...this.root, atime: options.now, mtime: options.now, ctime: options.now }
    this.boots++
    this.observer?.loaded(this)
  }

  /** Attaches the one observer, which first sees the whole view as it is now. */
  observe(observer: MountViewObserver): void {
    this.observer = observer
    observer.loaded(this)
  }

  /** Every entry listed now, in listing order. */
  entriesInOrder(): IterableIterator<MountEntry> {
    return this.entries.values()
  }

  /**
   * The entry an open file handle refers to, even after unlink or one reboot; undefined for a
   * handle of an older boot (and for 0, no handle).
   */
  byHandle(handle: number): MountEntry | undefined {
    const generation = (handle >>> 20) & 0xfff
    const index = (handle & 0xfffff) - 1
    if (generation === (this.boots & 0xfff)) return this.byHandleIndex[index]
    if (generation === ((this.boots - 1) & 0xfff) && this.boots > 1) return this.previousByHandle[index]
    return undefined
  }

  get(name: string): MountEntry | undefined {
    return this.entries.get(name)
  }

  names(): string[] {
    return [...this.entries.keys()]
  }

  size(entry: MountEntry): number {
    return entry.truncated ? 0 : entry.file.size
  }

  /** The file's content, made now if it was not yet (an open): the observer hears of it first. */
  content(entry: MountEntry): Buffer {
    if (entry.file.contentMade) return entry.file.content
    const content = entry.file.content
    this.observer?.contentMade(entry)
    return content
  }

  /** chmod, chown, utimes: `change` edits the attributes, then ctime is `now`. */
  setAttributes(target: MountEntry | RootAttributes, change: (attributes: Attributes) => void, now: Timespec): void {
    change(target)
    target.ctime = now
    if (target === this.root) this.observer?.rootChanged(this.root)
    else this.observer?.changed(target as MountEntry)
  }

  /** An O_TRUNC open or a truncate to 0 by root: the size reads 0 until the next mount. */
  truncate(entry: MountEntry): void {
    if (entry.truncated) return
    entry.truncated = true
    this.observer?.changed(entry)
  }

  remove(name: string, now: Timespec): MountEntry | undefined {
    const entry = this.entries.get(name)
    if (!entry) return undefined
    this.entries.delete(name)
    this.root.mtime = now
    this.root.ctime = now
    this.observer?.removed(entry)
    this.observer?.rootChanged(this.root)
    return entry
  }
}
