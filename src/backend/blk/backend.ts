/**
 * pstore/blk behind the backend interface (zone.c's `psz_pstore_*` as a `pstore_info`). The zone
 * logic stays in `PstoreBlk`; this answers in the interface's terms. Console, pmsg and ftrace
 * zones are read and erased but never written: the kernels this was checked against (Debian's)
 * have no frontend that writes them.
 */
import type { RegionImage } from '../../format/region.js'
import type { DmesgWrite, PstoreRecord, PstoreType } from '../../pstore/record.js'
import type { BackendMemory, BootReport, CorruptSpec, DmesgWriteResult, FlipReport, PstoreBackend } from '../backend.js'
import { type FaultTarget, type FaultUnit, injectFaults } from '../faults.js'
import { BLK_BACKEND_NAME, BlkError, PstoreBlk } from './blk.js'
import { type BlkSetup, effectiveParams } from './blkSetup.js'
import type { BlkDescription } from './description.js'
import { KMSG_HEADER_SIZE } from './dmesgZone.js'
import { PSZ_HEADER_SIZE, readPszHeader } from './zone.js'

export class BlkBackend implements PstoreBackend {
  readonly name = BLK_BACKEND_NAME
  readonly blk: PstoreBlk
  readonly types: readonly PstoreType[]

  constructor(
    readonly setup: BlkSetup,
    readonly region: RegionImage,
  ) {
    this.blk = new PstoreBlk(setup, region)
    this.types = (['dmesg', 'console', 'pmsg', 'ftrace'] as const).filter((type) => this.whyNot(type) === undefined)
  }

  get bufsize(): number {
    return this.blk.bufsize
  }

  /** Only dmesg is written; a zone that is there is still read (and rm'd) as the kernel does. */
  whyNot(type: PstoreType): string | undefined {
    const l = this.blk.layout
    if (type === 'dmesg') return l.dmesg.length ? undefined : 'this setup has no dmesg zones (pstore_blk.kmsg_size 0)'
    const has = type === 'console' ? l.console : type === 'pmsg' ? l.pmsg : l.ftrace[0]
    if (!has) return `this setup has no ${type} zone (pstore_blk.${type}_size 0)`
    return `pstore-sim's pstore/blk does not write ${type} zones: no kernel it was checked against (Debian's, no ${type} frontend) writes them`
  }

  /** One report per zone in disk order (as describe() lists them). */
  boot(): BootReport[] {
    return this.blk
      .boot()
      .map((r) => ({ ...r, outcome: r.why ? `${r.state}: ${r.why}` : r.state }))
      .sort((a, b) => a.layout.offset - b.layout.offset)
  }

  readRecords(): PstoreRecord[] {
    return this.blk.readRecords()
  }

  readPassFailure(): string | undefined {
    return this.blk.readPassFailure
  }

  writeDmesg(part: DmesgWrite): DmesgWriteResult {
    try {
      const res = this.blk.writeDmesg(part)
      // psz_kmsg_write() answers 0 for a panic it could not write: the dump loop goes on, the disk never sees it
      if (!res.written) return { stored: false, errno: 'EBUSY', why: res.why ?? 'not written' }
      return { stored: true, slot: res.zone, id: res.zone }
    } catch (err) {
      if (err instanceof BlkError) return { stored: false, errno: 'ENOSPC', why: err.message }
      throw err
    }
  }

  erase(type: PstoreType, id: number | bigint): void {
    this.blk.erase(type, id)
  }

  private zonesInDiskOrder() {
    const l = this.blk.layout
    return [l.pmsg, l.console, ...l.ftrace, ...l.dmesg].filter((z) => z !== undefined).sort((a, b) => a.offset - b.offset)
  }

  corrupt(spec: CorruptSpec): FlipReport[] {
    const flips = injectFaults(this.region, this.faultTarget(), spec)
    this.region.flush()
    return flips
  }

  /** Zones as fault units: the zone header (and a dmesg zone's kmsg header), then its data. */
  private faultTarget(): FaultTarget {
    const zones = this.zonesInDiskOrder()
    const nameOf = (z: (typeof zones)[number]): string => (z.type === 'dmesg' || z.type === 'ftrace' ? `${z.type}:${z.index}` : z.type)
    const units = zones.map((zone): FaultUnit => {
      const h = readPszHeader(this.region.view(zone.offset, PSZ_HEADER_SIZE))
      const dataStart = zone.offset + PSZ_HEADER_SIZE
      const headerEnd = dataStart + (zone.type === 'dmesg' ? KMSG_HEADER_SIZE : 0)
      const end = zone.offset + zone.size
      const used = h.sig === zone.sig && h.datalen > 0
      const recordEnd = Math.min(end, dataStart + (used ? h.datalen : 0))
      return { name: nameOf(zone), header: [zone.offset, headerEnd], record: [headerEnd, Math.max(headerEnd, recordEnd)], data: [headerEnd, end], used }
    })
    const describe = (offset: number): string => {
      const zone = zones.find((z) => offset >= z.offset && offset < z.offset + z.size)
      if (!zone) return offset < this.region.size ? 'unused tail' : 'outside the disk'
      const rel = offset - zone.offset
      const name = `${zone.type}[${zone.index}]`
      if (rel < PSZ_HEADER_SIZE) return `${name} header+${rel}`
      if (zone.type === 'dmesg' && rel < PSZ_HEADER_SIZE + KMSG_HEADER_SIZE) return `${name} kmsg header+${rel - PSZ_HEADER_SIZE}`
      return `${name} data+${rel - PSZ_HEADER_SIZE}`
    }
    return { backend: this.name, units, describe }
  }

  describe(): BlkDescription {
    const b = this.blk
    const l = b.layout
    const zones = this.zonesInDiskOrder()
    return {
      kind: 'pstore_blk',
      params: effectiveParams(this.setup),
      diskSize: this.setup.diskSize,
      next: { writeCnt: b.writeCnt, oopsCounter: b.oopsCounter, panicCounter: b.panicCounter },
      zones: zones.map((zone) => {
        const head = Buffer.alloc(PSZ_HEADER_SIZE + KMSG_HEADER_SIZE)
        b.disk.copy(zone.offset, head.length, head)
        const h = readPszHeader(head)
        return {
          type: zone.type,
          index: zone.index,
          offset: zone.offset,
          size: zone.size,
          capacity: zone.size - PSZ_HEADER_SIZE,
          signature: '0x' + zone.sig.toString(16).padStart(8, '0'),
          signatureValid: h.sig === zone.sig,
          datalen: h.datalen,
          start: h.start,
          used: h.sig === zone.sig ? h.datalen : 0,
        }
      }),
      unusedTail: { offset: this.setup.totalSize - l.unusedTail, size: l.unusedTail },
    }
  }

  memory(): BackendMemory {
    const b = this.blk
    return { writeCnt: b.writeCnt, oopsCounter: b.oopsCounter, panicCounter: b.panicCounter, onPanic: b.onPanic ? 1 : 0 }
  }

  restoreMemory(memory: BackendMemory): void {
    const b = this.blk
    if (typeof memory.writeCnt === 'number') b.writeCnt = memory.writeCnt
    if (typeof memory.oopsCounter === 'number') b.oopsCounter = memory.oopsCounter
    if (typeof memory.panicCounter === 'number') b.panicCounter = memory.panicCounter
    if (typeof memory.onPanic === 'number') b.onPanic = memory.onPanic === 1
  }
}
