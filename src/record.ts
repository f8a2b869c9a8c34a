/**
 * A pstore record: what the backend hands to the pstore core on each read, and the file the
 * filesystem makes of it (fs/pstore/platform.c, inode.c; spec 6.4, 8).
 */
import { ZoneType } from './layout.js'

export interface RecordTime {
  /** Seconds since the epoch, signed (a dmesg header may hold anything). */
  sec: bigint
  nsec: bigint
}

export interface PstoreRecord {
  type: ZoneType
  id: number
  /** From the dmesg header; 0/0 for every other type. */
  time: RecordTime
  /** Still compressed after the core tried to inflate it: the file is `….enc.z`. */
  compressed: boolean
  /** Payload as the core holds it (inflated where possible), without the ECC notice. */
  payload: Buffer
  /** Appended to the payload in the file ("" without ECC). */
  eccNotice: string
  /** Why inflation failed, for `inspect`. */
  inflateError?: string
}

/** A console, pmsg or ftrace record: id 0, no time, never compressed. */
export function untimedRecord(type: ZoneType, payload: Buffer, eccNotice: string): PstoreRecord {
  return { type, id: 0, time: { sec: 0n, nsec: 0n }, compressed: false, payload, eccNotice }
}

/** `<type>-<backend>-<id><suffix>` (inode.c). */
export function recordName(record: Pick<PstoreRecord, 'type' | 'id' | 'compressed'>, backend = 'ramoops'): string {
  return `${record.type}-${backend}-${record.id}${record.compressed ? '.enc.z' : ''}`
}

/** The bytes the kernel keeps for the file: payload + ECC notice; its length is the kernel's i_size. */
export function recordBytes(record: PstoreRecord): Buffer {
  return record.eccNotice ? Buffer.concat([record.payload, Buffer.from(record.eccNotice, 'latin1')]) : record.payload
}
