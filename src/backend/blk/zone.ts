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

/** What psz_recover_zone() makes of a ring zone (pmsg, console, ftrace) at the first read of a boot. */
export type RingRecovery =
  | { state: 'ring'; data: Buffer }
  | { state: 'empty'; why: string }
  /** the kernel's read of the zone fails: psz_recovery() fails, and with it every read pass */
  | { state: 'read-fails'; why: string }

/**
 * psz_recover_zone()'s reading of a ring zone: nothing when the signature is wrong, datalen or
 * start lies beyond the zone ("overtop", compared as size_t against int: a negative value is
 * huge) or datalen is 0; else the data from `start` to `datalen`, then from 0 to `start`, the
 * oldest byte first. A start past datalen makes the first read's length (datalen - start)
 * negative: as a size_t, kernel_read() refuses it (-EINVAL), the recovery fails.
 */
export function recoverRingZone(zone: Uint8Array, sig: number): RingRecovery {
  const header = readPszHeader(zone)
  const capacity = zone.length - PSZ_HEADER_SIZE
  if (header.sig !== sig >>> 0) return { state: 'empty', why: 'no signature' }
  const datalen = header.datalen < 0 ? Number.MAX_SAFE_INTEGER : header.datalen
  const start = header.start < 0 ? Number.MAX_SAFE_INTEGER : header.start
  if (capacity < datalen || capacity < start) return { state: 'empty', why: `datalen ${header.datalen} or start ${header.start} beyond the zone ("overtop")` }
  if (datalen === 0) return { state: 'empty', why: 'datalen 0 (erased)' }
  if (start > datalen) {
    return {
      state: 'read-fails',
      why: `start ${start} is past datalen ${datalen}: the kernel's read of datalen - start bytes, a negative count, fails (kernel_read(): -EINVAL), and psz_recover_zone() with it`,
    }
  }
  const data = Buffer.from(zone.subarray(PSZ_HEADER_SIZE, PSZ_HEADER_SIZE + capacity))
  return { state: 'ring', data: Buffer.concat([data.subarray(start, datalen), data.subarray(0, start)]) }
}

/** The data of a ring zone the kernel recovers, or undefined (see recoverRingZone). */
export function readRingZone(zone: Uint8Array, sig: number): Buffer | undefined {
  const r = recoverRingZone(zone, sig)
  return r.state === 'ring' ? r.data : undefined
}
