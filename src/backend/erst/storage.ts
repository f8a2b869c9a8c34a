/**
 * QEMU's acpi-erst backing file (hw/acpi/erst.c): slot 0 (and more when the map needs them)
 * holds the storage header, every other slot one record. The header:
 *
 *   0  u64 magic "ERSTSTOR"   8 u32 record_size   12 u32 storage_offset (header slots × record_size)
 *  16  u16 version 0x0100    18 u16 reserved 0   20 u32 record_count   24 u64 map[size / record_size]
 *
 * map[i] is the record id in slot i, 0 for a free slot. A write copies the record into the
 * first free slot and fills the rest of the slot with 0xFF; a clear only zeroes the map entry and
 * decrements the count (the record's bytes stay).
 */
import type { RegionImage } from '../../format/region.js'

export const ERST_MAGIC = 0x524f545354535245n // "ERSTSTOR"
export const HEADER_FIXED = 24
/** Record ids with no record behind them (ERST_UNSPECIFIED_RECORD_ID, ERST_EMPTY_END_RECORD_ID). */
export const UNSPECIFIED_ID = 0n
export const END_ID = 0xffffffffffffffffn

/** Where a CPER record header holds record_length, and the shortest record QEMU moves (its header). */
const RECORD_LENGTH_AT = 20
const CPER_RECORD_MIN_SIZE = 128

/** QEMU's next_record_index: device state, the first slot after the device starts. */
export interface ReadCursor {
  next: number
}

export interface StorageHeader {
  magic: bigint
  recordSize: number
  storageOffset: number
  version: number
  reserved: number
  recordCount: number
}

/** The header size rounded up to whole slots (make_erst_storage_header()). */
export function headerBytes(size: number, recordSize: number): number {
  const raw = HEADER_FIXED + (size / recordSize) * 8
  return Math.ceil(raw / recordSize) * recordSize
}

export class ErstStorage {
  constructor(
    readonly region: RegionImage,
    readonly size: number,
  ) {}

  readHeader(): StorageHeader {
    const h = this.region.view(0, HEADER_FIXED)
    return {
      magic: h.readBigUInt64LE(0),
      recordSize: h.readUInt32LE(8),
      storageOffset: h.readUInt32LE(12),
      version: h.readUInt16LE(16),
      reserved: h.readUInt16LE(18),
      recordCount: h.readUInt32LE(20),
    }
  }

  /** What QEMU writes into a file whose magic is 0 (a new file): the map and count stay 0. */
  initialise(recordSize: number): void {
    const b = Buffer.alloc(HEADER_FIXED)
    b.writeBigUInt64LE(ERST_MAGIC, 0)
    b.writeUInt32LE(recordSize, 8)
    b.writeUInt32LE(headerBytes(this.size, recordSize), 12)
    b.writeUInt16LE(0x0100, 16)
    this.region.write(0, b)
  }

  /** Why QEMU would refuse this header (check_erst_backend_storage()), or undefined. */
  invalid(header: StorageHeader): string | undefined {
    const rs = header.recordSize
    if (!(rs >= 4096 && (rs & (rs - 1)) === 0)) return `record_size ${rs} in the header is invalid (a power of two of at least 4096)`
    if (header.magic !== ERST_MAGIC || header.storageOffset % rs !== 0 || header.version !== 0x0100 || header.reserved !== 0)
      return 'the storage header is invalid'
    if (this.size % rs !== 0 || rs > this.size) return `the file size ${this.size} is not a multiple of the header's record_size ${rs}`
    return undefined
  }

  get recordSize(): number {
    return this.region.u32(8)
  }

  /** The first slot that can hold a record, and one past the last. */
  slots(): { first: number; last: number } {
    const rs = this.recordSize
    return { first: this.region.u32(12) / rs, last: this.size / rs }
  }

  mapEntry(index: number): bigint {
    return this.region.view(HEADER_FIXED + index * 8, 8).readBigUInt64LE(0)
  }

  private setMapEntry(index: number, id: bigint): void {
    if (index >= this.slots().last) return
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(id, 0)
    this.region.write(HEADER_FIXED + index * 8, b)
  }

  private setCount(count: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(count >>> 0, 0)
    this.region.write(20, b)
  }

  get recordCount(): number {
    return this.region.u32(20)
  }

  /** lookup_erst_record(): the slot of `id`, 0 when absent (stops after record_count used slots). */
  lookup(id: bigint): number {
    if (id === UNSPECIFIED_ID) return 0
    const { first, last } = this.slots()
    const count = this.recordCount
    let seen = 0
    for (let i = first; i < last && seen < count; i++) {
      const entry = this.mapEntry(i)
      if (entry === id) return i
      if (entry !== UNSPECIFIED_ID) seen++
    }
    return 0
  }

  /**
   * get_next_record_identifier(): the next non-zero map entry from the device's cursor
   * (next_record_index), END_ID when none is left or the count is 0 (the cursor then goes back
   * to the first slot). `first` starts from the first slot. A map entry may itself be END_ID.
   */
  nextRecordId(cursor: ReadCursor, first = false): bigint {
    const { first: firstSlot, last } = this.slots()
    if (first) cursor.next = firstSlot
    if (this.recordCount !== 0) {
      for (let i = cursor.next; i < last; i++) {
        const id = this.mapEntry(i)
        if (id !== UNSPECIFIED_ID) {
          cursor.next = i + 1
          return id
        }
      }
    }
    cursor.next = firstSlot
    return END_ID
  }

  /**
   * read_erst_record() of `id`: its slot, or QEMU's status. 'empty' (count 0) and 'not-found'
   * are -ENOENT to the kernel, 'failed' (a record_length under 128 or past the slot) -EINVAL. A
   * miss moves the cursor to the first record, as QEMU does.
   */
  readById(id: bigint, cursor: ReadCursor): { slot: number } | { status: 'empty' | 'not-found' | 'failed' } {
    if (this.recordCount === 0) return { status: 'empty' }
    if (id === END_ID) return { status: 'failed' }
    const slot = this.lookup(id)
    if (slot === 0) {
      this.nextRecordId(cursor, true)
      return { status: 'not-found' }
    }
    const length = this.region.view(slot * this.recordSize + RECORD_LENGTH_AT, 4).readUInt32LE(0)
    if (length < CPER_RECORD_MIN_SIZE || length > this.recordSize) return { status: 'failed' }
    return { slot }
  }

  slotBytes(slot: number): Buffer {
    const rs = this.recordSize
    return Buffer.from(this.region.view(slot * rs, rs))
  }

  /** write_erst_record(): the slot written, or 'full' (STATUS_NOT_ENOUGH_SPACE). */
  write(id: bigint, record: Buffer): number | 'full' {
    const rs = this.recordSize
    let slot = this.lookup(id)
    const overwrite = slot !== 0
    if (!overwrite) {
      const { first, last } = this.slots()
      for (let i = first; i < last && slot === 0; i++) if (this.mapEntry(i) === UNSPECIFIED_ID) slot = i
      if (slot === 0) return 'full'
    }
    const bytes = Buffer.alloc(rs, 0xff)
    record.copy(bytes, 0, 0, Math.min(record.length, rs))
    this.region.write(slot * rs, bytes)
    if (!overwrite) this.setCount(this.recordCount + 1)
    this.setMapEntry(slot, id)
    return slot
  }

  /** clear_erst_record(): the map entry zeroed and the count decremented; false when not found. */
  clear(id: bigint): boolean {
    const slot = this.lookup(id)
    if (slot === 0) return false
    this.setMapEntry(slot, UNSPECIFIED_ID)
    this.setCount(this.recordCount - 1)
    return true
  }
}
