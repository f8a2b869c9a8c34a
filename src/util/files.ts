/**
 * Files pstore-sim writes beside an image or in its run directory: never through a symlink or
 * onto a file someone planted. Each is created fresh (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600
 * unless said otherwise) under a temporary name, then renamed into place, so a reader sees the
 * old file or the new one, and a failure (ENOSPC) leaves the old one and no temporary file.
 */
import fs from 'node:fs'
import { nodeCrypto } from './lazyBuiltins.js'

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants

/** A failed write of `file`, with the file's name in the message (errno in `code`). */
export class FileWriteError extends Error {
  override name = 'FileWriteError'
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    cause: Error,
  ) {
    super(`${file}: cannot write: ${cause.message}`)
  }
}

/** A new file that did not exist: never follows or reuses what is at `file`. */
export function createExclusive(file: string, mode = 0o600): number {
  return fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
}

export function temporaryName(file: string): string {
  return `${file}.tmp-${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`
}

/** Writes `data` to `file` atomically (temporary file + rename); `mode` exactly, not masked. */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = temporaryName(file)
  let fd: number | undefined
  try {
    fd = createExclusive(tmp, mode)
    fs.fchmodSync(fd, mode)
    fs.writeFileSync(fd, data)
    fs.closeSync(fd)
    fd = undefined
    fs.renameSync(tmp, file)
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd)
    fs.rmSync(tmp, { force: true })
    throw new FileWriteError(file, (err as NodeJS.ErrnoException).code, err as Error)
  }
}
