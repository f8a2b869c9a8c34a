/**
 * The pstore filesystem's view of a read pass (fs/pstore/inode.c, docs/ramoops-format.md §8), without FUSE:
 * file names, modes, sizes, times and the bytes `cat` returns. The FUSE adapter only serves it.
 */

import { ftraceText, type WordBits } from './ftrace.js'
import { type PstoreRecord, recordBytes, recordName, recordSize } from './record.js'
import type { SymbolTable } from './symbols.js'

export interface Timespec {
  sec: number
  nsec: number
}

export interface PstoreFile {
  name: string
  record: PstoreRecord
  /**
   * What `cat` returns. A record inflated lazily (lazyPayloadRecord) makes it on first use: read
   * `size` for its length, and `contentMade` to tell whether it exists yet.
   */
  readonly content: Buffer
  /** content.length, known without making the content. */
  readonly size: number
  readonly contentMade: boolean
  /** The kernel's i_size: payload + ECC notice; for ftrace the binary size, not the text. */
  kernelSize: number
  mtime: Timespec
  ctime: Timespec
  atime: Timespec
  mode: number
}

export interface ViewOptions {
  /** Creation time of this pass's inodes (the kernel's current_time()). */
  now: Timespec
  wordBits: WordBits
  symbols?: SymbolTable
  /** `ftrace-ramoops-0` as the kernel names it, instead of the familiar `ftrace-ramoops`. */
  exactNames?: boolean
  /** psinfo->name of the backend, in every file name (default ramoops). */
  backend?: string
}

export const FILE_MODE = 0o444
export const ROOT_MODE = 0o750

// Wall clock with nanoseconds: Date has only milliseconds, hrtime has no epoch.
const HRTIME_AT_LOAD = process.hrtime.bigint()
const EPOCH_NS_AT_LOAD = BigInt(Date.now()) * 1_000_000n

export function nowTimespec(): Timespec {
  const ns = process.hrtime.bigint() - HRTIME_AT_LOAD + EPOCH_NS_AT_LOAD
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) }
}

/** The largest and smallest doubles inside the int64 range: 2^63 - 1024 and -2^63. */
const MAX_FILE_SEC = 2 ** 63 - 1024
const MIN_FILE_SEC = -(2 ** 63)

/**
 * A record's time as a file time. The kernel's i_mtime takes the header's time64_t as it is
 * (INT64_MAX included) and the header's microseconds times 1000 as nanoseconds, unchecked. File
 * times here are doubles: seconds are clamped to the nearest double inside int64 (INT64_MAX
 * shows as 9223372036854774784, not wrapped to a negative time), and nanoseconds past a second
 * to 999999999, so the time a stat shows is always a valid one. `inspect` shows the exact value.
 */
export function fileTime(sec: bigint, nsec: bigint): Timespec {
  const s = Math.min(MAX_FILE_SEC, Math.max(MIN_FILE_SEC, Number(sec)))
  const ns = nsec < 0n ? 0 : nsec > 999_999_999n ? 999_999_999 : Number(nsec)
  return { sec: s, nsec: ns }
}

export function fileName(record: PstoreRecord, exactNames = false, backend = 'ramoops'): string {
  if (record.type === 'ftrace' && !exactNames) return `ftrace-${backend}`
  return recordName(record, backend)
}

/** pstore_mkfile(): one file per record; a name already present is not created again. */
export function makeFile(record: PstoreRecord, options: ViewOptions): PstoreFile {
  // Records carry a time only when the dmesg header had non-zero seconds.
  const recordTime = record.time.sec !== 0n ? fileTime(record.time.sec, record.time.nsec) : undefined
  const kernelSize = recordSize(record)
  let content: Buffer | undefined
  if (record.type === 'ftrace') {
    // ftrace is never compressed: its text (and so its size) is made now
    const bytes = recordBytes(record)
    content = Buffer.from(ftraceText(bytes, bytes.length, options.wordBits, options.symbols), 'latin1')
  } else if (record.payloadLength === undefined) {
    content = recordBytes(record)
  }
  const size = content?.length ?? kernelSize
  return {
    name: fileName(record, options.exactNames, options.backend),
    record,
    get content() {
      content ??= recordBytes(record)
      return content
    },
    size,
    get contentMade() {
      return content !== undefined
    },
    kernelSize,
    mtime: recordTime ?? options.now,
    ctime: recordTime ?? options.now,
    atime: options.now,
    mode: FILE_MODE,
  }
}

export function makeFiles(records: PstoreRecord[], options: ViewOptions): PstoreFile[] {
  const files: PstoreFile[] = []
  const seen = new Set<string>()
  for (const record of records) {
    const key = `${record.type}:${record.id}`
    if (seen.has(key)) continue
    seen.add(key)
    files.push(makeFile(record, options))
  }
  return files
}
