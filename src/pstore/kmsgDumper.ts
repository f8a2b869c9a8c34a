/**
 * pstore's kmsg dumper (fs/pstore/platform.c pstore_dump() and printk's kmsg_dump_get_buffer(),
 * docs/ramoops-format.md §6.1): on a panic or oops it writes `<Reason>#<n> Part<k>\n` followed by
 * the newest whole log records that fit, compresses the part when it can, and hands it to the
 * backend; part 2 continues backwards from where part 1 began, and so on, until kmsg_bytes
 * bytes were handed over or the log is used up. A backend's refusal does not stop the loop
 * (6.1 ignores the error; 6.12 keeps the first one for a pr_err and goes on).
 */
import type { CompressAlgorithm, CompressionFlavour } from '../format/kernelVersion.js'
import { compress, scratchBufferSize } from './compression.js'
import { type DmesgWrite, KMSG_DUMP } from './record.js'

/** The kmsg_dump reasons the simulated kernel dumps for (`panic --reason`), in the CLI's order. */
export const DUMP_REASONS = ['panic', 'oops', 'emergency', 'shutdown'] as const

export type DumpReason = (typeof DUMP_REASONS)[number]

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
  /** psinfo->bufsize (ramoops: the capacity of dmesg zone 0). */
  bufsize: number
  compress: boolean
  flavour: CompressionFlavour
  /** pstore.compress's algorithm (deflate unless a 4.19–6.5 target names another). */
  algorithm?: CompressAlgorithm
  time: { sec: number; nsec: number }
  /** Deflate exactly as the target kernel does (its window, no stored block first): the backend's records are compared byte for byte. */
  kernelExactDeflate?: boolean
}

/** Whether the dumper runs for this reason (kmsg_dump(): max_reason 0 means Oops). */
export function reasonIsDumped(reason: DumpReason, maxReason: number): boolean {
  const limit = maxReason === KMSG_DUMP.undef ? KMSG_DUMP.oops : maxReason
  return KMSG_DUMP[reason] <= limit
}

/**
 * Where the newest block of whole records before `end` begins, when their total length is at
 * most `room - 1` bytes (find_first_fitting_seq() is given size - 1). `end` when none fits.
 */
function firstFitting(log: string[], end: number, room: number): number {
  let total = 0
  let first = end
  while (first > 0) {
    const length = Buffer.byteLength(log[first - 1], 'latin1')
    if (total + length > room - 1) break
    total += length
    first--
  }
  return first
}

/** The newest block of whole records that fits in `room - 1` bytes, oldest first. */
export function newestRecordsThatFit(log: string[], room: number): string {
  return log.slice(firstFitting(log, log.length, room)).join('')
}

/** Part 1 of a dump, as the backend receives it; undefined when the log is empty. */
export function buildDumpPart(input: DumpInput): DmesgWrite | undefined {
  return buildPart(input, 1, input.log.length)?.write
}

/**
 * Part `part` of a dump from the records before `end`: the write and where its records began
 * (the next part ends there). Undefined when no record is left (kmsg_dump_get_buffer() false).
 */
function buildPart(input: DumpInput, part: number, end: number): { write: DmesgWrite; first: number } | undefined {
  if (end === 0) return undefined
  const reason = KMSG_DUMP[input.reason]
  const header = `${REASON_NAMES[input.reason]}#${input.oopsCount} Part${part}\n`
  if (!input.compress) {
    const first = firstFitting(input.log, end, input.bufsize - header.length)
    const text = input.log.slice(first, end).join('')
    return { write: { part, compressed: false, payload: Buffer.from(header + text, 'latin1'), time: input.time, reason, count: input.oopsCount }, first }
  }
  const scratch = scratchBufferSize(input.flavour, input.bufsize, input.algorithm)
  const first = firstFitting(input.log, end, scratch - header.length)
  const uncompressed = Buffer.from(header + input.log.slice(first, end).join(''), 'latin1')
  const zipped = compress(input.flavour, uncompressed, input.bufsize, input.algorithm, input.kernelExactDeflate)
  if (zipped) return { write: { part, compressed: true, payload: zipped, time: input.time, reason, count: input.oopsCount }, first }
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
  return { write: { part, compressed: false, payload, time: input.time, reason, count: input.oopsCount }, first }
}

/** The default of pstore's kmsg_bytes (CONFIG_PSTORE_DEFAULT_KMSG_BYTES). */
export const DEFAULT_KMSG_BYTES = 10240

/**
 * pstore_dump()'s loop: builds part after part and hands each to `write` until `kmsgBytes`
 * bytes (record sizes as handed over: compressed sizes for compressed parts) were written or
 * the log is used up. Every part is handed over whatever `write` answers for the one before.
 */
export function dumpParts<R>(input: DumpInput & { kmsgBytes: number }, write: (part: DmesgWrite) => R): Array<{ part: DmesgWrite; result: R }> {
  const written: Array<{ part: DmesgWrite; result: R }> = []
  let total = 0
  let end = input.log.length
  for (let part = 1; total < input.kmsgBytes; part++) {
    const built = buildPart(input, part, end)
    if (!built) break
    written.push({ part: built.write, result: write(built.write) })
    total += built.write.payload.length
    // A record longer than a part: the kernel would hand over header-only parts until
    // kmsg_bytes is reached; one is enough to show it (a large kmsg_bytes would not end).
    if (built.first === end) break
    end = built.first
  }
  return written
}
