/**
 * The CPER record erst_writer() builds around a pstore record (include/linux/cper.h,
 * drivers/acpi/apei/erst.c `struct cper_pstore_record`): a 128-byte record header, one 72-byte
 * section descriptor, then the record's bytes. Offsets below are the packed structs'.
 */

export const RECORD_HEADER_SIZE = 128
export const SECTION_DESCRIPTOR_SIZE = 72
/** sizeof(struct cper_pstore_record): what erst's bufsize leaves of the exchange buffer. */
export const PSTORE_RECORD_OVERHEAD = RECORD_HEADER_SIZE + SECTION_DESCRIPTOR_SIZE
/** Where the record header holds record_length (u32): how much of its slot the record fills. */
export const RECORD_LENGTH_OFFSET = 20

/** GUID_INIT(a, b, c, d0..d7) as the 16 bytes guid_t holds (a, b, c little-endian). */
function guid(a: number, b: number, c: number, ...d: number[]): Buffer {
  const g = Buffer.alloc(16)
  g.writeUInt32LE(a, 0)
  g.writeUInt16LE(b, 4)
  g.writeUInt16LE(c, 6)
  Buffer.from(d).copy(g, 8)
  return g
}

export const CREATOR_PSTORE = guid(0x75a574e3, 0x5052, 0x4b29, 0x8a, 0x8e, 0xbe, 0x2c, 0x64, 0x90, 0xb8, 0x9d)
export const SECTION_DMESG = guid(0xc197e04e, 0xd545, 0x4a70, 0x9c, 0x17, 0xa5, 0x54, 0x94, 0x19, 0xeb, 0x12)
export const SECTION_DMESG_Z = guid(0x4f118707, 0x04dd, 0x4055, 0xb5, 0xdd, 0x95, 0x6d, 0x34, 0xdd, 0xfa, 0xc6)
export const SECTION_MCE = guid(0xfe08ffbe, 0x95e4, 0x4be7, 0xbc, 0x73, 0x40, 0x96, 0x04, 0x4a, 0x38, 0xfc)
export const NOTIFY_MCE = guid(0xe8f56ffe, 0x919c, 0x4cc5, 0xba, 0x88, 0x65, 0xab, 0xe1, 0x49, 0x13, 0xbb)

const CPER_RECORD_REV = 0x0100
const CPER_SEC_REV = 0x0100
const CPER_SEV_FATAL = 1
const CPER_VALID_TIMESTAMP = 0x0002
const CPER_HW_ERROR_FLAGS_PREVERR = 0x2
const CPER_SEC_PRIMARY = 0x0001

export interface CperPstoreRecord {
  recordId: bigint
  /** Seconds since the epoch, plain (erst_writer stores ktime_get_real_seconds(), not the UEFI BCD form). */
  timestamp: bigint
  compressed: boolean
  data: Buffer
}

/** erst_writer() + erst_write(): the record as it goes into the exchange buffer, record_length bytes long. */
export function encodeCperRecord(r: CperPstoreRecord): Buffer {
  const out = Buffer.alloc(PSTORE_RECORD_OVERHEAD + r.data.length)
  out.write('CPER', 0, 'latin1')
  out.writeUInt16LE(CPER_RECORD_REV, 4)
  out.writeUInt32LE(0xffffffff, 6) // signature_end
  out.writeUInt16LE(1, 10) // section_count
  out.writeUInt32LE(CPER_SEV_FATAL, 12)
  out.writeUInt32LE(CPER_VALID_TIMESTAMP, 16)
  out.writeUInt32LE(out.length, RECORD_LENGTH_OFFSET)
  out.writeBigUInt64LE(BigInt.asUintN(64, r.timestamp), 24)
  CREATOR_PSTORE.copy(out, 64)
  NOTIFY_MCE.copy(out, 80)
  out.writeBigUInt64LE(r.recordId, 96)
  out.writeUInt32LE(CPER_HW_ERROR_FLAGS_PREVERR, 104)
  // erst_write() stamps "ER" into persistence_information ("signature for serialization
  // system") as it copies the record into the exchange buffer: the stored bytes carry it.
  out.write('ER', 108, 'latin1')
  const s = RECORD_HEADER_SIZE
  out.writeUInt32LE(PSTORE_RECORD_OVERHEAD, s) // section_offset
  out.writeUInt32LE(r.data.length, s + 4) // section_length
  out.writeUInt16LE(CPER_SEC_REV, s + 8)
  out.writeUInt32LE(CPER_SEC_PRIMARY, s + 12)
  ;(r.compressed ? SECTION_DMESG_Z : SECTION_DMESG).copy(out, s + 16)
  out.writeUInt32LE(CPER_SEV_FATAL, s + 48)
  r.data.copy(out, PSTORE_RECORD_OVERHEAD)
  return out
}

export type SectionKind = 'dmesg' | 'dmesg-z' | 'mce' | 'unknown'

export interface DecodedCper {
  recordLength: number
  recordId: bigint
  /** Only when the timestamp-valid bit is set; 0 otherwise (as erst_reader reads it). */
  timestamp: bigint
  creatorIsPstore: boolean
  section: SectionKind
  data: Buffer
}

/**
 * erst_read_record() + erst_reader(): the record in a slot, or why the kernel would not read it.
 * `bufLimit` is the reader's buffer (sizeof(record) + bufsize): a longer record is -ENOBUFS.
 */
export function decodeCperRecord(slot: Buffer, bufLimit: number): DecodedCper | { error: string } {
  if (slot.length < RECORD_HEADER_SIZE) return { error: 'shorter than a CPER record header' }
  const recordLength = slot.readUInt32LE(RECORD_LENGTH_OFFSET)
  // QEMU refuses to read a record shorter than its header or longer than the exchange buffer.
  if (recordLength < RECORD_HEADER_SIZE || recordLength > slot.length) return { error: `record_length ${recordLength} is invalid (QEMU fails the read)` }
  if (recordLength > bufLimit) return { error: `record_length ${recordLength} exceeds the reader's ${bufLimit} bytes (-ENOBUFS)` }
  const creatorIsPstore = slot.subarray(64, 80).equals(CREATOR_PSTORE)
  const type = slot.subarray(RECORD_HEADER_SIZE + 16, RECORD_HEADER_SIZE + 32)
  const section: SectionKind = type.equals(SECTION_DMESG_Z) ? 'dmesg-z' : type.equals(SECTION_DMESG) ? 'dmesg' : type.equals(SECTION_MCE) ? 'mce' : 'unknown'
  const valid = slot.readUInt32LE(16)
  return {
    recordLength,
    recordId: slot.readBigUInt64LE(96),
    timestamp: valid & CPER_VALID_TIMESTAMP ? slot.readBigInt64LE(24) : 0n,
    creatorIsPstore,
    section,
    // The reader copies everything after the two headers, whatever section_length says.
    data: Buffer.from(slot.subarray(Math.min(PSTORE_RECORD_OVERHEAD, recordLength), recordLength)),
  }
}

/** cper_next_record_id()'s first value of a boot: the time in the high bits (a 2038+ form beyond int32). */
export function firstRecordIdBase(seconds: number): bigint {
  const t = BigInt(Math.floor(seconds))
  if (t < 0x80000000n) return BigInt.asUintN(64, t << 32n)
  return BigInt.asUintN(64, 0x8000000000000000n | (t << 24n))
}
