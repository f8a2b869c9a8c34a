/**
 * The ERST backend (drivers/acpi/apei/erst.c as a pstore_info, over QEMU's acpi-erst storage):
 * dmesg records only (PSTORE_FLAGS_DMESG; erst_writer() answers -EINVAL for any other type),
 * one CPER record per slot, files `dmesg-erst-<record id>`.
 */
import type { RegionImage } from '../../format/region.js'
import { inflateLimit, inflateRecord } from '../../pstore/compression.js'
import type { DmesgWrite, PstoreRecord, PstoreType } from '../../pstore/record.js'
import { PstoreSimError } from '../../util/errors.js'
import type { BackendMemory, BootReport, CorruptSpec, DmesgWriteResult, FlipReport, PstoreBackend } from '../backend.js'
import { type FaultTarget, type FaultUnit, injectFaults } from '../faults.js'
import { decodeCperRecord, encodeCperRecord, firstRecordIdBase, PSTORE_RECORD_OVERHEAD, RECORD_LENGTH_OFFSET } from './cper.js'
import type { ErstDescription, ErstSlotDescription } from './description.js'
import type { ErstSetup } from './erstSetup.js'
import { END_ID, ErstStorage, HEADER_FIXED, type ReadCursor } from './storage.js'

export class ErstError extends PstoreSimError {
  override name = 'ErstError'
}

export interface SlotReport extends BootReport {
  slot: number
}

export class ErstBackend implements PstoreBackend {
  readonly name = 'erst'
  readonly types: readonly PstoreType[] = ['dmesg']
  readonly storage: ErstStorage
  /** cper_next_record_id()'s counter: kernel memory, 0 after every boot. */
  private lastId = 0n

  constructor(
    readonly setup: ErstSetup,
    readonly region: RegionImage,
  ) {
    if (region.size !== setup.memSize) throw new ErstError(`the ERST file is ${region.size} bytes but size is ${setup.memSize}`)
    this.storage = new ErstStorage(region, setup.memSize)
  }

  /** erst_info.bufsize: the exchange buffer (the header's record_size) less the CPER headers. */
  get bufsize(): number {
    const header = this.storage.readHeader()
    const rs = header.magic === 0n ? this.setup.erstRecordSize : header.recordSize
    return rs - PSTORE_RECORD_OVERHEAD
  }

  whyNot(type: PstoreType): string | undefined {
    if (type === 'dmesg') return this.storage.readHeader().magic === 0n || !this.invalid() ? undefined : `the ERST storage is unusable: ${this.invalid()}`
    return `erst stores dmesg records only (PSTORE_FLAGS_DMESG): no ${type} records`
  }

  private invalid(): string | undefined {
    return this.storage.invalid(this.storage.readHeader())
  }

  /** QEMU's realize: a file whose magic is 0 gets its header; the kernel's counter starts again. */
  boot(): SlotReport[] {
    this.lastId = 0n
    if (this.storage.readHeader().magic === 0n) {
      // A read-only look (inspect, an ro mount) writes nothing: such a file shows no record.
      if (this.region.readOnly) return []
      this.storage.initialise(this.setup.erstRecordSize)
      this.region.flush()
    }
    const bad = this.invalid()
    if (bad) throw new ErstError(`${this.region.path ?? 'the image'}: QEMU refuses this ERST file: ${bad}`)
    const { first, last } = this.storage.slots()
    const reports: SlotReport[] = []
    for (let slot = first; slot < last; slot++) reports.push({ slot, outcome: this.storage.mapEntry(slot) === 0n ? 'free' : 'record' })
    return reports
  }

