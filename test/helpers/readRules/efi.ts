/**
 * efi-pstore's read rules, written down once from the kernel's source
 * (drivers/firmware/efi/efi-pstore.c of 6.1 and 6.12, fs/pstore/platform.c, lib/ucs2_string.c,
 * lib/vsprintf.c's vsscanf) over the firmware pstore-sim stands in for: Debian's OVMF 2022.11
 * (OvmfPkg/QemuFlashFvbServicesRuntimeDxe, MdeModulePkg/Universal/Variable/RuntimeDxe,
 * MdeModulePkg/Include/Guid/VariableFormat.h). The fuzzer's oracle: what the first read pass of
 * a boot lists for a variable store file, as backend records (before the core inflates them).
 * Independent of src/backend/efi.
 *
 * OVMF (the 4 MiB build: a 0x84000-byte file, the variable area its first 0x40000 bytes):
 * - The FV header must have Revision 2, "_FVH", FvLength 0x84000, an even HeaderLength, u16 words
 *   summing to 0 over HeaderLength, block size 4096 (InitializeVariableFvHeader(): else the whole
 *   file is erased and reformatted), and the variable driver wants the FileSystemGuid
 *   gEfiSystemNvDataFvGuid and a store header (at HeaderLength) with the authenticated signature,
 *   Format 0x5a, State 0xfe (else EFI_VOLUME_CORRUPTED: no variable services). Either way no
 *   record is listed. A store with the non-authenticated signature is walked with 32-byte
 *   headers: not simulated (`unsupported`).
 * - The driver reads a copy of the variable area (0x40000 bytes from the file's start); the
 *   variables run from HEADER_ALIGN(store header + 28) to HEADER_ALIGN(HeaderLength + Size).
 *   A header is valid while it begins before that end and its StartId is 0x55AA; the next one is
 *   at HEADER_ALIGN(header + 60 + NameSize + DataSize) (no padding after the name on x64), where
 *   both sizes count 0 when State, NameSize, DataSize or Attributes is all ones. Nothing checks
 *   that a variable ends before the store does: what the firmware would read past its copy is
 *   not knowable here (`undefined`), nor is a store whose Size runs past the variable area (the
 *   boot's checks and Reclaim() read and write the fault-tolerant-write blocks after it).
 * - Live: State 0x3f (VAR_ADDED) or 0x3e (in delete transition). At runtime only variables with
 *   EFI_VARIABLE_RUNTIME_ACCESS (0x4) are seen, by GetNextVariableName and GetVariable alike.
 * - FindVariableEx(name, guid): the first live variable whose GUID matches and whose stored name
 *   (its NameSize bytes, whatever they hold) equals the caller's buffer over those bytes; a
 *   VAR_ADDED one ends the search, one in transition is kept and returned when no VAR_ADDED one
 *   follows.
 * - GetNextVariableName(buffer, guid): EFI_INVALID_PARAMETER when the buffer has no NUL among its
 *   first size/2 characters; an empty name starts at the first variable (the volatile store comes
 *   first, and has none of pstore's); else FindVariableEx (not found: EFI_INVALID_PARAMETER) and
 *   the walk goes on after it, returning the next live, runtime-visible variable (one in
 *   transition is passed over when a VAR_ADDED twin exists). Its NameSize bytes are copied over
 *   the buffer's start (the rest of the buffer keeps an earlier, longer name), its GUID into
 *   guid; NameSize above the buffer size is EFI_BUFFER_TOO_SMALL. The end is EFI_NOT_FOUND.
 * The kernel:
 * - efi_pstore_read(): the name buffer is 1024 bytes on 6.1 (size passed 1024), record_size bytes
 *   on 6.12 (size passed 512), zeroed when the pass begins. EFI_NOT_FOUND ends the pass; any other
 *   error fails the read, which also ends it. Another GUID's variable is passed over.
 * - efi_pstore_read_func(): ucs2_as_utf8() of the buffer into 66 bytes (a character that does not
 *   fit ends it) and the sscanf() of `dump-type%u-%u-%d-%llu-%c`, then `dump-type%u-%u-%d-%llu`,
 *   then `dump-type%u-%u-%llu` (count 0): none matching returns 0, which ends the pass. Then
 *   GetVariable(buffer, crash GUID) with room for 1024 bytes (6.1) or record_size (6.12): not found
 *   or larger ends the pass; a size of 0 ends it. id = (sec·100 + part)·1000 + count (u64); time
 *   sec as stored, 0 ns; compressed when the %c is 'C'; the type is the %u (pstore_type_to_name()).
 * - pstore_get_backend_records(): at most 65536 reads; a record of a type and id already listed
 *   is dropped (-EEXIST). The firmware's enumeration can cycle (two live variables that match the
 *   same name): with records in the cycle the kernel stops after 65536 reads ("looping?") with what
 *   it listed; without, efi_pstore_read() never returns: the mount hangs and shows nothing.
 */
