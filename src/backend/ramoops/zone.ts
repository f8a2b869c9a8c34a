/**
 * One persistent RAM zone (fs/pstore/ram_core.c): a 12-byte header (sig, start, size), a ring
 * buffer of `capacity` bytes and, with ECC, Reed-Solomon parity for every 128-byte block and
 * for the header (docs/ramoops-format.md §3, §4, §5).
 */

import { type ReedSolomon, reedSolomon } from '../../format/reedSolomon.js'
import type { RegionImage } from '../../format/region.js'
import { PstoreSimError } from '../../util/errors.js'
import { ZONE_HEADER_SIZE, type ZoneGeometry, type ZoneLayout, zoneGeometry } from './layout.js'

export type ZoneBootOutcome =
  | 'empty' // valid signature, nothing stored
  | 'valid' // valid signature and header: snapshot taken
  | 'invalid-zapped' // size > capacity or start > size
  | 'signature-zapped' // wrong signature: signature written, zone zapped

export interface EccStats {
  correctedBytes: number
  badBlocks: number
}

/** persistent_ram_ecc_string(): 5.18+ prefixes "ECC: ". */
export function eccNotice(stats: EccStats, withPrefix: boolean): string {
  const prefix = withPrefix ? 'ECC: ' : ''
  if (stats.correctedBytes || stats.badBlocks) return `\n${prefix}${stats.correctedBytes} Corrected bytes, ${stats.badBlocks} unrecoverable blocks\n`
  return `\n${prefix}No errors detected\n`
}

/**
 * A write the real kernel would make outside the zone: before 6.6 (and its stable backports) a
 * boot accepts an empty zone (size 0) whatever its start, and persistent_ram_write() then copies to data + start. The
 * simulated kernel refuses it (RAM outside the zone, or outside the region, stays as it is).
 */
export class ZoneWriteRefused extends PstoreSimError {
  override name = 'ZoneWriteRefused'
  constructor(
    readonly zone: string,
    readonly start: number,
    readonly capacity: number,
  ) {
    super(
      `${zone} zone: its header's start ${start} is outside its ${capacity}-byte ring, and the kernel would write there, ` +
        `out of the zone's bounds (a kernel without 6.6's "check start of empty przs" keeps an empty zone whatever its start): ` +
        `the simulated kernel refuses the write`,
    )
  }
}

export class PersistentRamZone {
  readonly geometry: ZoneGeometry
  /** The boot snapshot ("old log"), or undefined when the zone had nothing. */
  oldLog: Buffer | undefined
  readonly ecc: EccStats = { correctedBytes: 0, badBlocks: 0 }
  private readonly rs: ReedSolomon | undefined
  /** A block's bytes before decoding, reused for every block. */
  private readonly decodeScratch: Buffer | undefined
  /** Counts this zone's writes and zaps, so a snapshot of unchanged RAM is not copied again. */
  private ramVersion = 0
  private oldLogVersion = -1

  constructor(
    readonly region: RegionImage,
    readonly layout: ZoneLayout,
    readonly eccSize: number,
    readonly eccBlockSize: number,
    /** 6.6+: size 0 with start != 0 is invalid (docs/ramoops-format.md §10, "empty-zone check"). */
    readonly emptyZoneChecksStart: boolean,
  ) {
    const geometry = zoneGeometry(layout.size, eccSize, eccBlockSize)
    if (typeof geometry === 'string') throw new RangeError(geometry)
    this.geometry = geometry
    this.rs = eccSize ? reedSolomon(eccSize) : undefined
    this.decodeScratch = eccSize ? Buffer.alloc(Math.max(eccBlockSize, ZONE_HEADER_SIZE)) : undefined
  }

  /** The ring's size in bytes (the geometry's: the zone minus its header and parity). */
  get capacity(): number {
    return this.geometry.capacity
  }

  get offset(): number {
    return this.layout.offset
  }

  get dataOffset(): number {
    return this.layout.offset + ZONE_HEADER_SIZE
  }

  get sig(): number {
    return this.region.u32(this.offset)
  }

  /** atomic_t start, read as the kernel's size_t after sign extension (negative = huge). */
  get start(): number {
    return this.region.i32(this.offset + 4)
  }

  get size(): number {
    return this.region.i32(this.offset + 8)
  }

  get signatureValid(): boolean {
    return this.sig === this.layout.sig
  }

  /** persistent_ram_post_init() and the first persistent_ram_save_old() (docs/ramoops-format.md §3.3). */
  boot(): ZoneBootOutcome {
    this.oldLog = undefined
    this.ramVersion++ // RAM may have changed behind our back (a new boot, injected faults)
    this.ecc.correctedBytes = 0
    this.ecc.badBlocks = 0
    if (this.rs) this.countDecode(this.decodeBlock(this.offset, ZONE_HEADER_SIZE, this.offset + this.geometry.headerParityOffset))

    if (!this.signatureValid) {
      this.region.writeU32(this.offset, this.layout.sig)
      this.zap()
      return 'signature-zapped'
    }
    const size = this.size
    const start = this.start
    if (size === 0 && (start === 0 || !this.emptyZoneChecksStart)) return 'empty'
    if (size < 0 || start < 0 || size > this.capacity || start > size) {
      this.zap()
      return 'invalid-zapped'
    }
    this.decodeDataBelowSize()
    this.saveOld()
    if (this.layout.zapOld) this.zap()
    return 'valid'
  }

