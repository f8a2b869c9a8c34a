/**
 * The ramoops backend (fs/pstore/ram.c): the zones of one region, the boot that validates
 * them, the read pass that turns them into records, the writes the kernel's frontends make,
 * and erase. Every operation that changes RAM ends by flushing the region to its image.
 */

import type { RegionImage } from '../../format/region.js'
import { inflateLimit, inflateRecord } from '../../pstore/compression.js'
import { mergePerCpuFtrace } from '../../pstore/ftrace.js'
import type { DmesgWrite, PstoreType } from '../../pstore/record.js'
import { type PstoreRecord, untimedRecord } from '../../pstore/record.js'
import { PstoreSimError } from '../../util/errors.js'
import { readDmesgZone, writeDmesgZone } from './dmesgZone.js'
import { eraseRecord } from './erase.js'
import { computeLayout, type RegionLayout, type ZoneLayout } from './layout.js'
import type { RamoopsSetup } from './ramoopsSetup.js'
import { type EccStats, eccNotice, PersistentRamZone, type ZoneBootOutcome } from './zone.js'

export interface ZoneReport {
  layout: ZoneLayout
  outcome: ZoneBootOutcome
  ecc: EccStats
}

export class RamoopsError extends PstoreSimError {
  override name = 'RamoopsError'
}

export class Ramoops {
  readonly layout: RegionLayout
  readonly dmesg: PersistentRamZone[]
  readonly console: PersistentRamZone | undefined
  readonly pmsg: PersistentRamZone | undefined
  readonly ftrace: PersistentRamZone[]
  /** Kept in kernel memory only: the next dmesg zone to write; 0 after every boot. */
  dumpWriteCnt = 0

  constructor(
    readonly setup: RamoopsSetup,
    readonly region: RegionImage,
  ) {
    this.layout = computeLayout(setup)
    if (region.size !== setup.memSize) {
      throw new RamoopsError(`region is ${region.size} bytes but mem_size is ${setup.memSize}`)
    }
    const zone = (layout: ZoneLayout) => new PersistentRamZone(region, layout, setup.eccSize, setup.eccBlockSize, setup.quirks.emptyZoneChecksStart)
    this.dmesg = this.layout.dmesg.map(zone)
    this.console = this.layout.console && zone(this.layout.console)
    this.pmsg = this.layout.pmsg && zone(this.layout.pmsg)
    this.ftrace = this.layout.ftrace.map(zone)
    this.zones = [...this.dmesg, this.console, this.pmsg, ...this.ftrace]
      .filter((z): z is PersistentRamZone => z !== undefined)
      .sort((a, b) => a.offset - b.offset)
  }

  /** Every zone in region order. */
  readonly zones: PersistentRamZone[]

  /** psinfo->bufsize: the capacity of dmesg zone 0 (0 without dmesg zones). */
  get bufsize(): number {
    return this.dmesg[0]?.capacity ?? 0
  }

  /** What a kernel boot does to the region before anyone reads it (docs/ramoops-format.md §3.3). */
  boot(): ZoneReport[] {
    this.dumpWriteCnt = 0
    const reports = this.zones.map((zone) => ({ layout: zone.layout, outcome: zone.boot(), ecc: { ...zone.ecc } }))
    this.region.flush()
    return reports
  }

  /**
   * One pass of pstore_get_backend_records(): records in the kernel's order (dmesg 0..n-1,
   * console, pmsg, ftrace); the pass ends at the first record whose payload is empty, and the
   * zones after it are not even looked at (a headerless dmesg zone there is not zapped).
   */
  readRecords(): PstoreRecord[] {
    const records: PstoreRecord[] = []
    for (const record of this.backendRecords()) {
      if (record.payload.length === 0) break
      records.push(this.inflate(record))
    }
    this.region.flush() // dmesg zones without a header were zapped
    return records
  }

  /** ramoops_pstore_read(), one record per call, lazily. */
  private *backendRecords(): Generator<PstoreRecord> {
    const prefix = this.setup.quirks.eccNoticePrefix
    for (const zone of this.dmesg) {
      const record = readDmesgZone(zone, prefix)
      if (record) yield record
    }
    for (const [type, zone] of [
      ['console', this.console],
      ['pmsg', this.pmsg],
    ] as const) {
      if (zone?.oldLog?.length) yield untimedRecord(type, zone.oldLog, zone.eccNotice(prefix))
    }
    const ftrace = this.readFtrace()
    if (ftrace) yield ftrace
  }

