/**
 * The view as the FUSE binding's native file table holds it (`fuse.files`, native/fuse.c):
 * with it, getattr, readdir, a read-only open and read are answered on the FUSE thread without
 * a hop to the Node event loop, the cost that made every uncached operation 2–3× a C filesystem.
 * Everything else (unlink, chmod, utimes, truncate, open for writing) still reaches the handlers in
 * fuseAdapter.ts, which change the MountView; the view tells this mirror before the handler
 * replies, so the table is never behind what a client has been told.
 *
 * The table references each file's content buffer instead of copying it: contents are made at
 * boot, or at a file's first open for a record inflated lazily (the table holds it without content
 * until then, and the addon hands that open to the handler), and never written afterwards.
 */
import type { MountEntry, MountView, MountViewObserver, RootAttributes } from '../pstore/mountView.js'
import type { NativeFileTable } from '../util/fuseNative.js'
import { fileStat, rootStat } from './fuseOperations.js'

export type { NativeFileTable }

export class NativeFilesMirror implements MountViewObserver {
  constructor(
    private readonly table: NativeFileTable,
    private readonly view: MountView,
  ) {}

  /**
   * A boot replaced every file: clients see the old set or the new one, never half of it. The
   * previous boot's files stay readable through descriptors opened on them (retire), as the view
   * keeps them by handle for one boot.
   */
  loaded(view: MountView): void {
    this.table.batch(() => {
      this.table.retire()
      for (const entry of view.entriesInOrder()) {
        // a file whose content is not made yet: its first open reaches the handler, which makes it
        const content = entry.file.contentMade ? entry.file.content : null
        this.table.set(entry.handle, entry.file.name, fileStat(view, entry), content)
      }
      this.rootChanged(view.root)
    })
  }

  changed(entry: MountEntry): void {
    this.table.setStat(entry.handle, fileStat(this.view, entry))
  }

  contentMade(entry: MountEntry): void {
    this.table.setContent(entry.handle, entry.file.content)
  }

  removed(entry: MountEntry): void {
    this.table.remove(entry.handle)
  }

  rootChanged(root: RootAttributes): void {
    this.table.setRoot(rootStat(root))
  }
}
