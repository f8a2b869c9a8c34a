/**
 * ERST's read rules, written down once from the kernel's source (drivers/acpi/apei/erst.c, the
 * read path the same in 6.1 and 6.12) over QEMU's acpi-erst device (hw/acpi/erst.c). The
 * fuzzer's oracle: what the first read pass of a boot lists for a backing file, as backend
 * records (before the core inflates them). Independent of src/backend/erst.
 *
 * QEMU (the firmware):
 * - check_erst_backend_storage(): record_size a power of two >= 4096, magic "ERSTSTOR",
 *   storage_offset a multiple of record_size, version 0x0100, reserved 0, the file a multiple of
 *   record_size: else QEMU does not start (no listing; pstore-sim refuses the file).
 * - get_next_record_identifier(): from its cursor (first slot at start), the next non-zero map
 *   entry; at the end, or when record_count is 0, all-ones and the cursor back to the start.
 * - read_erst_record(): record_count 0 → "store empty"; lookup_erst_record() scans the map from
 *   the first slot, giving up after record_count non-zero entries; not found → "not found" and
 *   the cursor moved to just after the first record; record_length < 128 or > record_size →
 *   failed; else the record is copied out.
 * The kernel:
 * - erst_get_record_id_next(): ids cached this pass first, then one more from the firmware
 *   (__erst_record_id_cache_add_one(): all-ones ends; an id equal to this call's first or
 *   previous ends; a cached id is passed over; 1024 cached ids end ("too many record IDs!")).
 *   An all-ones id ends the pass (erst_reader() -EINVAL).
 * - erst_read_record(): "not found"/"empty" are -ENOENT: the id is dropped from the cache, the
 *   next id is read; "failed" is -EINVAL and ends the pass; a record shorter than the two
 *   pstore headers (200 bytes) is -EIO and ends it; another creator's record is skipped.
 * - erst_reader(): the record is named by the firmware's id (never the CPER header's record_id);
 *   its bytes are everything after the 200 bytes of headers (record_length - 200, whatever
 *   section_length says); DMESG_Z is a compressed dmesg record, DMESG a dmesg record, MCE an mce
 *   record, anything else PSTORE_TYPE_MAX ("unknown"); the time is the header's timestamp when
 *   its validation bit 0x2 is set, else 0, nanoseconds 0. A size <= 0 ends the pass (the core).
 */
import type { RuleRecord as BlkRuleRecord } from './blk.js'

export interface ErstRuleRecord extends Omit<BlkRuleRecord, 'type' | 'id'> {
  type: 'dmesg' | 'mce' | 'unknown'
  id: bigint
}

export type ErstReadPass = { refused: string } | { records: ErstRuleRecord[] }

const ALL_ONES = 0xffffffffffffffffn
const HEADERS = 200

const guid = (hex: string) => Buffer.from(hex, 'hex')
const CREATOR_PSTORE = guid('e374a5755250294b8a8ebe2c6490b89d')
const DMESG = guid('4ee097c145d5704a9c17a5549419eb12')
const DMESG_Z = guid('0787114fdd045540b5dd956d34ddfac6')
const MCE = guid('beff08fee495e74bbc734096044a38fc')

/** Whether QEMU starts on this file, and its geometry. */
function storage(file: Buffer): { refused: string } | { rs: number; first: number; last: number } {
  if (file.length < 24) return { refused: 'shorter than the storage header' }
  const rs = file.readUInt32LE(8)
  if (rs < 4096 || (rs & (rs - 1)) !== 0) return { refused: 'record_size' }
  if (file.readBigUInt64LE(0) !== 0x524f545354535245n || file.readUInt32LE(12) % rs || file.readUInt16LE(16) !== 0x100 || file.readUInt16LE(18))
    return { refused: 'header' }
  if (file.length % rs || rs > file.length) return { refused: 'size' }
  return { rs, first: file.readUInt32LE(12) / rs, last: file.length / rs }
}

/** One read pass of the kernel over QEMU's backing `file` (a fresh cache and device cursor). */
export function erstReadPass(file: Buffer): ErstReadPass {
  const s = storage(file)
  if ('refused' in s) return s
  const count = file.readUInt32LE(20)
  const map = (i: number) => file.readBigUInt64LE(24 + i * 8)
  let cursor = s.first
  const getNext = (): bigint => {
    for (let i = cursor; count && i < s.last; i++) {
      if (map(i) !== 0n) {
        cursor = i + 1
        return map(i)
      }
    }
    cursor = s.first
    return ALL_ONES
  }
  const lookup = (id: bigint): number => {
    for (let i = s.first, seen = 0; i < s.last && seen < count; i++) {
      if (map(i) === id) return i
      if (map(i) !== 0n) seen++
    }
    return 0
  }
  const cache: bigint[] = []
  const cached = new Set<bigint>()
  let pos = 0
  const nextId = (): bigint => {
    while (pos < cache.length && cache[pos] === ALL_ONES) pos++
    if (pos < cache.length) return cache[pos++]
    let first = ALL_ONES
    let prev = ALL_ONES
    for (;;) {
      const id = getNext()
      if (id === ALL_ONES || id === first || id === prev) return ALL_ONES
      if (first === ALL_ONES) first = id
      prev = id
      if (cached.has(id)) continue
      if (cache.length >= 1024) return ALL_ONES
      cache.push(id)
      cached.add(id)
      pos = cache.length
      return id
    }
  }
  const records: ErstRuleRecord[] = []
  for (let id = nextId(); id !== ALL_ONES; id = nextId()) {
    const slot = count ? lookup(id) : 0
    if (!slot) {
      if (count) {
        cursor = s.first // "not found" points the device at the first record again
        getNext()
      }
      for (let i = 0; i < cache.length; i++) if (cache[i] === id) cache[i] = ALL_ONES
      cached.delete(id)
      continue
    }
    const at = slot * s.rs
    const length = file.readUInt32LE(at + 20)
    if (length < 128 || length > s.rs || length < HEADERS) break
    if (!file.subarray(at + 64, at + 80).equals(CREATOR_PSTORE)) continue
    if (length === HEADERS) break
    const section = file.subarray(at + 128 + 16, at + 128 + 32)
    const type = section.equals(DMESG_Z) || section.equals(DMESG) ? 'dmesg' : section.equals(MCE) ? 'mce' : 'unknown'
    const sec = file.readUInt32LE(at + 16) & 2 ? file.readBigInt64LE(at + 24) : 0n
    records.push({ type, id, compressed: section.equals(DMESG_Z), bytes: Buffer.from(file.subarray(at + HEADERS, at + length)), sec, nsec: 0n })
  }
  return { records }
}
