/**
 * An OVMF variable store (edk2 MdeModulePkg/Include/Guid/VariableFormat.h, the flash layout of
 * OvmfPkg's VarStore.fdf.inc), as the pflash unit 1 file QEMU gives OVMF:
 *
 *   0      firmware volume header (48 + block map): ZeroVector, FileSystemGuid
 *          fff12b8d-7696-4c8b-a985-2747075b4f50, FvLength, "_FVH", Attributes, HeaderLength,
 *          Checksum (the header's u16 words sum to 0), Revision 2, block map {count, 4096}, {0, 0}
 *   0x48   authenticated variable store header (28): Signature aaf32c78-947b-439a-a180-2e144ec37792,
 *          Size (from 0x48 to the store's end), Format 0x5a, State 0xfe, reserved
 *   0x64   variables, each at a 4-byte boundary: a 60-byte header (StartId 0x55AA, State,
 *          Attributes, MonotonicCount, TimeStamp, PubKeyIndex, NameSize, DataSize, VendorGuid),
 *          the UTF-16LE name with its NUL, the data; the rest of the store 0xFF (flash erased)
 *   after  (the 4M layout) an event log block, the fault-tolerant-write working block (its
 *          header: signature 9e58292b-7c68-497d-a0ce-6500fd9f1b95, CRC32, state, queue size)
 *          and the FTW spare area, all erased.
 *
 * A variable's life is in its State byte, where flash only clears bits: written 0x3f (VAR_ADDED),
 * deleted by clearing bit 1 (0x3d, VAR_DELETED), replaced by clearing bit 0 first (0x3e,
 * VAR_IN_DELETED_TRANSITION) and then bit 1 (0x3c). The variable list ends at the first header
 * whose StartId is not 0x55AA. Firmware reclaims deleted variables' space only at boot (Reclaim()).
 */
import type { RegionImage } from '../../format/region.js'

export const FV_HEADER_LENGTH = 0x48
/** OVMF's 4 MiB build's variable flash (OVMF_VARS_4M.fd): the default store size. */
export const OVMF_4M_SIZE = 0x84000
export const STORE_HEADER_SIZE = 28
export const VARIABLE_HEADER_SIZE = 60
export const START_ID = 0x55aa
export const VAR_ADDED = 0x3f
/** State &= VAR_DELETED: the one bit an erase clears. */
export const VAR_DELETED = 0xfd
export const VAR_IN_DELETED_TRANSITION = 0xfe
export const STORE_FORMATTED = 0x5a
export const STORE_HEALTHY = 0xfe

/** EFI GUIDs as the 16 bytes stored (the first three fields little-endian). */
export function guidBytes(text: string): Buffer {
  const h = text.replace(/-/g, '')
  const b = Buffer.from(h, 'hex')
  b.subarray(0, 4).reverse()
  b.subarray(4, 6).reverse()
  b.subarray(6, 8).reverse()
  return b
}

export function guidText(bytes: Uint8Array): string {
  const b = Buffer.from(bytes)
  const le = Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8),
  ])
  const h = le.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

export const FV_SYSTEM_GUID = guidBytes('fff12b8d-7696-4c8b-a985-2747075b4f50')
export const AUTH_STORE_GUID = guidBytes('aaf32c78-947b-439a-a180-2e144ec37792')
/** gEfiVariableGuid: a store whose variables have the 32-byte header of non-authenticated firmware. */
export const PLAIN_STORE_GUID = guidBytes('ddcf3616-3275-4164-98b6-fe85707ffe7d')
export const FTW_WORKING_GUID = guidBytes('9e58292b-7c68-497d-a0ce-6500fd9f1b95')

/** One variable as it lies in the store. */
export interface StoredVariable {
  offset: number
  state: number
  attributes: number
  nameSize: number
  dataSize: number
  guid: Buffer
  /** The name without its NUL (UTF-16LE decoded; what is after a NUL inside NameSize is dropped). */
  name: string
  /** The stored name's NameSize bytes (what the firmware compares and copies; cut at the file's end). */
  rawName: Buffer
  /** Where the data begins, and where the next header begins (4-byte aligned; past the store for a variable that runs over its end). */
  dataOffset: number
  end: number
}

/** VAR_ADDED, or in delete transition (firmware still returns it until the replacement is added). */
export function isLive(state: number): boolean {
  return state === VAR_ADDED || state === (VAR_ADDED & VAR_IN_DELETED_TRANSITION)
}

export interface StoreGeometry {
  /** Where the variable store header is (the FV's HeaderLength). */
  headerAt: number
  /** The first variable's offset. */
  start: number
  /** One past the store's last byte (headerAt + the store header's Size). */
  end: number
}

/** HEADER_ALIGN() in UINTN arithmetic (JS bit operators would wrap past 2^31). */
const align4 = (n: number): number => Math.ceil(n / 4) * 4

