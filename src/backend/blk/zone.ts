/**
 * One pstore/zone zone on the disk: `struct psz_buffer` = {u32 sig, u32 datalen, u32 start}
 * then the data (fs/pstore/zone.c). sig is PSZ_SIG XOR the type; datalen is the bytes in use;
 * start is where a ring (pmsg, console, ftrace) continues. Little endian, as on x86.
 */
export const PSZ_HEADER_SIZE = 12

export interface PszHeader {
  sig: number
  /** signed on disk (atomic_t) */
  datalen: number
  start: number
}

export function readPszHeader(bytes: Uint8Array, offset = 0): PszHeader {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { sig: view.readUInt32LE(offset), datalen: view.readInt32LE(offset + 4), start: view.readInt32LE(offset + 8) }
}

export function encodePszHeader(header: PszHeader): Buffer {
  const out = Buffer.alloc(PSZ_HEADER_SIZE)
  out.writeUInt32LE(header.sig >>> 0, 0)
  out.writeInt32LE(header.datalen, 4)
  out.writeInt32LE(header.start, 8)
  return out
}

/**
 * psz_recover_zone()'s reading of a ring zone (pmsg, console, ftrace): undefined when the kernel
 * finds nothing (wrong sig, datalen or start beyond the zone, datalen 0); else the data from
 * `start` to `datalen`, then from 0 to `start`, the oldest byte first.
 */
export function readRingZone(zone: Uint8Array, sig: number): Buffer | undefined {
  const header = readPszHeader(zone)
  const capacity = zone.length - PSZ_HEADER_SIZE
  if (header.sig !== sig >>> 0) return undefined
  // the kernel compares as size_t < int: a negative value becomes huge
  const datalen = header.datalen < 0 ? Number.MAX_SAFE_INTEGER : header.datalen
  const start = header.start < 0 ? Number.MAX_SAFE_INTEGER : header.start
  if (capacity < datalen || capacity < start) return undefined
  if (datalen === 0) return undefined
  const data = Buffer.from(zone.subarray(PSZ_HEADER_SIZE, PSZ_HEADER_SIZE + capacity))
  if (start > datalen) return undefined // the kernel's read of len - start bytes fails: the whole read pass fails
  return Buffer.concat([data.subarray(start, datalen), data.subarray(0, start)])
}
