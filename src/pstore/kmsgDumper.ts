/**
 * pstore's kmsg dumper (fs/pstore/platform.c pstore_dump() and printk's kmsg_dump_get_buffer(),
 * docs/ramoops-format.md §6.1): on a panic or oops it writes `<Reason>#<n> Part1\n` followed by the newest whole log
 * records that fit, compresses the part when it can, and hands it to the backend. ramoops keeps
 * only part 1, so this builds exactly that part.
 */
import type { CompressionFlavour } from '../format/kernelVersion.js'
import { compress, scratchBufferSize } from './compression.js'
import { type DmesgWrite, KMSG_DUMP } from './record.js'

export type DumpReason = 'panic' | 'oops' | 'emergency' | 'shutdown'

export const REASON_NAMES: Record<DumpReason, string> = { panic: 'Panic', oops: 'Oops', emergency: 'Emergency', shutdown: 'Shutdown' }

/** One printk record of the kernel log. */
export interface LogRecord {
  /** Syslog facility: 0 kernel, 1 user (/dev/kmsg writes). */
  facility: number
  /** 0 (emerg) … 7 (debug). */
  level: number
  /** Time since boot in microseconds. */
  uptimeUs: number
  text: string
}

function timePrefix(uptimeUs: number): string {
  const sec = Math.floor(uptimeUs / 1e6)
  const usec = uptimeUs % 1e6
  return `[${String(sec).padStart(5, ' ')}.${String(usec).padStart(6, '0')}]`
}

/** record_print_text(syslog = true): `<P>[    1.000000] text\n`, the prefix on every line. */
export function formatSyslogRecord(record: LogRecord): string {
  const prefix = `<${record.facility * 8 + record.level}>${timePrefix(record.uptimeUs)} `
  return record.text
    .split('\n')
    .map((line) => prefix + line + '\n')
    .join('')
}

/** What a console driver (and pstore's console zone) receives: no `<P>`. */
export function formatConsoleRecord(record: LogRecord): string {
  const prefix = `${timePrefix(record.uptimeUs)} `
  return record.text
    .split('\n')
    .map((line) => prefix + line + '\n')
    .join('')
}

const SYSLOG_LINE = /^<\d{1,3}>(\[[ \d]+\.\d+\] )?/

/**
 * A user's log: lines that already look like `<P>[ sec.usec] text` are kept as they are; plain
 * lines become KERN_INFO records stamped `startUs`, `startUs + 1 µs`, … . Returns formatted records.
 */
export function logFromText(text: string, startUs: number, level = 6): string[] {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines.map((line, i) => (SYSLOG_LINE.test(line) ? line + '\n' : formatSyslogRecord({ facility: 0, level, uptimeUs: startUs + i, text: line })))
}

export interface DumpInput {
  reason: DumpReason
  /** This boot's oops counter after the increment: the first dump of a boot is 1. */
  oopsCount: number
  /** Formatted log records, oldest first, each ending in a newline. */
  log: string[]
  /** Capacity of dmesg zone 0 (psinfo->bufsize). */
  bufsize: number
  compress: boolean
  flavour: CompressionFlavour
  time: { sec: number; nsec: number }
}

/** Whether the dumper runs for this reason (kmsg_dump(): max_reason 0 means Oops). */
export function reasonIsDumped(reason: DumpReason, maxReason: number): boolean {
  const limit = maxReason === KMSG_DUMP.undef ? KMSG_DUMP.oops : maxReason
  return KMSG_DUMP[reason] <= limit
}

/**
 * The newest block of whole records whose total length is at most `room - 1` bytes
 * (find_first_fitting_seq() is given size - 1), oldest first.
 */
export function newestRecordsThatFit(log: string[], room: number): string {
  let total = 0
  let first = log.length
  while (first > 0) {
    const length = Buffer.byteLength(log[first - 1], 'latin1')
    if (total + length > room - 1) break
    total += length
    first--
  }
  return log.slice(first).join('')
}

/** Part 1 of a dump, as the backend receives it; undefined when the log is empty. */
export function buildDumpPart(input: DumpInput): DmesgWrite | undefined {
  if (input.log.length === 0) return undefined
  const header = `${REASON_NAMES[input.reason]}#${input.oopsCount} Part1\n`
  if (!input.compress) {
    const text = newestRecordsThatFit(input.log, input.bufsize - header.length)
    return { part: 1, compressed: false, payload: Buffer.from(header + text, 'latin1'), time: input.time }
  }
  const scratch = scratchBufferSize(input.flavour, input.bufsize)
  const uncompressed = Buffer.from(header + newestRecordsThatFit(input.log, scratch - header.length), 'latin1')
  const zipped = compress(input.flavour, uncompressed, input.bufsize)
  if (zipped) return { part: 1, compressed: true, payload: zipped, time: input.time }
  // Compression failed: each generation falls back differently.
  let payload: Buffer
  if (input.flavour === 'zlib-raw-15') {
    payload = Buffer.alloc(input.bufsize) // the first bufsize bytes of the scratch buffer
    uncompressed.copy(payload, 0, 0, Math.min(uncompressed.length, input.bufsize))
  } else if (uncompressed.length > input.bufsize) {
    // copy_kmsg_to_buffer(): the header line, then the newest bytes that fit
    payload = Buffer.concat([uncompressed.subarray(0, header.length), uncompressed.subarray(uncompressed.length - (input.bufsize - header.length))])
  } else {
    payload = uncompressed
  }
  return { part: 1, compressed: false, payload, time: input.time }
}
