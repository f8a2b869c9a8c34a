/**
 * pstore/blk's read rules, written down once from the kernel's source (fs/pstore/zone.c, the
 * same in 6.1 and 6.12; fs/pstore/blk.c's read is kernel_read()). The fuzzer's oracle: what
 * one read pass of the kernel lists for a disk, as backend records (before the core inflates
 * them), or that the pass fails. Independent of src/backend/blk (only the zone placement, which
 * is not a read rule, comes from there).
 *
 * - psz_kmsg_recover_meta(), per dmesg zone: a wrong signature, a datalen above the zone's
 *   capacity (int against size_t: a negative one is above it), or a kmsg header without its magic
 *   is no record; datalen 0 is an erased zone. Others are read in full (psz_kmsg_recover_data()).
 * - psz_recovery(): then psz_recover_zone() on pmsg, console, each ftrace zone, in that order.
 *   Wrong signature, datalen or start above capacity, datalen 0: nothing, go on. start > datalen:
 *   kernel_read() of a negative count fails (-EINVAL), the recovery fails, and so does every
 *   read pass (psz_pstore_read() returns the error before any record): no file at all.
 * - psz_pstore_read() via psz_read_next_zone(): dmesg zones in order, then the ftrace zones
 *   (no file: Debian's kernels have no ftrace frontend, the combine is a stub), pmsg, console.
 * - psz_kmsg_read(): size = datalen - 40. Uncompressed: the text `<reason>: Total <%d counter>
 *   times\n` (kmsg_dump_reason_str(): Panic, Oops, Emergency, Shutdown, else Unknown) then the
 *   data. Compressed: the data alone. The record's time is the header's (sec, nsec as stored).
 * - pstore_get_backend_records(): a size <= 0 ends the pass.
 * - datalen below the 40-byte kmsg header: the kernel's size goes negative. A compressed record's
 *   kmalloc() of it fails (-ENOMEM): the pass ends. An uncompressed one gets a buffer of the
 *   text's length minus the shortfall and psz_zone_read_buffer() copies capacity - 40 bytes into
 *   it (a heap overflow; a size of 0 makes it write through ZERO_SIZE_PTR). That is not
 *   simulated: here, as in pstore-sim, the pass ends at such a zone.
 */
import type { BlkLayout, BlkZoneLayout } from '../../../src/backend/blk/layout.js'

export interface RuleRecord {
  type: 'dmesg' | 'pmsg' | 'console'
  id: number
  compressed: boolean
  /** What the backend hands the core: the text line + data, or the compressed data. */
  bytes: Buffer
  sec: bigint
  nsec: bigint
}

export type BlkReadPass = { fails: string } | { records: RuleRecord[] }

const HDR = 12
const KMSG = 40
const MAGIC = 0x4dfc3ae5
const REASONS = ['Unknown', 'Panic', 'Oops', 'Emergency', 'Shutdown']

/** A zone header's datalen or start as the kernel compares it with a size_t capacity. */
const asSize = (v: number) => (v < 0 ? Number.POSITIVE_INFINITY : v)

function ringRecovery(disk: Buffer, z: BlkZoneLayout): { fails: string } | { data?: Buffer } {
  const sig = disk.readUInt32LE(z.offset)
  const datalen = disk.readInt32LE(z.offset + 4)
  const start = disk.readInt32LE(z.offset + 8)
  const capacity = z.size - HDR
  if (sig !== z.sig || asSize(datalen) > capacity || asSize(start) > capacity || datalen === 0) return {}
  if (start > datalen) return { fails: `${z.type}[${z.index}] start ${start} > datalen ${datalen}` }
  const data = disk.subarray(z.offset + HDR, z.offset + z.size)
  return { data: Buffer.concat([data.subarray(start, datalen), data.subarray(0, start)]) }
}

function dmesgRecord(disk: Buffer, z: BlkZoneLayout): RuleRecord | 'none' | 'ends' {
  const sig = disk.readUInt32LE(z.offset)
  const datalen = disk.readInt32LE(z.offset + 4)
  if (sig !== z.sig || asSize(datalen) > z.size - HDR) return 'none'
  const h = z.offset + HDR
  if (disk.readUInt32LE(h) !== MAGIC || datalen === 0) return 'none'
  if (datalen < KMSG) return 'ends'
  const compressed = disk[h + 24] !== 0
  const data = disk.subarray(h + KMSG, h + datalen)
  const sec = disk.readBigInt64LE(h + 8)
  const nsec = disk.readBigInt64LE(h + 16)
  if (compressed) return { type: 'dmesg', id: z.index, compressed, bytes: Buffer.from(data), sec, nsec }
  const line = `${REASONS[disk.readUInt32LE(h + 32)] ?? 'Unknown'}: Total ${disk.readInt32LE(h + 28)} times\n`
  return { type: 'dmesg', id: z.index, compressed, bytes: Buffer.concat([Buffer.from(line, 'latin1'), data]), sec, nsec }
}

/** One read pass of the kernel over `disk` (the first of a boot: recovery included). */
export function blkReadPass(disk: Buffer, layout: BlkLayout): BlkReadPass {
  const rings = new Map<BlkZoneLayout, Buffer>()
  for (const z of [layout.pmsg, layout.console, ...layout.ftrace]) {
    if (!z) continue
    const r = ringRecovery(disk, z)
    if ('fails' in r) return r
    if (r.data) rings.set(z, r.data)
  }
  const records: RuleRecord[] = []
  for (const z of layout.dmesg) {
    const r = dmesgRecord(disk, z)
    if (r === 'ends') return { records }
    if (r === 'none') continue
    if (r.bytes.length === 0) return { records }
    records.push(r)
  }
  for (const [type, z] of [
    ['pmsg', layout.pmsg],
    ['console', layout.console],
  ] as const) {
    const data = z && rings.get(z)
    if (data) records.push({ type, id: 0, compressed: false, bytes: data, sec: 0n, nsec: 0n })
  }
  return { records }
}