export class VariableStore {
  constructor(readonly region: RegionImage) {}

  /**
   * Why OVMF would not use this file as its variable store, or undefined. OVMF's flash driver
   * (QemuFlashFvbServicesRuntimeDxe: ValidateFvHeader, InitializeVariableFvHeader) erases and
   * reformats a store whose volume header lacks Revision 2, "_FVH", an even HeaderLength, a zero
   * word sum, the FvLength of the whole file or 4 KiB blocks; the variable driver
   * (InitRealNonVolatileVariableStore) gives no variable services without the volume's
   * FileSystemGuid or a formatted, healthy store header. Either way no record is listed.
   */
  invalid(): string | undefined {
    const r = this.region
    if (r.size < FV_HEADER_LENGTH + STORE_HEADER_SIZE) return `the file is ${r.size} bytes, too small for a firmware volume`
    const fv = r.view(0, FV_HEADER_LENGTH)
    if (fv.toString('latin1', 40, 44) !== '_FVH') return 'no firmware volume header ("_FVH" at 40)'
    const headerLength = fv.readUInt16LE(48)
    if (headerLength < 56 || headerLength % 2 || headerLength + STORE_HEADER_SIZE > r.size)
      return `the firmware volume's HeaderLength ${headerLength} is invalid`
    const words = r.view(0, headerLength)
    let sum = 0
    for (let i = 0; i + 1 < words.length; i += 2) sum = (sum + words.readUInt16LE(i)) & 0xffff
    if (sum !== 0) return 'the firmware volume header checksum is wrong (OVMF would erase and reformat the store)'
    if (fv[55] !== 2) return `the firmware volume's Revision is ${fv[55]}, not 2 (OVMF would erase and reformat the store)`
    if (fv.readBigUInt64LE(32) !== BigInt(r.size))
      return `the firmware volume's FvLength ${fv.readBigUInt64LE(32)} is not the file's ${r.size} bytes (OVMF would erase and reformat the store)`
    if (fv.readUInt32LE(60) !== 4096) return `the firmware volume's block size is ${fv.readUInt32LE(60)}, not 4096 (OVMF would erase and reformat the store)`
    if (!fv.subarray(16, 32).equals(FV_SYSTEM_GUID))
      return "the firmware volume's FileSystemGuid is not gEfiSystemNvDataFvGuid (the variable driver finds the store corrupted)"
    const store = r.view(headerLength, STORE_HEADER_SIZE)
    const guid = store.subarray(0, 16)
    if (guid.equals(PLAIN_STORE_GUID))
      return 'the store holds non-authenticated variables (gEfiVariableGuid): only the authenticated format OVMF uses is supported'
    if (!guid.equals(AUTH_STORE_GUID)) return 'no authenticated variable store header after the firmware volume header'
    const size = store.readUInt32LE(16)
    if (headerLength + size > r.size || size < STORE_HEADER_SIZE) return `the variable store's Size ${size} runs past the file`
    if (store[20] !== STORE_FORMATTED || store[21] !== STORE_HEALTHY)
      return `the variable store header is not formatted and healthy (Format 0x${store[20].toString(16)}, State 0x${store[21].toString(16)})`
    return undefined
  }

  geometry(): StoreGeometry {
    const headerAt = this.region.view(48, 2).readUInt16LE(0)
    const size = this.region.u32(headerAt + 16)
    // GetEndPointer(): HEADER_ALIGN(store header + Size)
    return { headerAt, start: align4(headerAt + STORE_HEADER_SIZE), end: align4(headerAt + size) }
  }

  /**
   * Every variable, live or deleted, in store order, walked as the variable driver walks it
   * (GetNextVariablePtr() while IsValidVariableHeader()): a header counts while it begins before
   * the store's end and its StartId is 0x55AA; NameSize and DataSize count 0 when State,
   * NameSize, DataSize or Attributes is all ones; nothing checks that a variable ends before the
   * store does (its `end` may lie past it, and the walk ends there).
   */
  variables(): StoredVariable[] {
    const { start, end } = this.geometry()
    const out: StoredVariable[] = []
    const size = this.region.size
    for (let at = start; at < end && at + VARIABLE_HEADER_SIZE <= size; ) {
      const h = this.region.view(at, VARIABLE_HEADER_SIZE)
      if (h.readUInt16LE(0) !== START_ID) break
      const state = h[2] as number
      const attributes = h.readUInt32LE(4)
      let nameSize = h.readUInt32LE(36)
      let dataSize = h.readUInt32LE(40)
      if (state === 0xff || nameSize === 0xffffffff || dataSize === 0xffffffff || attributes === 0xffffffff) nameSize = dataSize = 0
      const next = align4(at + VARIABLE_HEADER_SIZE + nameSize + dataSize)
      const nameAt = at + VARIABLE_HEADER_SIZE
      const rawName = Buffer.from(this.region.view(Math.min(nameAt, size), Math.max(0, Math.min(nameSize, size - nameAt))))
      const raw = rawName.subarray(0, rawName.length & ~1).toString('utf16le')
      const nul = raw.indexOf('\0')
      out.push({
        offset: at,
        state,
        attributes,
        nameSize,
        dataSize,
        guid: Buffer.from(h.subarray(44, 60)),
        name: nul < 0 ? raw : raw.slice(0, nul),
        rawName,
        dataOffset: nameAt + nameSize,
        end: next,
      })
      at = next
    }
    return out
  }

