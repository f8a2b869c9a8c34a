/**
 * Where each pstore/zone zone sits on the disk (psz_alloc_zones() in fs/pstore/zone.c): pmsg,
 * console, the per-CPU ftrace zones, then dmesg zones of kmsg_size filling what is left.
 */
import type { FrontendType } from '../../pstore/record.js'
import { type BlkSetup, BlkSetupError } from './blkSetup.js'

/** PSZ_SIG ("DBGC"); each zone's signature is it XOR the zone's pstore_type_id. */
export const PSZ_SIG = 0x43474244
/** enum pstore_type_id (fixed values since 5.8). */
export const PSTORE_TYPE_ID: Record<FrontendType, number> = { dmesg: 0, console: 2, ftrace: 3, pmsg: 7 }

export interface BlkZoneLayout {
  type: FrontendType
  /** index among the zones of its type (the record id of a dmesg zone, the CPU of an ftrace zone) */
  index: number
  offset: number
  /** header + data */
  size: number
  sig: number
}

export interface BlkLayout {
  pmsg?: BlkZoneLayout
  console?: BlkZoneLayout
  ftrace: BlkZoneLayout[]
  dmesg: BlkZoneLayout[]
  /** bytes from the last zone's end to totalSize: never touched */
  unusedTail: number
}

function zones(type: FrontendType, at: { off: number }, total: number, recordSize: number, totalSize: number): BlkZoneLayout[] {
  if (!total || !recordSize) return []
  if (at.off + total > totalSize) {
    throw new BlkSetupError(
      `no room for the ${type} zones (${total} bytes at ${at.off} of a ${totalSize}-byte disk): make the disk larger or the sizes smaller`,
    )
  }
  const count = Math.floor(total / recordSize)
  const out: BlkZoneLayout[] = []
  for (let index = 0; index < count; index++) {
    out.push({ type, index, offset: at.off, size: recordSize, sig: (PSZ_SIG ^ PSTORE_TYPE_ID[type]) >>> 0 })
    at.off += recordSize
  }
  return out
}

export function computeBlkLayout(setup: BlkSetup): BlkLayout {
  const at = { off: 0 }
  const pmsg = zones('pmsg', at, setup.pmsgSize, setup.pmsgSize, setup.totalSize)[0]
  const console = zones('console', at, setup.consoleSize, setup.consoleSize, setup.totalSize)[0]
  // ftrace_size / nr_cpu_ids per CPU; the zones may not fill ftrace_size, and the dmesg zones
  // start right after them but share out total - (pmsg + console + ftrace) as the kernel does
  const ftrace = zones('ftrace', at, setup.ftraceSize, Math.floor(setup.ftraceSize / setup.cpus), setup.totalSize)
  const dmesgRoom = setup.totalSize - (setup.pmsgSize + setup.consoleSize + setup.ftraceSize)
  const dmesg = zones('dmesg', at, dmesgRoom, setup.kmsgSize, setup.totalSize)
  return { pmsg, console, ftrace, dmesg, unusedTail: setup.totalSize - at.off }
}