  /** persistent_ram_save_old(): the snapshot, data[start..size) + data[0..start) (docs/ramoops-format.md §4.2). */
  saveOld(): void {
    if (this.oldLog && this.oldLogVersion === this.ramVersion) return
    const size = this.size
    const start = this.start
    if (size <= 0 || size > this.capacity || start < 0 || start > size) {
      // Only reachable when RAM changed after boot; the kernel would keep its previous copy.
      if (size === 0) this.oldLog = undefined
      return
    }
    // Copied straight from the region: reading a snapshot loads nothing into it.
    const snapshot = Buffer.allocUnsafe(size)
    this.region.copy(this.dataOffset + start, size - start, snapshot)
    this.region.copy(this.dataOffset, start, snapshot, size - start)
    this.oldLog = snapshot
    this.oldLogVersion = this.ramVersion
  }

  freeOld(): void {
    this.oldLog = undefined
  }

  /** Its RAM was written by someone else (a lent ring): a snapshot must be taken again. */
  changedOutside(): void {
    this.ramVersion++
  }

  /** persistent_ram_zap(): start = size = 0; data and data parity stay. */
  zap(): void {
    this.ramVersion++
    this.region.writeI32(this.offset + 4, 0)
    this.region.writeI32(this.offset + 8, 0)
    this.updateHeaderEcc()
  }

  /** Why the next write would land outside the ring (see ZoneWriteRefused), or undefined. */
  writeRefusal(): ZoneWriteRefused | undefined {
    const start = this.start
    if (start >= 0 && start <= this.capacity) return undefined
    const name = this.layout.type === 'console' || this.layout.type === 'pmsg' ? this.layout.type : `${this.layout.type} ${this.layout.index}`
    return new ZoneWriteRefused(name, start, this.capacity)
  }

  /** persistent_ram_write() (docs/ramoops-format.md §4.1). Returns the number of bytes the caller asked to write. */
  write(input: Uint8Array): number {
    const refusal = this.writeRefusal()
    if (refusal) throw refusal // before the header changes
    this.ramVersion++
    const count = input.length
    let s = input
    if (s.length > this.capacity) s = s.subarray(s.length - this.capacity)
    const c = s.length
    // buffer_size_add(): saturates at capacity.
    const oldSize = this.size
    if (oldSize !== this.capacity) this.region.writeI32(this.offset + 8, Math.min(oldSize + c, this.capacity))
    // buffer_start_add(): wraps to 0, never to capacity.
    const oldStart = this.start
    let next = oldStart + c
    while (next >= this.capacity) next -= this.capacity
    this.region.writeI32(this.offset + 4, next)

    const room = this.capacity - oldStart
    if (room < c) {
      this.update(s.subarray(0, room), oldStart)
      this.update(s.subarray(room), 0)
    } else {
      this.update(s, oldStart)
    }
    this.updateHeaderEcc()
    return count
  }

  /** The ECC notice pstore appends to every record read from this zone (docs/ramoops-format.md §5.5). */
  eccNotice(withPrefix: boolean): string {
    return this.eccSize ? eccNotice(this.ecc, withPrefix) : ''
  }

  private update(s: Uint8Array, start: number): void {
    this.region.write(this.dataOffset + start, s)
    this.updateEcc(start, s.length)
  }

  /** persistent_ram_update_ecc(): re-encode every block touched, at least one (docs/ramoops-format.md §5.3). */
  private updateEcc(start: number, count: number): void {
    if (!this.rs) return
    const block = this.eccBlockSize
    let blockStart = start - (start % block)
    let index = Math.floor(start / block)
    do {
      const length = Math.min(block, this.capacity - blockStart)
      this.encodeBlock(this.dataOffset + blockStart, length, this.offset + this.geometry.parityOffset + index * this.eccSize)
      blockStart += block
      index++
    } while (blockStart < start + count)
  }

  private updateHeaderEcc(): void {
    if (!this.rs) return
    this.encodeBlock(this.offset, ZONE_HEADER_SIZE, this.offset + this.geometry.headerParityOffset)
  }

  private encodeBlock(dataAt: number, length: number, parityAt: number): void {
    this.rs!.encode(this.region.view(dataAt, length), this.region.view(parityAt, this.eccSize))
    this.region.markDirty(parityAt, this.eccSize)
  }

  /** Decodes in place; corrections are RAM writes, so they reach a read-write image. */
  private decodeBlock(dataAt: number, length: number, parityAt: number): number {
    const data = this.region.view(dataAt, length)
    const before = this.decodeScratch!.subarray(0, length)
    before.set(data)
    // The kernel decodes against a copy of the parity; decode() never writes it either.
    const result = this.rs!.decode(data, this.region.view(parityAt, this.eccSize))
    if (result > 0 && !before.equals(data)) this.region.markDirty(dataAt, length)
    return result
  }

  private countDecode(result: number): void {
    if (result > 0) this.ecc.correctedBytes += result
    else if (result < 0) this.ecc.badBlocks++
  }

  /** persistent_ram_ecc_old(): blocks whose start is below `size`. */
  private decodeDataBelowSize(): void {
    if (!this.rs) return
    const size = this.size
    const block = this.eccBlockSize
    // The blocks and their parity in two reads, not one per block.
    const blocks = Math.ceil(size / block)
    this.region.load(this.dataOffset, Math.min(blocks * block, this.capacity))
    this.region.load(this.offset + this.geometry.parityOffset, blocks * this.eccSize)
    for (let at = 0, index = 0; at < size; at += block, index++) {
      const length = Math.min(block, this.capacity - at)
      this.countDecode(this.decodeBlock(this.dataOffset + at, length, this.offset + this.geometry.parityOffset + index * this.eccSize))
    }
  }
}
