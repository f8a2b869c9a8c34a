/**
 * pstore ftrace records: binary layout, the per-CPU merge done when ramoops reads them back,
 * and the text `cat /sys/fs/pstore/ftrace-ramoops-0` prints (Linux 4.11+ format; checked against
 * 6.1 and current mainline: fs/pstore/ftrace.c, fs/pstore/inode.c, fs/pstore/ram.c,
 * include/linux/pstore.h, lib/vsprintf.c).
 *
 * Record (`struct pstore_ftrace_record`, native endian; little-endian here):
 *   64-bit: ip u64 @0, parent_ip u64 @8, ts u64 @16 (24 bytes)
 *   32-bit: ip u32 @0, parent_ip u32 @4, ts u64 @8  (16 bytes)
 * CPU encoding: normally `ts = (counter << 8) | cpu` (cpu is OR-ed in unmasked, exactly like the
 * kernel; the reader takes `ts & 0xff` as the CPU and `ts >> 8` as the timestamp). On 32-bit ARM
 * with few CPUs (PSTORE_CPU_IN_IP: mask 0x3, or 0x1 for Thumb with NR_CPUS <= 2) the CPU is OR-ed
 * into `ip` and `ts` is the plain counter: pass `cpuInIp: { mask }` for that variant. The decoded
 * `ip` is the stored value (CPU bits included), which is what the kernel prints and looks up.
 *
 * Text line (seq_file, one per whole record), from inode.c:
 *   "CPU:%d ts:%llu %08lx  %08lx  %ps <- %pS\n"
 *   (cpu, timestamp, ip, parent_ip, ip symbol name, parent_ip as name+0xoff/0xsize)
 * Iteration starts at byte (file size % record size) of the record buffer and stops before a record
 * that would pass the file size. The file size counts the ECC notice appended after the binary
 * data, so with ECC on the start offset is shifted and the notice bytes themselves are decoded as
 * (garbage) records: a kernel quirk reproduced here.
 */
import type { SymbolTable } from './symbols.js'

export type WordBits = 64 | 32

export interface FtraceRecord {
  ip: bigint
  parentIp: bigint
  timestamp: bigint
  cpu: number
}

/** The CPU-in-ip variant (32-bit ARM): `mask` is PSTORE_CPU_IN_IP (0x3, or 0x1 for Thumb). */
export interface CpuInIp {
  mask: number
}

/** The notice a 5.18+ kernel (6.1, 6.12) appends to a record read from an ECC zone without errors. */
export const ECC_NOTICE_NO_ERRORS = '\nECC: No errors detected\n'

const TS_CPU_SHIFT = 8n
const TS_CPU_MASK = 0xffn
const U64_MASK = (1n << 64n) - 1n

function checkWordBits(wordBits: WordBits): void {
  if (wordBits !== 64 && wordBits !== 32) {
    throw new RangeError(`wordBits must be 64 or 32, got ${String(wordBits)}`)
  }
}

function checkCpuInIp(cpuInIp: CpuInIp | undefined): void {
  if (cpuInIp === undefined) return
  const m = cpuInIp.mask
  if (!Number.isInteger(m) || m <= 0 || m > 0xff) {
    throw new RangeError(`cpuInIp.mask must be a small positive integer (0x1 or 0x3), got ${String(m)}`)
  }
}

function wordMask(wordBits: WordBits): bigint {
  return (1n << BigInt(wordBits)) - 1n
}

/** sizeof(struct pstore_ftrace_record): 24 on 64-bit, 16 on 32-bit. */
export function ftraceRecordSize(wordBits: WordBits): number {
  checkWordBits(wordBits)
  return wordBits === 64 ? 24 : 16
}

function readWord(view: DataView, offset: number, wordBits: WordBits): bigint {
  return wordBits === 64 ? view.getBigUint64(offset, true) : BigInt(view.getUint32(offset, true))
}

function writeWord(view: DataView, offset: number, value: bigint, wordBits: WordBits): void {
  if (wordBits === 64) view.setBigUint64(offset, value, true)
  else view.setUint32(offset, Number(value), true)
}

function checkUnsigned(name: string, value: bigint, max: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > max) {
    throw new RangeError(`${name} ${String(value)} does not fit in an unsigned ${max.toString(2).length}-bit field`)
  }
}

/**
 * Builds one binary record as pstore_ftrace_call() does: ip and parent_ip as given, the timestamp
 * written first, then the CPU OR-ed into ts (or into ip with `cpuInIp`).
 */