/** pstore_type_to_name(): enum pstore_type_id; PSTORE_TYPE_MAX and above are "unknown". */
const TYPE_NAMES = ['dmesg', 'mce', 'console', 'ftrace', 'rtas', 'powerpc-ofw', 'powerpc-common', 'pmsg', 'powerpc-opal']

export interface EfiRuleRecord {
  type: string
  id: bigint
  compressed: boolean
  bytes: Buffer
  sec: bigint
  nsec: bigint
}

export type EfiReadPass = { unsupported: string } | { undefined: string } | { records: EfiRuleRecord[]; stop: string }

const FILE_SIZE = 0x84000
const AREA = 0x40000
const HEADER = 60
const VAR_ADDED = 0x3f
const IN_TRANSITION = 0x3e
const RUNTIME_ACCESS = 4
const hex = (s: string) => Buffer.from(s, 'hex')
/** GUIDs as stored (first three fields little-endian). */
const NV_DATA_FV = hex('8d2bf1ff96768b4ca9852747075b4f50')
const AUTH_STORE = hex('782cf3aa7b949a43a1802e144ec37792')
const PLAIN_STORE = hex('1636cfdd75326441 98b6fe85707ffe7d'.replace(' ', ''))
const CRASH = hex('79fcc8cf2ebedc4d97f09f98bfe298a0')
const align4 = (n: number) => Math.ceil(n / 4) * 4

export interface Header {
  at: number
  state: number
  attributes: number
  nameSize: number
  dataSize: number
  guid: Buffer
  next: number
}

class Undefined extends Error {}

/** Why OVMF's variable services would show nothing, or the store's bounds. */
function storeBounds(file: Buffer): EfiReadPass | { start: number; end: number } {
  if (file.length !== FILE_SIZE) return { unsupported: `a ${file.length}-byte file is not OVMF's 4 MiB store` }
  const headerLength = file.readUInt16LE(48)
  let sum = 0
  for (let i = 0; i + 1 < headerLength && i + 1 < AREA; i += 2) sum = (sum + file.readUInt16LE(i)) & 0xffff
  const fvOk =
    file[55] === 2 &&
    file.toString('latin1', 40, 44) === '_FVH' &&
    file.readBigUInt64LE(32) === BigInt(FILE_SIZE) &&
    headerLength % 2 === 0 &&
    sum === 0 &&
    file.readUInt32LE(60) === 4096
  if (!fvOk) return { records: [], stop: 'OVMF reformats the store (invalid firmware volume header)' }
  if (!file.subarray(16, 32).equals(NV_DATA_FV)) return { records: [], stop: 'variable driver: firmware volume corrupted' }
  if (headerLength + 28 > AREA) return { undefined: 'the store header lies past the variable area' }
  const signature = file.subarray(headerLength, headerLength + 16)
  if (signature.equals(PLAIN_STORE)) return { unsupported: 'a non-authenticated store' }
  if (!signature.equals(AUTH_STORE) || file[headerLength + 20] !== 0x5a || file[headerLength + 21] !== 0xfe)
    return { records: [], stop: 'variable driver: store corrupted' }
  const end = align4(headerLength + file.readUInt32LE(headerLength + 16))
  // the boot's checks and Reclaim() then read and write past the variable area (the FTW blocks)
  if (end > AREA) return { undefined: `the store's Size reaches 0x${end.toString(16)}, past the variable area` }
  return { start: align4(headerLength + 28), end }
}

/** The store's valid headers in order (GetNextVariablePtr from the start while IsValidVariableHeader). */
function walk(file: Buffer, start: number, end: number, limit = AREA): Header[] {
  const out: Header[] = []
  for (let at = start; at < end; ) {
    if (at + HEADER > limit) throw new Undefined(`a header at 0x${at.toString(16)} past the firmware's copy of the store`)
    if (file.readUInt16LE(at) !== 0x55aa) break
    const state = file[at + 2] as number
    const attributes = file.readUInt32LE(at + 4)
    let nameSize = file.readUInt32LE(at + 36)
    let dataSize = file.readUInt32LE(at + 40)
    if (state === 0xff || nameSize === 0xffffffff || dataSize === 0xffffffff || attributes === 0xffffffff) nameSize = dataSize = 0
    const next = align4(at + HEADER + nameSize + dataSize)
    out.push({ at, state, attributes, nameSize, dataSize, guid: file.subarray(at + 44, at + 60), next })
    at = next
  }
  return out
}

