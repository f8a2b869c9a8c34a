/**
 * A dmesg zone of pstore/zone: the zone header, then `struct psz_kmsg_header` (40 bytes on a
 * 64-bit kernel), then the record (part 1 of a dump). A dump rewrites the whole zone from a
 * zeroed buffer (psz_kmsg_write_record(): kzalloc, FLUSH_ALL).
 *
 *   0  u32 magic 0x4dfc3ae5      4  (padding)
 *   8  s64 time.tv_sec          16  s64 time.tv_nsec
 *  24  bool compressed          28  u32 counter
 *  32  enum reason (u32)        36  (padding)
 */
import { encodePszHeader, PSZ_HEADER_SIZE, readPszHeader } from './zone.js'

export const KMSG_HEADER_MAGIC = 0x4dfc3ae5
export const KMSG_HEADER_SIZE = 40

export interface KmsgHeader {
  magic: number
  sec: bigint
  nsec: bigint
  compressed: boolean
  counter: number
  reason: number
}

export function readKmsgHeader(bytes: Uint8Array, offset = 0): KmsgHeader {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    magic: view.readUInt32LE(offset),
    sec: view.readBigInt64LE(offset + 8),
    nsec: view.readBigInt64LE(offset + 16),
    // a C bool read as a byte: any non-zero byte is true to the core's `if (record->compressed)`
    compressed: view[offset + 24] !== 0,
    counter: view.readUInt32LE(offset + 28),
    reason: view.readUInt32LE(offset + 32),
  }
}

export function encodeKmsgHeader(header: Omit<KmsgHeader, 'magic'>): Buffer {
  const out = Buffer.alloc(KMSG_HEADER_SIZE)
  out.writeUInt32LE(KMSG_HEADER_MAGIC, 0)
  out.writeBigInt64LE(header.sec, 8)
  out.writeBigInt64LE(header.nsec, 16)
  out[24] = header.compressed ? 1 : 0
  out.writeUInt32LE(header.counter >>> 0, 28)
  out.writeUInt32LE(header.reason >>> 0, 32)
  return out
}

/** The bytes of a whole dmesg zone after a dump: headers, payload cut to the zone, zeros. */
export function encodeDmesgZone(zoneSize: number, sig: number, header: Omit<KmsgHeader, 'magic'>, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(zoneSize)
  const room = zoneSize - PSZ_HEADER_SIZE - KMSG_HEADER_SIZE
  const size = Math.min(payload.length, room)
  encodePszHeader({ sig, datalen: KMSG_HEADER_SIZE + size, start: 0 }).copy(out, 0)
  encodeKmsgHeader(header).copy(out, PSZ_HEADER_SIZE)
  out.set(payload.subarray(0, size), PSZ_HEADER_SIZE + KMSG_HEADER_SIZE)
  return out
}

export type DmesgZoneState =
  | { state: 'no-data'; why: string }
  | { state: 'erased'; header: KmsgHeader }
  | { state: 'record'; header: KmsgHeader; datalen: number }

/** psz_kmsg_recover_meta() on one zone's first 52 bytes. */
export function classifyDmesgZone(head: Uint8Array, sig: number, capacity: number): DmesgZoneState {
  const zone = readPszHeader(head)
  if (zone.sig !== sig >>> 0) return { state: 'no-data', why: 'no signature' }
  // capacity < datalen as size_t < int
  if (zone.datalen < 0 || capacity < zone.datalen) return { state: 'no-data', why: `datalen ${zone.datalen} beyond the zone ("overtop")` }
  const header = readKmsgHeader(head, PSZ_HEADER_SIZE)
  if (header.magic !== KMSG_HEADER_MAGIC) return { state: 'no-data', why: 'no kmsg header magic' }
  if (zone.datalen === 0) return { state: 'erased', header }
  return { state: 'record', header, datalen: zone.datalen }
}