export function encodeFtraceRecord(rec: FtraceRecord, wordBits: WordBits, cpuInIp?: CpuInIp): Buffer {
  const size = ftraceRecordSize(wordBits)
  checkCpuInIp(cpuInIp)
  const mask = wordMask(wordBits)
  checkUnsigned('ip', rec.ip, mask)
  checkUnsigned('parentIp', rec.parentIp, mask)
  if (!Number.isInteger(rec.cpu) || rec.cpu < 0 || rec.cpu > 0xffffffff) {
    throw new RangeError(`cpu ${String(rec.cpu)} is not an unsigned int`)
  }
  const cpu = BigInt(rec.cpu)
  let ip = rec.ip
  let ts: bigint
  if (cpuInIp) {
    checkUnsigned('timestamp', rec.timestamp, U64_MASK)
    ts = rec.timestamp
    ip = (ip | cpu) & mask
  } else {
    checkUnsigned('timestamp', rec.timestamp, U64_MASK >> TS_CPU_SHIFT)
    ts = ((rec.timestamp << TS_CPU_SHIFT) & ~TS_CPU_MASK & U64_MASK) | cpu
    ts &= U64_MASK
  }
  const buf = Buffer.alloc(size)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const wordBytes = wordBits / 8
  writeWord(view, 0, ip, wordBits)
  writeWord(view, wordBytes, rec.parentIp, wordBits)
  view.setBigUint64(2 * wordBytes, ts, true)
  return buf
}

function decodeAt(view: DataView, offset: number, wordBits: WordBits, cpuInIp?: CpuInIp): FtraceRecord {
  const wordBytes = wordBits / 8
  const ip = readWord(view, offset, wordBits)
  const parentIp = readWord(view, offset + wordBytes, wordBits)
  const ts = view.getBigUint64(offset + 2 * wordBytes, true)
  if (cpuInIp) {
    return { ip, parentIp, timestamp: ts, cpu: Number(ip & BigInt(cpuInIp.mask)) }
  }
  return { ip, parentIp, timestamp: ts >> TS_CPU_SHIFT, cpu: Number(ts & TS_CPU_MASK) }
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
}

/** Decodes the whole records of `buf` from offset 0; trailing bytes short of a record are ignored. */
export function decodeFtraceRecords(buf: Uint8Array, wordBits: WordBits, cpuInIp?: CpuInIp): FtraceRecord[] {
  const size = ftraceRecordSize(wordBits)
  checkCpuInIp(cpuInIp)
  const view = viewOf(buf)
  const out: FtraceRecord[] = []
  for (let off = 0; off + size <= buf.length; off += size) out.push(decodeAt(view, off, wordBits, cpuInIp))
  return out
}

/** pstore_ftrace_read_timestamp(): what the merge compares. */
function mergeKey(view: DataView, offset: number, wordBits: WordBits, cpuInIp?: CpuInIp): bigint {
  const ts = view.getBigUint64(offset + wordBits / 4, true)
  return cpuInIp ? ts : ts >> TS_CPU_SHIFT
}

/**
 * pstore_ftrace_combine_log(): one merge step, literally. Each input loses its first
 * (length % record size) bytes; then a single two-way merge pass: the accumulated record goes
 * first only if its timestamp is strictly less, otherwise (ties included) the new zone's record.
 * Per-CPU logs are not sorted (the global counter is not atomic), so this is not a sort.
 */
function combine(dest: Uint8Array, src: Uint8Array, wordBits: WordBits, cpuInIp?: CpuInIp): Buffer {
  const size = ftraceRecordSize(wordBits)
  const d = dest.subarray(dest.length % size)
  const s = src.subarray(src.length % size)
  const dv = viewOf(d)
  const sv = viewOf(s)
  const out = Buffer.alloc(d.length + s.length)
  let di = 0
  let si = 0
  let oi = 0
  while (di < d.length && si < s.length) {
    if (mergeKey(dv, di, wordBits, cpuInIp) < mergeKey(sv, si, wordBits, cpuInIp)) {
      out.set(d.subarray(di, di + size), oi)
      di += size
    } else {
      out.set(s.subarray(si, si + size), oi)
      si += size
    }
    oi += size
  }
  out.set(d.subarray(di), oi)
  oi += d.length - di
  out.set(s.subarray(si), oi)
  return out
}