  /**
   * One read pass: erst_reader() until it fails. The ids come from the firmware (QEMU's slot map
   * through GET_RECORD_IDENTIFIER, kept in the kernel's record id cache) and name the files: the
   * CPER header's own record_id is never read. An all-ones id ends the pass, as does a record
   * that cannot be read (QEMU fails it, or it is shorter than the pstore headers) or whose data
   * is empty (the core stops at the first size <= 0); a missing record or another creator's is
   * skipped. DMESG(_Z) sections are dmesg records, MCE sections mce records, any other section
   * type PSTORE_TYPE_MAX (files `unknown-erst-<id>`, as Debian 6.1 and 6.12 show). Each pass
   * starts from a fresh cache and cursor, as the first pass of a boot does.
   */
  readRecords(): PstoreRecord[] {
    if (this.invalid()) return []
    const records: PstoreRecord[] = []
    const limit = PSTORE_RECORD_OVERHEAD + this.bufsize
    const ids = new RecordIdCache(this.storage)
    for (;;) {
      const id = ids.next()
      if (id === END_ID) break // no more records: -EINVAL ends the pass
      const read = this.storage.readById(id, ids.cursor)
      if ('status' in read) {
        if (read.status === 'failed') break
        ids.clear(id) // -ENOENT: erst_clear_cache(), then the next id
        continue
      }
      const decoded = decodeCperRecord(this.storage.slotBytes(read.slot), limit)
      if ('error' in decoded) break
      if (decoded.recordLength < PSTORE_RECORD_OVERHEAD) break // -EIO
      if (!decoded.creatorIsPstore) continue // -ENOENT: the next id
      if (decoded.data.length === 0) break
      records.push(
        this.inflate({
          type: decoded.section === 'dmesg' || decoded.section === 'dmesg-z' ? 'dmesg' : decoded.section,
          id,
          time: { sec: decoded.timestamp, nsec: 0n },
          compressed: decoded.section === 'dmesg-z',
          // a copy: the slot is rewritten after an erase, the record must not change (inflated again at its first open)
          payload: Buffer.from(decoded.data),
          eccNotice: '',
        }),
      )
    }
    return records
  }

  /** decompress_record() in the pstore core. */
  private inflate(record: PstoreRecord): PstoreRecord {
    const flavour = this.setup.quirks.compression
    const algorithm = this.setup.compressAlgorithm
    return inflateRecord(record, flavour, inflateLimit(flavour, this.bufsize, algorithm), this.setup.compress, algorithm)
  }

  /** erst_writer(): the id is taken before the write, so a refused part still uses one. */
  writeDmesg(part: DmesgWrite): DmesgWriteResult {
    // ktime_get_real_seconds() at the write: the dump's time.
    const now = part.time.sec
    if (this.lastId === 0n) this.lastId = firstRecordIdBase(now)
    this.lastId = BigInt.asUintN(64, this.lastId + 1n)
    const id = this.lastId
    const bad = this.invalid()
    if (bad) return { stored: false, errno: 'EIO', why: bad }
    const record = encodeCperRecord({ recordId: id, timestamp: BigInt(now), compressed: part.compressed, data: Buffer.from(part.payload) })
    if (record.length > this.storage.recordSize) return { stored: false, errno: 'EINVAL', why: `part ${part.part} is longer than a slot` }
    const slot = this.storage.write(id, record)
    if (slot === 'full') return { stored: false, errno: 'ENOSPC', why: `every ERST slot holds a record (part ${part.part} dropped)` }
    this.region.flush()
    return { stored: true, slot, id }
  }

  /** erst_clearer(): erst_clear(id), whatever the record's type; QEMU zeroes the map entry and decrements the count. */
  erase(_type: PstoreType, id: number | bigint): void {
    if (!this.storage.clear(BigInt(id))) throw new ErstError(`no ERST record ${id} to clear (-ENOENT)`)
    this.region.flush()
  }

  corrupt(spec: CorruptSpec): FlipReport[] {
    const flips = injectFaults(this.region, this.faultTarget(), spec)
    this.region.flush()
    return flips
  }

  /**
   * Fault units: `storage` (QEMU's header and slot map, which the device checks when it starts)
   * and every slot `slot:N` (its CPER record header and section descriptor, then the text).
   */
  private faultTarget(): FaultTarget {
    const header = this.storage.readHeader()
    const rs = header.recordSize
    const bad = this.storage.invalid(header)
    const storageEnd = bad ? Math.min(this.region.size, HEADER_FIXED) : header.storageOffset
    // the bytes QEMU reads: the fixed header and one map entry per slot (the rest of slot 0 is padding)
    const mapEnd = bad ? storageEnd : Math.min(storageEnd, HEADER_FIXED + (this.region.size / rs) * 8)
    const units: FaultUnit[] = [{ name: 'storage', header: [0, mapEnd], record: [0, 0], data: [0, 0], used: false }]
    if (!bad) {
      const { first, last } = this.storage.slots()
      for (let slot = first; slot < last; slot++) {
        const start = slot * rs
        const textStart = start + PSTORE_RECORD_OVERHEAD
        const used = this.storage.mapEntry(slot) !== 0n
        const length = used ? this.region.view(start + RECORD_LENGTH_OFFSET, 4).readUInt32LE(0) : 0
        const recordEnd = Math.max(textStart, Math.min(start + rs, start + length))
        units.push({ name: `slot:${slot}`, header: [start, textStart], record: [textStart, recordEnd], data: [textStart, start + rs], used })
      }
    }
    const describe = (offset: number): string => {
      if (offset >= this.region.size) return 'outside the storage'
      if (offset < HEADER_FIXED) return `storage header+${offset}`
      if (offset < mapEnd) return `slot map entry ${Math.floor((offset - HEADER_FIXED) / 8)}`
      if (offset < storageEnd) return 'storage header padding'
      const slot = Math.floor(offset / rs)
      const rel = offset - slot * rs
      return rel < PSTORE_RECORD_OVERHEAD ? `slot ${slot} header+${rel}` : `slot ${slot} text+${rel - PSTORE_RECORD_OVERHEAD}`
    }
    return { backend: this.name, units, describe }
  }

