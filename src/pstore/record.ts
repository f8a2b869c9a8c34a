/**
 * A pstore record: what the backend hands to the pstore core on each read, and the file the
 * filesystem makes of it (fs/pstore/platform.c, inode.c; docs/ramoops-format.md §6.4, §8).
 */
/** The record types the frontends write (pstore_type_id); a ramoops or pstore/blk zone holds one of them. */
export type FrontendType = 'dmesg' | 'console' | 'pmsg' | 'ftrace'
/**
 * Every type a read pass hands over: erst also returns the MCE records it keeps, and records of
 * any other CPER section as PSTORE_TYPE_MAX, which pstore_type_to_name() calls "unknown";
 * efi-pstore returns whatever type a variable's name gives (`dump-type<N>-…`), the PowerPC ones
 * (4, 5, 6, 8) named as pstore_type_to_name() names them.
 */
export type PstoreType = FrontendType | 'mce' | 'rtas' | 'powerpc-ofw' | 'powerpc-common' | 'powerpc-opal' | 'unknown'

/** kmsg_dump reasons (include/linux/kmsg_dump.h, 5.8+). */
export const KMSG_DUMP = { undef: 0, panic: 1, oops: 2, emergency: 3, shutdown: 4 } as const

/** One part from the kmsg dumper, as the backend receives it. */
export interface DmesgWrite {
  part: number
  compressed: boolean
  /** Record bytes: compressed stream, or `<Reason>#<n> Part1\n` + log text. */
  payload: Uint8Array
  /** Wall clock when the dump was taken. */
  time: { sec: number; nsec: number }
  /** record->reason (a KMSG_DUMP value): pstore/zone counts Oopses and panics apart. The dumper always sets it. */
  reason?: number
  /** record->count: the dump's number in this boot (oopscount), which efi-pstore puts in its variable names. */
  count?: number
}

export interface RecordTime {
  /** Seconds since the epoch, signed (a dmesg header may hold anything). */
  sec: bigint
  nsec: bigint
}

export interface PstoreRecord {
  type: PstoreType
  /** ramoops: the zone index; erst: the 64-bit CPER record id. */
  id: number | bigint
  /** From the dmesg header; 0/0 for every other type. */
  time: RecordTime
  /** Still compressed after the core tried to inflate it: the file is `….enc.z`. */
  compressed: boolean
  /**
   * Payload as the core holds it (inflated where possible), without the ECC notice. For a record
   * made by lazyPayloadRecord() it is made on first use: read payloadLength for the size.
   */
  payload: Buffer
  /** The payload's length, known without making it (lazyPayloadRecord); otherwise payload.length. */
  payloadLength?: number
  /** Appended to the payload in the file ("" without ECC). */
  eccNotice: string
  /** Why inflation failed, for `inspect`. */
  inflateError?: string
  /** A record stored compressed (`-C`) that the core inflated: the algorithm it was read with, for `inspect`. */
  inflatedWith?: string
}

/** A console, pmsg or ftrace record: id 0, no time, never compressed. */
export function untimedRecord(type: PstoreType, payload: Buffer, eccNotice: string): PstoreRecord {
  return { type, id: 0, time: { sec: 0n, nsec: 0n }, compressed: false, payload, eccNotice }
}

/**
 * A record whose payload is made by `makePayload` when it is first read, once; `size` is its
 * length, known before. Anything else of the record is as given.
 */
export function lazyPayloadRecord(fields: Omit<PstoreRecord, 'payload' | 'payloadLength'>, size: number, makePayload: () => Buffer): PstoreRecord {
  let payload: Buffer | undefined
  const record = { ...fields, payloadLength: size } as PstoreRecord
  Object.defineProperty(record, 'payload', {
    enumerable: true,
    get: () => {
      payload ??= makePayload()
      return payload
    },
  })
  return record
}

/** The bytes of the record's file as the kernel counts them (i_size): payload + ECC notice, without making a lazy payload. */
export function recordSize(record: PstoreRecord): number {
  return (record.payloadLength ?? record.payload.length) + Buffer.byteLength(record.eccNotice, 'latin1')
}

/** `<type>-<backend>-<id><suffix>` (inode.c). */
export function recordName(record: Pick<PstoreRecord, 'type' | 'id' | 'compressed'>, backend = 'ramoops'): string {
  return `${record.type}-${backend}-${record.id}${record.compressed ? '.enc.z' : ''}`
}

/** The bytes the kernel keeps for the file: payload + ECC notice; its length is the kernel's i_size. */
export function recordBytes(record: PstoreRecord): Buffer {
  return record.eccNotice ? Buffer.concat([record.payload, Buffer.from(record.eccNotice, 'latin1')]) : record.payload
}