/** The store's variables as the firmware walks them, whatever the headers say of the store (for the fuzzer: where to mutate, what an event may write). */
export function efiVariables(file: Buffer): Header[] {
  const headerLength = file.readUInt16LE(48)
  if (headerLength + 28 > file.length) return []
  const end = Math.min(file.length, align4(headerLength + file.readUInt32LE(headerLength + 16)))
  try {
    return walk(file, align4(headerLength + 28), end, file.length)
  } catch {
    return []
  }
}

const visible = (h: Header) => (h.state === VAR_ADDED || h.state === IN_TRANSITION) && (h.attributes & RUNTIME_ACCESS) !== 0

/** Where the stored name begins; a name past the firmware's copy is not knowable. */
function nameAt(h: Header): number {
  if (h.at + HEADER + h.nameSize > AREA) throw new Undefined(`a name at 0x${h.at.toString(16)} runs past the firmware's copy of the store`)
  return h.at + HEADER
}

/** The stored name's bytes. */
function storedName(file: Buffer, h: Header): Buffer {
  const at = nameAt(h)
  return file.subarray(at, at + h.nameSize)
}

/** FindVariableEx(): `name` is what the caller's buffer holds from its start. */
function findVariable(file: Buffer, headers: Header[], name: Buffer, guid: Buffer): Header | undefined {
  let inTransition: Header | undefined
  for (const h of headers) {
    if (!visible(h) || !h.guid.equals(guid)) continue
    const at = nameAt(h)
    // compare() over ranges: the same test as comparing the two names' bytes, without a Buffer for each
    if (h.nameSize > name.length) {
      if (file.compare(name, 0, name.length, at, at + name.length) !== 0) continue
      throw new Undefined('the firmware compares a stored name past the caller’s buffer')
    }
    if (file.compare(name, 0, h.nameSize, at, at + h.nameSize) !== 0) continue
    if (h.state === IN_TRANSITION) inTransition = h
    else return h
  }
  return inTransition
}

type NextResult = { header: Header } | { status: 'not found' | 'invalid parameter' | 'buffer too small' }

/** GetNextVariableName() over the NV store (after the volatile store, which holds nothing of pstore's). */
function nextVariable(file: Buffer, headers: Header[], buffer: Buffer, passed: number, guid: Buffer): NextResult {
  const maxLen = passed >> 1
  let nul = false
  for (let i = 0; i < maxLen && !nul; i++) nul = buffer.readUInt16LE(i * 2) === 0
  if (!nul) return { status: 'invalid parameter' }
  let i = 0
  if (buffer.readUInt16LE(0) !== 0) {
    const found = findVariable(file, headers, buffer, guid)
    if (!found) return { status: 'invalid parameter' }
    i = headers.indexOf(found) + 1
  }
  for (; i < headers.length; i++) {
    const h = headers[i] as Header
    if (!visible(h)) continue
    if (h.state === IN_TRANSITION) {
      const rest = file.subarray(h.at + HEADER, AREA)
      const twin = findVariable(file, headers, rest, h.guid)
      if (twin && twin.state === VAR_ADDED) continue
    }
    if (h.nameSize > passed) return { status: 'buffer too small' }
    return { header: h }
  }
  return { status: 'not found' }
}

/** ucs2_as_utf8(name, buffer, 66) and the kernel's sscanf of the three formats. */
interface ParsedName {
  type: number
  part: number
  count: number
  sec: bigint
  compressed: boolean
}

export function parseName(buffer: Buffer): ParsedName | undefined {
  const bytes: number[] = []
  let room = 66
  for (let i = 0; i < 66 && i * 2 + 1 < buffer.length; i++) {
    const c = buffer.readUInt16LE(i * 2)
    if (c === 0) break
    const need = c >= 0x800 ? 3 : c >= 0x80 ? 2 : 1
    if (room < need) break
    room -= need
    if (need === 3) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f))
    else if (need === 2) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f))
    else bytes.push(c)
  }
  const name = Buffer.from(bytes)
  if (room > 0) return scanAll(Buffer.concat([name, Buffer.of(0)]))
  // 66 bytes and no NUL: sscanf() reads on into the kernel's stack; knowable only when it stops first
  const a = JSON.stringify(scanAll(Buffer.concat([name, Buffer.of(0)])), (_k, v) => (typeof v === 'bigint' ? `${v}` : v))
  const b = JSON.stringify(scanAll(Buffer.concat([name, Buffer.from('7-7-7-7-C')])), (_k, v) => (typeof v === 'bigint' ? `${v}` : v))
  if (a !== b) throw new Undefined('a 66-byte name: ucs2_as_utf8() leaves it unterminated and sscanf() reads past it')
  return scanAll(Buffer.concat([name, Buffer.of(0)]))
}

