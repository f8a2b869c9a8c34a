/**
 * Where each persistent RAM zone sits in the region (docs/ramoops-format.md §2), computed as the target kernel's
 * ramoops_probe() does: dmesg zones first, then console, then pmsg and ftrace in the version's
 * order. Unused bytes (division remainders, even-rounding) all end up at the region's tail.
 */
import { linuxVersionCode } from '../../format/kernelVersion.js'
import type { FrontendType } from '../../pstore/record.js'
import { ProbeError, type RamoopsSetup } from './ramoopsSetup.js'

/** Each zone holds records of one pstore type. */
export type ZoneType = FrontendType

/** "DBGC" little-endian; every zone's signature is this XOR a per-type value. */
export const PERSISTENT_RAM_SIG = 0x43474244

export interface ZoneLayout {
  type: ZoneType
  /** Index among zones of its type (dmesg id, ftrace CPU). */
  index: number
  /** Byte offset in the region (= image file). */
  offset: number
  /** Zone bytes, header included. */
  size: number
  /** Expected signature. */
  sig: number
  /** Snapshot then clear at every boot (console, pmsg). */
  zapOld: boolean
}

export interface RegionLayout {
  dmesg: ZoneLayout[]
  console?: ZoneLayout
  pmsg?: ZoneLayout
  ftrace: ZoneLayout[]
  /** Every zone in region order. */
  zones: ZoneLayout[]
  /** First byte after the last zone; the rest of the region is never touched. */
  usedEnd: number
}

export function ftraceSignature(setup: RamoopsSetup): number {
  return (PERSISTENT_RAM_SIG ^ linuxVersionCode(setup.kernel)) >>> 0
}

export function computeLayout(setup: RamoopsSetup): RegionLayout {
  const layout: RegionLayout = { dmesg: [], ftrace: [], zones: [], usedEnd: 0 }
  let p = 0
  const hex = (n: number) => '0x' + n.toString(16)
  const noRoom = (name: string, size: number) =>
    new ProbeError(
      `no room for ${name} mem region (${hex(size)}@${hex(setup.memAddress + p)}) in (${hex(setup.memSize)}@${hex(setup.memAddress)}): the zones need more than mem_size`,
    )

  // ramoops_init_przs(): an area split into `count` equal zones.
  const splitArea = (type: 'dmesg' | 'ftrace', areaSize: number, count: number, sig: number) => {
    if (p + areaSize > setup.memSize) throw noRoom(type, areaSize)
    let zoneSize = Math.floor(areaSize / count)
    if (setup.quirks.evenZoneSizes) zoneSize -= zoneSize % 2 // not &= ~1: sizes reach 2^32, past 32-bit bitwise operators
    if (zoneSize === 0) throw new ProbeError(`${type} zone size == 0 (${areaSize} bytes for ${count} zones)`)
    for (let i = 0; i < count; i++) {
      place({ type, index: i, offset: p, size: zoneSize, sig, zapOld: false })
      p += zoneSize
    }
  }
  const place = (zone: ZoneLayout) => {
    checkZoneFits(setup, zone)
    layout.zones.push(zone)
    if (zone.type === 'dmesg') layout.dmesg.push(zone)
    else if (zone.type === 'ftrace') layout.ftrace.push(zone)
    else layout[zone.type] = zone
  }
  const single = (type: 'console' | 'pmsg', size: number) => {
    if (!size) return
    if (p + size > setup.memSize) throw noRoom(type, size)
    place({ type, index: 0, offset: p, size, sig: PERSISTENT_RAM_SIG, zapOld: true })
    p += size
  }

  // size_t arithmetic in the kernel: a negative dump area wraps to a huge number and fails the room check.
  const dumpArea = setup.memSize - setup.consoleSize - setup.ftraceSize - setup.pmsgSize
  if (dumpArea < 0) {
    throw new ProbeError(
      `no room for dmesg: console_size + ftrace_size + pmsg_size (${setup.consoleSize + setup.ftraceSize + setup.pmsgSize}) exceed mem_size (${setup.memSize})`,
    )
  }
  if (dumpArea > 0 && setup.recordSize > 0) {
    const count = Math.floor(dumpArea / setup.recordSize)
    if (count === 0) throw new ProbeError(`dmesg record count == 0 (${dumpArea} bytes left for dmesg, record_size ${setup.recordSize})`)
    splitArea('dmesg', dumpArea, count, PERSISTENT_RAM_SIG)
  }
  single('console', setup.consoleSize)
  const ftrace = () => {
    if (setup.ftraceSize) splitArea('ftrace', setup.ftraceSize, setup.ftracePerCpu ? setup.cpus : 1, ftraceSignature(setup))
  }
  if (setup.quirks.pmsgBeforeFtrace) {
    single('pmsg', setup.pmsgSize)
    ftrace()
  } else {
    ftrace()
    single('pmsg', setup.pmsgSize)
  }
  layout.usedEnd = p
  return layout
}

/** Header of 12 bytes (sig, start, size). */
export const ZONE_HEADER_SIZE = 12

export interface ZoneGeometry {
  /** Ring buffer capacity in bytes. */
  capacity: number
  /** ECC blocks (0 without ECC). */
  eccBlocks: number
  /** Offset of block 0's parity, relative to the zone. */
  parityOffset: number
  /** Offset of the header's parity, relative to the zone. */
  headerParityOffset: number
}

/** persistent_ram_init_ecc() (docs/ramoops-format.md §4.4, §5.1). */
export function zoneGeometry(zoneSize: number, eccSize: number, blockSize: number): ZoneGeometry | string {
  const raw = zoneSize - ZONE_HEADER_SIZE
  if (raw <= 0) return `zone of ${zoneSize} bytes is smaller than its ${ZONE_HEADER_SIZE}-byte header`
  if (!eccSize) return { capacity: raw, eccBlocks: 0, parityOffset: zoneSize, headerParityOffset: zoneSize }
  const blocks = Math.ceil((raw - eccSize) / (blockSize + eccSize))
  const total = (blocks + 1) * eccSize
  if (total >= raw) return `invalid ecc_size ${eccSize} (total ${total}, buffer size ${raw})`
  const capacity = raw - total
  return {
    capacity,
    eccBlocks: blocks,
    parityOffset: ZONE_HEADER_SIZE + capacity,
    headerParityOffset: ZONE_HEADER_SIZE + capacity + blocks * eccSize,
  }
}

function checkZoneFits(setup: RamoopsSetup, zone: ZoneLayout) {
  const geometry = zoneGeometry(zone.size, setup.eccSize, setup.eccBlockSize)
  if (typeof geometry === 'string') throw new ProbeError(`${zone.type} zone ${zone.index}: ${geometry}`)
}
