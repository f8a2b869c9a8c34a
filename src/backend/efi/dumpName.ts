/**
 * efi-pstore's variable names and record ids (drivers/firmware/efi/efi-pstore.c): written as
 * `dump-type<type>-<part>-<count>-<seconds>-C|D`, read back with the kernel's sscanf() of three
 * formats in turn (with C|D; without it; the oldest `dump-type<type>-<part>-<seconds>`), id =
 * (seconds·100 + part)·1000 + count.
 */

/** LINUX_EFI_CRASH_GUID, the vendor GUID of every variable efi-pstore writes and reads. */
export const LINUX_EFI_CRASH_GUID_TEXT = 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0'
/** EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS. */
export const PSTORE_EFI_ATTRIBUTES = 7
/** DUMP_NAME_LEN: the name buffer, NUL included (the kernel converts at most this many bytes). */
export const DUMP_NAME_LEN = 66

export interface DumpName {
  /** enum pstore_type_id as written (0 = dmesg). */
  type: number
  part: number
  count: number
  seconds: bigint
  compressed: boolean
}

export function dumpVariableName(part: number, count: number, seconds: number | bigint, compressed: boolean): string {
  return `dump-type0-${part}-${count}-${seconds}-${compressed ? 'C' : 'D'}`
}

/** generic_id(): u64 arithmetic. */
export function genericId(seconds: bigint, part: number, count: number): bigint {
  return BigInt.asUintN(64, (seconds * 100n + BigInt(part >>> 0)) * 1000n + BigInt.asUintN(64, BigInt(count | 0)))
}

type Conversion = 'u' | 'd' | 'llu' | 'c'
const FORMATS: Array<Array<string | Conversion>> = [
  ['dump-type', 'u', '-', 'u', '-', 'd', '-', 'llu', '-', 'c'],
  ['dump-type', 'u', '-', 'u', '-', 'd', '-', 'llu'],
  ['dump-type', 'u', '-', 'u', '-', 'llu'],
]

/** isspace() over the latin1 text kernelUtf8() makes: \t \n \v \f \r, space and 0xA0 (the kernel's ctype, as /\s/ there). */
const isSpace = (c: number): boolean => (c >= 9 && c <= 13) || c === 32 || c === 0xa0
/** NaN (past the end) is no digit. */
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/**
 * The kernel's vsscanf() for these formats: literal characters must match, a number skips
 * white space first, takes an optional '-' only when signed, and wraps to its type; %c takes the
 * next character. Returns the values converted before the first mismatch.
 */
function scan(text: string, format: Array<string | Conversion>): Array<bigint | string> {
  const values: Array<bigint | string> = []
  let i = 0
  for (const item of format) {
    if (item === 'c') {
      if (i >= text.length) break
      values.push(text[i] as string)
      i++
      continue
    }
    if (item !== 'u' && item !== 'd' && item !== 'llu') {
      if (!text.startsWith(item, i)) break
      i += item.length
      continue
    }
    while (i < text.length && isSpace(text.charCodeAt(i))) i++
    let negative = false
    if (item === 'd' && text[i] === '-' && isDigit(text.charCodeAt(i + 1))) {
      negative = true
      i++
    }
    if (!isDigit(text.charCodeAt(i))) break
    let value = 0n
    while (i < text.length && isDigit(text.charCodeAt(i))) value = BigInt.asUintN(64, value * 10n + BigInt(text.charCodeAt(i++) - 0x30))
    if (negative) value = BigInt.asUintN(64, -value)
    values.push(item === 'llu' ? value : item === 'u' ? BigInt.asUintN(32, value) : BigInt.asIntN(32, value))
  }
  return values
}

/**
 * ucs2_as_utf8(name, varname, DUMP_NAME_LEN): the UTF-16 units up to the first NUL, at most 66,
 * each as UTF-8 (any unit, surrogates included, as its own 1–3 bytes) while it fits in 66 bytes; a
 * unit that does not fit ends it. (When all 66 bytes are used the kernel writes no NUL and its
 * sscanf reads on into its stack: here the name ends there.)
 */
function kernelUtf8(name: string): string {
  const bytes: number[] = []
  let room = DUMP_NAME_LEN
  for (let i = 0; i < name.length && i < DUMP_NAME_LEN; i++) {
    const c = name.charCodeAt(i)
    if (c === 0) break
    const need = c >= 0x800 ? 3 : c >= 0x80 ? 2 : 1
    if (room < need) break
    room -= need
    if (need === 3) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
    else if (need === 2) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f))
    else bytes.push(c)
  }
  return Buffer.from(bytes).toString('latin1')
}

/** efi_pstore_read_func()'s parse of a crash-GUID variable's name; undefined ends the read pass. */
export function parseDumpName(name: string): DumpName | undefined {
  const text = kernelUtf8(name)
  const full = scan(text, FORMATS[0] as Array<string | Conversion>)
  if (full.length === 5) {
    const [type, part, count, seconds, kind] = full as [bigint, bigint, bigint, bigint, string]
    return { type: Number(type), part: Number(part), count: Number(count), seconds, compressed: kind === 'C' }
  }
  const four = scan(text, FORMATS[1] as Array<string | Conversion>)
  if (four.length === 4) {
    const [type, part, count, seconds] = four as [bigint, bigint, bigint, bigint]
    return { type: Number(type), part: Number(part), count: Number(count), seconds, compressed: false }
  }
  const old = scan(text, FORMATS[2] as Array<string | Conversion>)
  if (old.length === 3) {
    const [type, part, seconds] = old as [bigint, bigint, bigint]
    return { type: Number(type), part: Number(part), count: 0, seconds, compressed: false }
  }
  return undefined
}
