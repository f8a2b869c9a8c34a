/**
 * The pstore/blk backend (fs/pstore/zone.c on fs/pstore/blk.c, best_effort): the zones of one
 * disk, the recovery a boot's first read does, the read pass, dumps written round robin, erase.
 * What pstore/zone keeps in kernel memory only (the next zone to write, the oops and panic
 * counters) is rebuilt from the disk by boot(), as psz_kmsg_recover_meta() does.
 */
import type { RegionImage } from '../../format/region.js'
import { inflateLimit, inflateRecord } from '../../pstore/compression.js'
import type { DumpReason } from '../../pstore/kmsgDumper.js'
import { type DmesgWrite, KMSG_DUMP, type PstoreRecord, type PstoreType, untimedRecord } from '../../pstore/record.js'
import { PstoreSimError } from '../../util/errors.js'
import type { BlkSetup } from './blkSetup.js'
import { classifyDmesgZone, type DmesgZoneState, encodeDmesgZone, KMSG_HEADER_SIZE, type KmsgHeader } from './dmesgZone.js'
import { type BlkLayout, type BlkZoneLayout, computeBlkLayout } from './layout.js'
import { encodePszHeader, PSZ_HEADER_SIZE, readPszHeader, recoverRingZone } from './zone.js'

export class BlkError extends PstoreSimError {
  override name = 'BlkError'
}

/** The backend's name: files are `<type>-pstore_blk-<id>`. */
export const BLK_BACKEND_NAME = 'pstore_blk'

/** kmsg_dump_reason_str(). */
export function reasonString(reason: number): string {
  return ['Unknown', 'Panic', 'Oops', 'Emergency', 'Shutdown'][reason] ?? 'Unknown'
}

export interface BlkZoneReport {
  layout: BlkZoneLayout
  state: DmesgZoneState['state'] | 'ring' | 'empty' | 'read-fails' | 'not-read'
  why?: string
  header?: KmsgHeader
  datalen?: number
}

export interface BlkWriteResult {
  zone: number
  counter: number
  /** false: the kernel kept the dump in memory only (a panic without panic_write) */
  written: boolean
  why?: string
}

export class PstoreBlk {
  readonly layout: BlkLayout
  /** psz_context: the next dmesg zone to write and the counters, rebuilt by boot() */
  writeCnt = 0
  oopsCounter = 0
  panicCounter = 0
  /** after a panic the kernel writes nothing but the (unwritable) dump */
  onPanic = false
  /** pmsg/console/ftrace data recovered at boot (zone->oldbuf), by offset */
  private readonly oldbuf = new Map<number, Buffer>()
  reports: BlkZoneReport[] = []
  /** Why psz_recovery() failed at this boot: then every read pass fails and lists nothing. */
  readPassFailure?: string

  constructor(
    readonly setup: BlkSetup,
    readonly disk: RegionImage,
  ) {
    if (disk.size !== setup.diskSize) throw new BlkError(`the disk is ${disk.size} bytes but the setup says ${setup.diskSize}`)
    this.layout = computeBlkLayout(setup)
  }

  /** psinfo->bufsize: dmesg zone data minus the kmsg header (0 without dmesg zones). */
  get bufsize(): number {
    const zone = this.layout.dmesg[0]
    return zone ? zone.size - PSZ_HEADER_SIZE - KMSG_HEADER_SIZE : 0
  }