  /**
   * The variables GetNextVariableName() walks, in store order: VAR_ADDED ones, and one in delete
   * transition only while no VAR_ADDED copy of it exists (the firmware's replacement not yet written).
   */
  listed(variables = this.variables()): StoredVariable[] {
    const added = (v: StoredVariable) => variables.some((o) => o.state === VAR_ADDED && o.name === v.name && o.guid.equals(v.guid))
    return variables.filter((v) => v.state === VAR_ADDED || (isLive(v.state) && !added(v)))
  }

  /** Where the next variable would be written: after the last header (the start when there is none). */
  freeOffset(variables = this.variables()): number {
    return variables.length ? (variables[variables.length - 1] as StoredVariable).end : this.geometry().start
  }

  /** The variable's data (cut at the file's end). */
  data(v: StoredVariable): Buffer {
    const at = Math.min(v.dataOffset, this.region.size)
    return Buffer.from(this.region.view(at, Math.max(0, Math.min(v.dataSize, this.region.size - at))))
  }

  /** The live variable of this name and GUID (FindVariable()), if any. */
  find(name: string, guid: Buffer, variables = this.variables()): StoredVariable | undefined {
    return (
      variables.find((v) => v.name === name && v.guid.equals(guid) && v.state === VAR_ADDED) ??
      variables.find((v) => v.name === name && v.guid.equals(guid) && isLive(v.state))
    )
  }

  /** The bytes a variable takes: header, name with NUL, data, up to the next 4-byte boundary. */
  static footprint(name: string, dataSize: number): number {
    return align4(VARIABLE_HEADER_SIZE + (name.length + 1) * 2 + dataSize)
  }

  /**
   * Appends a variable with State VAR_ADDED at the free offset (the padding to the next boundary
   * stays erased, as the firmware writes only the variable's bytes); 'full' when it does not fit
   * before `limit`.
   */
  append(name: string, guid: Buffer, attributes: number, data: Uint8Array, limit = this.geometry().end): number | 'full' {
    const at = this.freeOffset()
    const nameBytes = Buffer.from(name + '\0', 'utf16le')
    if (at + VariableStore.footprint(name, data.length) > limit) return 'full'
    const h = Buffer.alloc(VARIABLE_HEADER_SIZE)
    h.writeUInt16LE(START_ID, 0)
    h[2] = VAR_ADDED
    h.writeUInt32LE(attributes >>> 0, 4)
    h.writeUInt32LE(nameBytes.length, 36)
    h.writeUInt32LE(data.length, 40)
    guid.copy(h, 44)
    this.region.write(at, Buffer.concat([h, nameBytes, data]))
    return at
  }

  /** Clears State bits (flash programming only clears): `mask` VAR_DELETED for an erase. */
  clearState(offset: number, mask: number): void {
    const state = this.region.view(offset + 2, 1)[0] as number
    this.region.write(offset + 2, Uint8Array.of(state & mask))
  }

  /**
   * Reclaim() at boot: the VAR_ADDED variables copied to the store's start in order, then those
   * in delete transition with no VAR_ADDED copy (same GUID, NameSize and name bytes) after them,
   * promoted to VAR_ADDED; the rest of the store erased. Returns how many bytes it freed. (A
   * variable that runs past the store's end is copied up to the end: the firmware would copy
   * bytes from past its own buffer.)
   */
  reclaim(): number {
    const variables = this.variables()
    const { start } = this.geometry()
    const end = Math.min(this.geometry().end, this.region.size)
    const before = this.freeOffset(variables)
    const added = variables.filter((v) => v.state === VAR_ADDED)
    const twinOf = (v: StoredVariable) => added.some((a) => a.guid.equals(v.guid) && a.nameSize === v.nameSize && a.rawName.equals(v.rawName))
    const promoted = variables.filter((v) => v.state === (VAR_ADDED & VAR_IN_DELETED_TRANSITION) && !twinOf(v))
    const image = Buffer.alloc(Math.max(0, end - start), 0xff)
    let at = 0
    for (const v of [...added, ...promoted]) {
      const bytes = Buffer.from(this.region.view(v.offset, Math.max(0, Math.min(v.end, end) - v.offset)))
      bytes[2] = VAR_ADDED
      at += bytes.copy(image, at)
    }
    this.region.write(start, image)
    return before - (start + at)
  }
}
