/**
 * dmesg records in their zones: the read side of ramoops_pstore_read() for one dmesg zone and
 * the dmesg branch of ramoops_pstore_write() (docs/ramoops-format.md §6.2, §6.4).
 */

import { formatDmesgHeader, parseDmesgHeader } from '../../format/dmesgHeader.js'
import type { DmesgWrite, PstoreRecord, RecordTime } from '../../pstore/record.js'
import type { PersistentRamZone } from './zone.js'

/**
 * Refreshes the zone's snapshot from RAM and parses its header. A zone with data but no valid
 * header is zapped and skipped, as the kernel does. Returns undefined when there is no record.
 */
export function readDmesgZone(zone: PersistentRamZone, eccNoticePrefix: boolean): PstoreRecord | undefined {
  zone.saveOld()
  const snapshot = zone.oldLog
  if (!snapshot || snapshot.length === 0) return undefined
  const header = parseDmesgHeader(snapshot)
  if (header.length === 0) {
    zone.freeOld()
    zone.zap()
    return undefined
  }
  const time: RecordTime = { sec: header.sec, nsec: header.nsec }
  return {
    type: 'dmesg',
    id: zone.layout.index,
    time,
    compressed: header.compressed,
    payload: snapshot.subarray(header.length),
    eccNotice: zone.eccNotice(eccNoticePrefix),
  }
}

/** Zap, header, then as much of the payload as fits (its end is cut). */
export function writeDmesgZone(zone: PersistentRamZone, write: DmesgWrite): void {
  zone.zap()
  const header = Buffer.from(formatDmesgHeader(write.time.sec, write.time.nsec, write.compressed), 'latin1')
  zone.write(header)
  const room = zone.capacity - header.length
  zone.write(write.payload.length > room ? write.payload.subarray(0, Math.max(room, 0)) : write.payload)
}