  private read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length)
    this.disk.copy(offset, length, out)
    return out
  }

  private dmesgState(zone: BlkZoneLayout): DmesgZoneState {
    return classifyDmesgZone(this.read(zone.offset, PSZ_HEADER_SIZE + KMSG_HEADER_SIZE), zone.sig, zone.size - PSZ_HEADER_SIZE)
  }

  /**
   * psz_recovery() (the first read after the module loads): the newest dmesg header (by seconds;
   * the later zone on a tie) sets the next zone to write, the counters continue from the largest
   * on disk (erased zones included), ring zones are read into memory. Changes nothing on disk.
   */
  boot(): BlkZoneReport[] {
    this.writeCnt = 0
    this.oopsCounter = 0
    this.panicCounter = 0
    this.onPanic = false
    this.oldbuf.clear()
    this.reports = []
    let newest = 0n
    for (const zone of this.layout.dmesg) {
      const state = this.dmesgState(zone)
      if (state.state !== 'no-data') {
        const h = state.header
        if (h.sec >= newest) {
          newest = h.sec
          this.writeCnt = (zone.index + 1) % this.layout.dmesg.length
        }
        if (h.reason === KMSG_DUMP.oops) this.oopsCounter = Math.max(this.oopsCounter, h.counter)
        else if (h.reason === KMSG_DUMP.panic) this.panicCounter = Math.max(this.panicCounter, h.counter)
      }
      this.reports.push({
        layout: zone,
        state: state.state,
        why: state.state === 'no-data' ? state.why : undefined,
        header: state.state === 'no-data' ? undefined : state.header,
        datalen: state.state === 'record' ? state.datalen : undefined,
      })
    }
    this.readPassFailure = undefined
    // psz_recovery(): pmsg, console, then the ftrace zones; the first failure ends it
    for (const zone of this.ringZones()) {
      const name = `${zone.type}[${zone.index}]`
      if (this.readPassFailure) {
        this.reports.push({ layout: zone, state: 'not-read', why: 'psz_recovery() stopped at the failed zone before it' })
        continue
      }
      const r = recoverRingZone(this.read(zone.offset, zone.size), zone.sig)
      if (r.state === 'ring') this.oldbuf.set(zone.offset, r.data)
      if (r.state === 'read-fails') this.readPassFailure = `${name}: ${r.why}`
      this.reports.push({ layout: zone, state: r.state, why: r.state === 'ring' ? undefined : r.why, datalen: r.state === 'ring' ? r.data.length : undefined })
    }
    return this.reports
  }

  private ringZones(): BlkZoneLayout[] {
    return [this.layout.pmsg, this.layout.console, ...this.layout.ftrace].filter((z): z is BlkZoneLayout => z !== undefined)
  }

  /**
   * One pass of the pstore core over psz_pstore_read(): dmesg zones in order, then ftrace (no
   * file without the ftrace frontend: Debian's combine step is a stub), pmsg, console. A
   * record of size 0 ends the pass. A failed recovery (readPassFailure) fails every pass:
   * psz_pstore_read() returns its error before the first record, the core lists nothing.
   */
  readRecords(): PstoreRecord[] {
    const records: PstoreRecord[] = []
    if (this.readPassFailure) return records
    for (const zone of this.layout.dmesg) {
      const state = this.dmesgState(zone)
      if (state.state !== 'record') continue
      const h = state.header
      // datalen < the kmsg header: the kernel's size goes negative (its read would overrun); the
      // whole pass ends here, pmsg and console included
      if (state.datalen < KMSG_HEADER_SIZE) return records
      const payload = this.read(zone.offset + PSZ_HEADER_SIZE + KMSG_HEADER_SIZE, state.datalen - KMSG_HEADER_SIZE)
      const time = { sec: h.sec, nsec: h.nsec }
      if (!h.compressed) {
        // record->count is an int printed with %d: a counter of 2^31 or more shows negative
        const line = Buffer.from(`${reasonString(h.reason)}: Total ${h.counter | 0} times\n`, 'latin1')
        records.push({ type: 'dmesg', id: zone.index, time, compressed: false, payload: Buffer.concat([line, payload]), eccNotice: '' })
        continue
      }
      // a record of size 0 ends the core's read loop: no pmsg or console file after it either
      if (payload.length === 0) return records
      // a copy: the zone's bytes change at the next dump, the record must not (inflated again at its first open)
      records.push(this.inflate({ type: 'dmesg', id: zone.index, time, compressed: true, payload: Buffer.from(payload), eccNotice: '' }))
    }
    for (const [type, zone] of [
      ['pmsg', this.layout.pmsg],
      ['console', this.layout.console],
    ] as const) {
      const data = zone && this.oldbuf.get(zone.offset)
      if (data?.length) records.push(untimedRecord(type, data, ''))
    }
    return records
  }

  /** decompress_record() in the pstore core. */
  private inflate(record: PstoreRecord): PstoreRecord {
    const flavour = this.setup.quirks.compression
    const algorithm = this.setup.compressAlgorithm
    return inflateRecord(record, flavour, inflateLimit(flavour, this.bufsize, algorithm), this.setup.compress, algorithm)
  }

  /**
   * psz_kmsg_write(): part 1 only, into the next zone round robin, the whole zone rewritten. A
   * panic's dump is never written: best_effort has no panic_write, so pstore/zone keeps it in
   * memory (the zone is still used and the counter still counts). Throws BlkError for what the
   * kernel refuses (-ENOSPC).
   */
  writeDmesg(write: DmesgWrite, reason: DumpReason | number | undefined = write.reason): BlkWriteResult {
    if (write.part !== 1) throw new BlkError(`pstore/blk stores only part 1 of a dump (got part ${write.part}): -ENOSPC`)
    if (this.layout.dmesg.length === 0) throw new BlkError('this setup has no dmesg zones (kmsg_size 0): -ENOSPC')
    if (reason === undefined) throw new BlkError('a dump part without its reason: pstore/zone needs it for the header and the counters')
    const code = typeof reason === 'number' ? reason : KMSG_DUMP[reason]
    if (code === KMSG_DUMP.panic) this.onPanic = true
    const zone = this.layout.dmesg[this.writeCnt]
    const counter = code === KMSG_DUMP.oops ? ++this.oopsCounter : code === KMSG_DUMP.panic ? ++this.panicCounter : 0
    this.writeCnt = (zone.index + 1) % this.layout.dmesg.length
    if (this.onPanic) {
      return {
        zone: zone.index,
        counter,
        written: false,
        why: 'no panic record: pstore/blk best_effort has no panic_write driver, so the kernel keeps the panic dump in memory and the disk never sees it',
      }
    }
    const header = { sec: BigInt(write.time.sec), nsec: BigInt(write.time.nsec), compressed: write.compressed, counter, reason: code }
    this.disk.write(zone.offset, encodeDmesgZone(zone.size, zone.sig, header, write.payload))
    this.disk.flush()
    return { zone: zone.index, counter, written: true }
  }

  /**
   * psz_pstore_erase(): a dmesg zone gets datalen 0 in its zone header (12 bytes written, the
   * rest stays); a pmsg/console record is dropped and its zone header becomes {sig, 0, 0}.
   * `count` is the record's counter: a zone rewritten since the read is left alone.
   */
  erase(type: PstoreType, id: number | bigint, count?: number): void {
    if (this.onPanic) return
    if (type === 'dmesg') {
      const zone = this.layout.dmesg[Number(id)]
      if (!zone) throw new BlkError(`no dmesg zone ${id}: -EINVAL`)
      const state = this.dmesgState(zone)
      if (state.state !== 'record') return
      if (count !== undefined && count !== state.header.counter) return
      const head = readPszHeader(this.read(zone.offset, PSZ_HEADER_SIZE))
      this.disk.write(zone.offset, encodePszHeader({ sig: zone.sig, datalen: 0, start: head.start }))
      this.disk.flush()
      return
    }
    const zone = type === 'pmsg' ? this.layout.pmsg : type === 'console' ? this.layout.console : this.layout.ftrace[Number(id)]
    if (!zone || !this.oldbuf.has(zone.offset)) return
    this.oldbuf.delete(zone.offset)
    this.disk.write(zone.offset, encodePszHeader({ sig: zone.sig, datalen: 0, start: 0 }))
    this.disk.flush()
  }
}