function scanAll(s: Buffer): ParsedName | undefined {
  const five = scan(s, ['u', 'u', 'd', 'llu', 'c'])
  if (five.length === 5) return named(five, true)
  const four = scan(s, ['u', 'u', 'd', 'llu'])
  if (four.length === 4) return named(four, false)
  const three = scan(s, ['u', 'u', 'llu'])
  if (three.length === 3) return { type: Number(three[0]), part: Number(three[1]), count: 0, sec: three[2] as bigint, compressed: false }
  return undefined
}

function named(v: Array<bigint | number>, withKind: boolean): ParsedName {
  return { type: Number(v[0]), part: Number(v[1]), count: Number(v[2]), sec: v[3] as bigint, compressed: withKind && v[4] === 0x43 }
}

/** "dump-type" then conversions separated by '-': the values converted before the first mismatch. */
function scan(s: Buffer, conversions: Array<'u' | 'd' | 'llu' | 'c'>): Array<bigint | number> {
  const out: Array<bigint | number> = []
  if (s.toString('latin1', 0, 9) !== 'dump-type') return out
  let i = 9
  const space = (c: number | undefined) => c !== undefined && ((c >= 9 && c <= 13) || c === 32 || c === 0xa0)
  const digit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39
  for (const [k, conv] of conversions.entries()) {
    if (k > 0) {
      if (s[i] !== 0x2d) return out
      i++
    }
    if (conv === 'c') {
      if (!s[i]) return out // vsscanf() stops at the string's end before any conversion
      out.push(s[i] as number)
      continue
    }
    while (space(s[i])) i++
    let negative = false
    if (conv === 'd' && s[i] === 0x2d && digit(s[i + 1])) {
      negative = true
      i++
    }
    if (!digit(s[i])) return out
    let v = 0n
    while (digit(s[i])) v = BigInt.asUintN(64, v * 10n + BigInt((s[i++] as number) - 0x30))
    if (negative) v = BigInt.asUintN(64, -v)
    out.push(conv === 'llu' ? v : conv === 'u' ? Number(BigInt.asUintN(32, v)) : Number(BigInt.asIntN(32, v)))
  }
  return out
}

/** One read pass of the kernel (`kernel` 6.1 or 6.12, efi_pstore.record_size) over the store file. */
export function efiReadPass(file: Buffer, kernel: '6.1' | '6.12', recordSize: number): EfiReadPass {
  const bounds = storeBounds(file)
  if (!('start' in bounds)) return bounds
  try {
    return readPass(file, walk(file, bounds.start, bounds.end), kernel, recordSize)
  } catch (err) {
    if (err instanceof Undefined) return { undefined: err.message }
    throw err
  }
}

function readPass(file: Buffer, headers: Header[], kernel: '6.1' | '6.12', recordSize: number): EfiReadPass {
  const buffer = Buffer.alloc(kernel === '6.1' ? 1024 : recordSize)
  const passed = kernel === '6.1' ? 1024 : 512
  const dataRoom = kernel === '6.1' ? 1024 : recordSize
  let guid: Buffer = CRASH
  const records: EfiRuleRecord[] = []
  const seenStates = new Map<string, number>()
  for (let reads = 0; reads < 65536; ) {
    const key = `${buffer.toString('latin1')}/${guid.toString('latin1')}`
    const before = seenStates.get(key)
    if (before !== undefined) return before < reads ? { records, stop: 'looping? (65536 reads)' } : { records: [], stop: 'hangs: the mount lists nothing' }
    seenStates.set(key, reads)
    const next = nextVariable(file, headers, buffer, passed, guid)
    if (!('header' in next)) return { records, stop: next.status }
    const h = next.header
    storedName(file, h).copy(buffer, 0)
    guid = h.guid
    if (!guid.equals(CRASH)) continue
    const dump = parseName(buffer)
    if (!dump) return { records, stop: 'unparsable name' }
    const variable = findVariable(file, headers, buffer, CRASH)
    if (!variable) return { records, stop: 'GetVariable: not found' }
    if (variable.dataSize > dataRoom) return { records, stop: 'GetVariable: buffer too small' }
    if (variable.dataSize === 0) return { records, stop: 'size 0' }
    const dataAt = variable.at + HEADER + variable.nameSize
    if (dataAt + variable.dataSize > AREA) throw new Undefined('data past the firmware’s copy of the store')
    reads++
    const type = TYPE_NAMES[dump.type] ?? 'unknown'
    const id = BigInt.asUintN(64, (dump.sec * 100n + BigInt(dump.part >>> 0)) * 1000n + BigInt.asUintN(64, BigInt(dump.count)))
    if (records.some((r) => r.type === type && r.id === id)) continue
    const bytes = Buffer.from(file.subarray(dataAt, dataAt + variable.dataSize))
    records.push({ type, id, compressed: dump.compressed, bytes, sec: BigInt.asIntN(64, dump.sec), nsec: 0n })
  }
  return { records, stop: 'looping? (65536 reads)' }
}
