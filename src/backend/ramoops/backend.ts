/**
 * ramoops behind the backend interface (ram.c's `ramoops_pstore_*` as a `pstore_info`). The
 * zone logic stays in `Ramoops`; this only answers in the interface's terms.
 */
import type { RegionImage } from '../../format/region.js'
import type { DmesgWrite, PstoreRecord, PstoreType } from '../../pstore/record.js'
import type { BackendMemory, DmesgWriteResult, LentRing, PstoreBackend } from '../backend.js'
import type { CorruptSpec, FlipReport } from '../faults.js'
import { corrupt } from './corrupt.js'
import type { RamoopsDescription } from './description.js'
import { Ramoops, RamoopsError, type ZoneReport } from './ramoops.js'
import type { RamoopsSetup } from './ramoopsSetup.js'

export class RamoopsBackend implements PstoreBackend {
  readonly name = 'ramoops'
  readonly ramoops: Ramoops
  readonly types: readonly PstoreType[]

  constructor(setup: RamoopsSetup, region: RegionImage) {
    this.ramoops = new Ramoops(setup, region)
    this.types = (['dmesg', 'console', 'pmsg', 'ftrace'] as const).filter((type) => this.whyNot(type) === undefined)
  }

  get region(): RegionImage {
    return this.ramoops.region
  }

  get bufsize(): number {
    return this.ramoops.bufsize
  }

  whyNot(type: PstoreType): string | undefined {
    const r = this.ramoops
    if (type === 'dmesg') return r.dmesg.length ? undefined : 'this setup has no dmesg zones (record_size 0)'
    if (type === 'console') return r.console ? undefined : 'this setup has no console zone (console_size 0)'
    if (type === 'pmsg') return r.pmsg ? undefined : 'this setup has no pmsg zone (pmsg_size 0)'
    return r.ftrace.length ? undefined : 'this setup has no ftrace zone (ftrace_size 0)'
  }

  boot(): ZoneReport[] {
    return this.ramoops.boot()
  }

  readRecords(): PstoreRecord[] {
    return this.ramoops.readRecords()
  }

  writeDmesg(part: DmesgWrite): DmesgWriteResult {
    // ramoops_pstore_write() answers -ENOSPC for every part but the first, and without zones.
    if (part.part !== 1) return { stored: false, errno: 'ENOSPC', why: `ramoops stores only part 1 of a dump (got part ${part.part})` }
    if (this.ramoops.dmesg.length === 0) return { stored: false, errno: 'ENOSPC', why: 'this setup has no dmesg zones (record_size 0)' }
    try {
      const { zone } = this.ramoops.writeDmesg(part)
      return { stored: true, slot: zone, id: zone }
    } catch (err) {
      if (err instanceof RamoopsError) return { stored: false, errno: 'ENOSPC', why: err.message }
      throw err
    }
  }

  writeConsole(bytes: Uint8Array): void {
    this.ramoops.writeConsole(bytes)
  }

  consoleRefusal(): Error | undefined {
    return this.ramoops.console?.writeRefusal()
  }

  writePmsg(bytes: Uint8Array): number {
    return this.ramoops.writePmsg(bytes)
  }

  get lendsPmsgRing(): boolean {
    const zone = this.ramoops.pmsg
    return !!zone && zone.eccSize === 0 && !this.region.readOnly && this.region.path !== undefined
  }

  lendPmsgRing(): LentRing | undefined {
    const zone = this.ramoops.pmsg
    if (!zone || !this.lendsPmsgRing || zone.writeRefusal()) return undefined
    const fileFd = this.region.lendToFile(zone.offset, zone.layout.size)
    // a start at the ring's very end (an image written so) writes from 0, as persistent_ram_write() does
    const start = zone.start === zone.capacity ? 0 : zone.start
    return { fileFd, headerAt: zone.offset + 4, dataAt: zone.dataOffset, capacity: zone.capacity, start, size: zone.size }
  }

  reclaimPmsgRing(): void {
    const zone = this.ramoops.pmsg
    if (!zone) return
    this.region.reloadFromFile(zone.offset, zone.layout.size)
    zone.changedOutside()
  }

  checkFtrace(cpu: number): void {
    const refusal = this.ramoops.ftraceZone(cpu).writeRefusal()
    if (refusal) throw refusal
  }

  writeFtrace(cpu: number, bytes: Uint8Array): void {
    this.ramoops.writeFtrace(cpu, bytes)
  }

  erase(type: PstoreType, id: number | bigint): void {
    this.ramoops.erase(type, Number(id))
  }

  corrupt(spec: CorruptSpec): FlipReport[] {
    const flips = corrupt(this.ramoops, spec)
    this.ramoops.region.flush()
    return flips
  }

  describe(): RamoopsDescription {
    const r = this.ramoops
    return {
      kind: 'ramoops',
      zones: r.zones.map((zone) => ({
        type: zone.layout.type,
        index: zone.layout.index,
        offset: zone.offset,
        size: zone.layout.size,
        capacity: zone.capacity,
        signature: '0x' + zone.sig.toString(16).padStart(8, '0'),
        signatureValid: zone.signatureValid,
        start: zone.start,
        used: zone.size,
      })),
      unusedTail: { offset: r.layout.usedEnd, size: r.setup.memSize - r.layout.usedEnd },
    }
  }

  memory(): BackendMemory {
    return { dumpWriteCnt: this.ramoops.dumpWriteCnt }
  }

  restoreMemory(memory: BackendMemory): void {
    if (typeof memory.dumpWriteCnt === 'number') this.ramoops.dumpWriteCnt = memory.dumpWriteCnt
  }
}