  describe(): ErstDescription {
    const header = this.storage.readHeader()
    const bad = this.storage.invalid(header)
    const slots: ErstSlotDescription[] = []
    if (!bad) {
      const { first, last } = this.storage.slots()
      for (let slot = first; slot < last; slot++) {
        const id = this.storage.mapEntry(slot)
        if (id === 0n) {
          slots.push({ slot, recordId: null })
          continue
        }
        const d = decodeCperRecord(this.storage.slotBytes(slot), header.recordSize)
        if ('error' in d) slots.push({ slot, recordId: id.toString(), error: d.error })
        else {
          const text = d.section === 'dmesg' ? /^[A-Za-z]+#\d+ Part(\d+)\n/.exec(d.data.toString('latin1'))?.[1] : undefined
          slots.push({
            slot,
            recordId: id.toString(),
            headerId: d.recordId.toString(),
            length: d.recordLength,
            timestamp: d.timestamp.toString(),
            creator: d.creatorIsPstore ? 'pstore' : 'other',
            section: d.section,
            ...(text ? { part: Number(text) } : {}),
          })
        }
      }
    }
    return {
      kind: 'erst',
      header: {
        magic: '0x' + header.magic.toString(16),
        recordSize: header.recordSize,
        storageOffset: header.storageOffset,
        version: header.version,
        recordCount: header.recordCount,
      },
      ...(bad ? { invalid: bad } : {}),
      bufsize: bad ? 0 : this.bufsize,
      slots,
    }
  }

  memory(): BackendMemory {
    return this.lastId === 0n ? {} : { erstLastRecordId: this.lastId.toString() }
  }

  restoreMemory(memory: BackendMemory): void {
    if (typeof memory.erstLastRecordId === 'string') this.lastId = BigInt(memory.erstLastRecordId)
  }
}

/** ERST_RECORD_ID_CACHE_SIZE_MAX: the kernel's cache stops growing there ("too many record IDs!"). */
const RECORD_ID_CACHE_MAX = 1024

/**
 * erst_get_record_id_next() over the kernel's record id cache: cached ids first, then one more
 * from the firmware (__erst_record_id_cache_add_one(): an id already cached is passed over, an
 * all-ones id, one repeating the first or the previous of this call, or a full cache ends it).
 */
class RecordIdCache {
  readonly cursor: ReadCursor
  private readonly entries: bigint[] = []
  private readonly held = new Map<bigint, number>()
  private pos = 0

  constructor(private readonly storage: ErstStorage) {
    this.cursor = { next: storage.slots().first }
  }

  next(): bigint {
    while (this.pos < this.entries.length && this.entries[this.pos] === END_ID) this.pos++
    if (this.pos < this.entries.length) return this.entries[this.pos++]
    let first = END_ID
    let prev = END_ID
    for (;;) {
      const id = this.storage.nextRecordId(this.cursor)
      if (id === END_ID || id === prev || id === first) return END_ID
      if (first === END_ID) first = id
      prev = id
      if (this.held.get(id)) continue
      if (this.entries.length >= RECORD_ID_CACHE_MAX) return END_ID
      this.entries.push(id)
      this.held.set(id, 1)
      this.pos = this.entries.length
      return id
    }
  }

  /** erst_clear_cache(): the id's entries become all-ones (compacted only when no reader holds the cache). */
  clear(id: bigint): void {
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i] === id) this.entries[i] = END_ID
    this.held.delete(id)
  }
}
