/**
 * The ASCII header ramoops puts in front of every dmesg record: `====<sec>.<usec>-<C|D>\n`
 * (docs/ramoops-format.md §6.2), and the kernel's sscanf-based reader of it (docs/ramoops-format.md §6.4 step 2).
 */

export interface DmesgHeader {
  /** Seconds (signed) and nanoseconds as the kernel stores them: nsec = parsed µs × 1000. */
  sec: bigint
  nsec: bigint
  compressed: boolean
  /** Bytes consumed, trailing whitespace included; 0 = no header. */
  length: number
}

/** Kernel isspace(): lib/ctype.c classes 0x09-0x0D, space and Latin-1 NBSP (0xA0) as white space. */
export function isKernelSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0xa0
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39
}

const U64 = (1n << 64n) - 1n

/**
 * One pass of the kernel's vsscanf over `====%lld.%lu-%c\n%n` (withType) or `====%lld.%lu\n%n`.
 * Returns the number of conversions and the %n position (undefined when %n was not reached).
 * The snapshot is not NUL-terminated in the kernel either; its end stands for the NUL.
 */
function scan(buf: Uint8Array, withType: boolean): { conversions: number; sec: bigint; usec: bigint; type: number; consumed?: number } {
  let i = 0
  const at = (k: number) => (k < buf.length ? buf[k] : 0)
  const result = { conversions: 0, sec: 0n, usec: 0n, type: 0, consumed: undefined as number | undefined }
  for (const ch of '====') {
    if (at(i) !== ch.charCodeAt(0)) return result
    i++
  }
  // %lld: skips white space, optional '-', decimal digits.
  while (isKernelSpace(at(i)) && i < buf.length) i++
  let negative = false
  if (at(i) === 0x2d) {
    if (!isDigit(at(i + 1))) return result
    negative = true
    i++
  }
  if (!isDigit(at(i))) return result
  let sec = 0n
  while (isDigit(at(i))) sec = (sec * 10n + BigInt(at(i++) - 0x30)) & U64
  // simple_strtoll wraps like the C arithmetic it is
  sec = BigInt.asIntN(64, negative ? -sec : sec)
  result.sec = sec
  result.conversions = 1
  if (at(i) !== 0x2e) return result
  i++
  // %lu: skips white space, digits only (no sign accepted for unsigned)
  while (isKernelSpace(at(i)) && i < buf.length) i++
  if (!isDigit(at(i))) return result
  let usec = 0n
  while (isDigit(at(i))) usec = (usec * 10n + BigInt(at(i++) - 0x30)) & U64
  result.usec = usec
  result.conversions = 2
  if (withType) {
    if (at(i) !== 0x2d) return result
    i++
    if (i >= buf.length) return result // %c at the terminating NUL fails
    result.type = at(i++)
    result.conversions = 3
  }
  // "\n" in the format: any amount of white space, including none.
  while (i < buf.length && isKernelSpace(buf[i])) i++
  result.consumed = i
  return result
}

/** ramoops_read_kmsg_hdr(). */
export function parseDmesgHeader(buf: Uint8Array): DmesgHeader {
  const typed = scan(buf, true)
  if (typed.conversions === 3 && typed.consumed !== undefined) {
    return { sec: typed.sec, nsec: BigInt.asUintN(64, typed.usec * 1000n), compressed: typed.type === 0x43, length: typed.consumed }
  }
  const old = scan(buf, false)
  if (old.conversions === 2 && old.consumed !== undefined) {
    return { sec: old.sec, nsec: BigInt.asUintN(64, old.usec * 1000n), compressed: false, length: old.consumed }
  }
  return { sec: 0n, nsec: 0n, compressed: false, length: 0 }
}

/** ramoops_write_kmsg_hdr(): `====%lld.%06lu-%c\n`. */
export function formatDmesgHeader(sec: bigint | number, nsec: number, compressed: boolean): string {
  const usec = String(Math.floor(nsec / 1000)).padStart(6, '0')
  return `====${sec}.${usec}-${compressed ? 'C' : 'D'}\n`
}