  private readFtrace(): PstoreRecord | undefined {
    if (this.ftrace.length === 0) return undefined
    const prefix = this.setup.quirks.eccNoticePrefix
    if (!this.setup.ftracePerCpu) {
      const zone = this.ftrace[0]
      return zone.oldLog?.length ? untimedRecord('ftrace', zone.oldLog, zone.eccNotice(prefix)) : undefined
    }
    // A zone takes part when it has data, or when ECC is on (the kernel's prz_ok()).
    const present = this.ftrace.filter((zone) => zone.oldLog?.length || this.setup.eccSize)
    if (present.length === 0) return undefined
    // Without CONFIG_PSTORE_FTRACE the kernel's combine step is a stub that empties the log.
    const merged = this.setup.frontends.ftrace
      ? mergePerCpuFtrace(
          present.map((zone) => zone.oldLog ?? Buffer.alloc(0)),
          this.setup.wordBits,
        )
      : Buffer.alloc(0)
    const ecc = present.reduce(
      (sum, zone) => ({ correctedBytes: sum.correctedBytes + zone.ecc.correctedBytes, badBlocks: sum.badBlocks + zone.ecc.badBlocks }),
      { correctedBytes: 0, badBlocks: 0 },
    )
    return untimedRecord('ftrace', merged, this.setup.eccSize ? eccNotice(ecc, prefix) : '')
  }

  /** decompress_record() in the pstore core; the payload is the zone's old_log snapshot, never written again. */
  private inflate(record: PstoreRecord): PstoreRecord {
    const flavour = this.setup.quirks.compression
    const algorithm = this.setup.compressAlgorithm
    return inflateRecord(record, flavour, inflateLimit(flavour, this.bufsize, algorithm), this.setup.compress, algorithm)
  }

  /** ramoops_pstore_write() for a dmesg part. Throws RamoopsError when ramoops refuses it. */
  writeDmesg(write: DmesgWrite): { zone: number } {
    if (write.part !== 1) throw new RamoopsError(`ramoops stores only part 1 of a dump (got part ${write.part}): -ENOSPC`)
    if (this.dmesg.length === 0) throw new RamoopsError('this setup has no dmesg zones (record_size 0): -ENOSPC')
    const index = this.dumpWriteCnt
    writeDmesgZone(this.dmesg[index], write)
    this.dumpWriteCnt = (index + 1) % this.dmesg.length
    this.region.flush()
    return { zone: index }
  }

  writeConsole(bytes: Uint8Array): void {
    if (!this.console) throw new RamoopsError('this setup has no console zone (console_size 0)')
    this.console.write(bytes)
    this.region.flush()
  }

  /** /dev/pmsg0: one write(2), copied straight into the ring; 0 bytes do nothing. */
  writePmsg(bytes: Uint8Array): number {
    if (!this.pmsg) throw new RamoopsError('this setup has no pmsg zone (pmsg_size 0)')
    if (bytes.length === 0) return 0
    this.pmsg.write(bytes)
    this.region.flush()
    return bytes.length
  }

  /** The zone ftrace records of `cpu` go to (per-CPU, or zone 0). */
  ftraceZone(cpu: number): PersistentRamZone {
    if (this.ftrace.length === 0) throw new RamoopsError('this setup has no ftrace zone (ftrace_size 0)')
    const index = this.setup.ftracePerCpu ? cpu : 0
    if (!Number.isInteger(index) || index < 0 || index >= this.ftrace.length) {
      throw new RamoopsError(`CPU ${cpu} has no ftrace zone: this setup has ${this.ftrace.length} (cpus ${this.setup.cpus})`)
    }
    return this.ftrace[index]
  }

  /** Binary ftrace records, appended to the zone of `cpu` (per-CPU) or zone 0. */
  writeFtrace(cpu: number, bytes: Uint8Array): void {
    this.ftraceZone(cpu).write(bytes)
    this.region.flush()
  }

  /** ramoops_pstore_erase(): drop the snapshot and zap the record's zone (docs/ramoops-format.md §8). */
  erase(type: PstoreType, id: number): void {
    // erst's MCE and unknown records, efi-pstore's other types never come from a ramoops zone
    if (type !== 'dmesg' && type !== 'console' && type !== 'pmsg' && type !== 'ftrace') throw new RamoopsError(`ramoops holds no ${type} records`)
    eraseRecord(this, type, id)
    this.region.flush()
  }
}