/**
 * The kernel's per-CPU merge (ramoops_pstore_read + pstore_ftrace_combine_log): given the
 * snapshots of each CPU zone in zone order (empty ones included), drop each one's first
 * (len % recordSize) bytes and merge by timestamp exactly as the kernel does (strict less-than
 * keeps the earlier list, ties take the new CPU's record). Returns the combined binary log.
 *
 * The result is always a whole number of records. An empty result means the kernel creates no
 * `ftrace-ramoops-0` file unless ECC is on (then the file holds just the ECC notice).
 * `cpuInIp` selects the 32-bit ARM timestamp layout (the merge then compares the raw ts).
 */
export function mergePerCpuFtrace(snapshots: Uint8Array[], wordBits: WordBits, cpuInIp?: CpuInIp): Buffer {
  ftraceRecordSize(wordBits)
  checkCpuInIp(cpuInIp)
  let merged: Buffer = Buffer.alloc(0)
  for (const snap of snapshots) {
    if (snap.length === 0) continue // ramoops skips zones without data (merging them changes nothing)
    merged = combine(merged, snap, wordBits, cpuInIp)
  }
  return merged
}

/** `%08lx`: lowercase hex, zero padded to at least 8 digits. */
function hex08(v: bigint): string {
  return v.toString(16).padStart(8, '0')
}

/**
 * The record buffer the kernel iterates over: `fileSize` bytes, i.e. the binary data followed by
 * the ECC notice when there is one.
 */
function recordBuffer(data: Uint8Array, fileSize: number, eccNotice?: string | Uint8Array): Uint8Array {
  if (data.length >= fileSize) return data.subarray(0, fileSize)
  const missing = fileSize - data.length
  let notice: Uint8Array
  if (eccNotice !== undefined) {
    notice = noticeBytes(eccNotice)
    if (notice.length !== missing) {
      throw new RangeError(`fileSize ${fileSize} minus ${data.length} data bytes leaves ${missing} bytes, but the ECC notice has ${notice.length}`)
    }
  } else if (missing === ECC_NOTICE_NO_ERRORS.length) {
    notice = Buffer.from(ECC_NOTICE_NO_ERRORS, 'latin1')
  } else {
    throw new RangeError(
      `fileSize ${fileSize} exceeds the ${data.length} data bytes by ${missing}: pass the ECC notice ` +
        `(or data followed by it); only the ${ECC_NOTICE_NO_ERRORS.length}-byte "no errors" notice is assumed`,
    )
  }
  const full = Buffer.alloc(fileSize)
  full.set(data, 0)
  full.set(notice, data.length)
  return full
}

function noticeBytes(notice: string | Uint8Array): Uint8Array {
  return typeof notice === 'string' ? Buffer.from(notice, 'latin1') : notice
}

/**
 * What `cat ftrace-ramoops-0` returns for a record whose binary content is `data` and whose
 * reported file size is `fileSize` (binary size + any ECC notice length): the kernel's seq_file
 * iteration starts at offset (fileSize % recordSize) and prints one line per whole record.
 *
 * The kernel iterates over its record buffer, which is the binary data followed by the ECC notice.
 * `data` may be that whole buffer (length >= fileSize; bytes past fileSize are never shown) or the
 * binary data alone; then the missing `fileSize - data.length` bytes are `eccNotice` if given, or
 * else the 25-byte "\nECC: No errors detected\n" of 5.18+ kernels (any other gap is an error).
 * With ECC on the start offset is shifted by the notice length and records straddling into the
 * notice are printed as decoded garbage, exactly like the kernel. fileSize < recordSize gives "".
 */
export function ftraceText(
  data: Uint8Array,
  fileSize: number,
  wordBits: WordBits,
  symbols?: SymbolTable,
  cpuInIp?: CpuInIp,
  eccNotice?: string | Uint8Array,
): string {
  const size = ftraceRecordSize(wordBits)
  checkCpuInIp(cpuInIp)
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
    throw new RangeError(`fileSize must be a non-negative integer, got ${String(fileSize)}`)
  }
  const buf = recordBuffer(data, fileSize, eccNotice)
  const view = viewOf(buf)
  const short = (a: bigint): string => (symbols ? symbols.formatShort(a) : `0x${a.toString(16)}`)
  const long = (a: bigint): string => (symbols ? symbols.formatLong(a) : `0x${a.toString(16)}`)
  const lines: string[] = []
  for (let off = fileSize % size; off + size <= fileSize; off += size) {
    const rec = decodeAt(view, off, wordBits, cpuInIp)
    lines.push(`CPU:${rec.cpu} ts:${rec.timestamp} ${hex08(rec.ip)}  ${hex08(rec.parentIp)}  ` + `${short(rec.ip)} <- ${long(rec.parentIp)}\n`)
  }
  return lines.join('')
}
