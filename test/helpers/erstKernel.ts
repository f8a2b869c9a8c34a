/**
 * ERST files a real kernel wrote (QEMU's acpi-erst backing file), taken apart for the tests that
 * compare them with pstore-sim (test/erst.fixtures.test.ts, test/kernel/compat-erst-suite.ts):
 * the records in slot order, every CPER header field by name, the kernel's writes replayed
 * through pstore-sim's backend, and pstore-sim's dumper run on the kernel's own log lines.
 */

import { decodeCperRecord, encodeCperRecord, SECTION_DMESG_Z, SECTION_MCE } from '../../src/backend/erst/cper.js'
import { ErstBackend } from '../../src/backend/erst/erst.js'
import { fromErstParams } from '../../src/backend/erst/erstSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { decompress } from '../../src/pstore/compression.js'
import { type DumpReason, dumpParts } from '../../src/pstore/kmsgDumper.js'
import type { PstoreRecord } from '../../src/pstore/record.js'

export interface ErstGeometry {
  size: number
  recordSize?: number
  kernelVersion: string
  compress: boolean
}

export function erstBackend(g: ErstGeometry, file: Buffer): ErstBackend {
  const config = fromErstParams({ size: g.size, record_size: g.recordSize }, { kernel: g.kernelVersion, compress: g.compress })
  return new ErstBackend(config, RegionImage.fromBuffer(Buffer.from(file)))
}

export interface SlotRecord {
  slot: number
  mapId: bigint
  headerId: bigint
  timestamp: bigint
  compressed: boolean
  /** the bytes after the CPER headers (compressed as stored) */
  payload: Buffer
  recordLength: number
}

/** Every used slot of the file, in slot order (QEMU's map). */
export function slotRecords(file: Buffer): SlotRecord[] {
  const recordSize = file.readUInt32LE(8)
  const first = file.readUInt32LE(12) / recordSize
  const out: SlotRecord[] = []
  for (let slot = first; slot < file.length / recordSize; slot++) {
    const mapId = file.readBigUInt64LE(24 + slot * 8)
    if (mapId === 0n) continue
    const d = decodeCperRecord(file.subarray(slot * recordSize, (slot + 1) * recordSize), recordSize)
    if ('error' in d) throw new Error(`slot ${slot}: ${d.error}`)
    out.push({ slot, mapId, headerId: d.recordId, timestamp: d.timestamp, compressed: d.section === 'dmesg-z', payload: d.data, recordLength: d.recordLength })
  }
  return out
}

/** struct cper_record_header + cper_section_descriptor (include/linux/cper.h), packed. */
const CPER_FIELDS: Array<[string, number, number]> = [
  ['signature', 0, 4],
  ['revision', 4, 2],
  ['signature_end', 6, 4],
  ['section_count', 10, 2],
  ['error_severity', 12, 4],
  ['validation_bits', 16, 4],
  ['record_length', 20, 4],
  ['timestamp', 24, 8],
  ['platform_id', 32, 16],
  ['partition_id', 48, 16],
  ['creator_id', 64, 16],
  ['notification_type', 80, 16],
  ['record_id', 96, 8],
  ['flags', 104, 4],
  ['persistence_information', 108, 8],
  ['reserved', 116, 12],
  ['sec.section_offset', 128, 4],
  ['sec.section_length', 132, 4],
  ['sec.revision', 136, 2],
  ['sec.validation_bits', 138, 1],
  ['sec.reserved', 139, 1],
  ['sec.flags', 140, 4],
  ['sec.section_type', 144, 16],
  ['sec.fru_id', 160, 16],
  ['sec.section_severity', 176, 4],
  ['sec.fru_text', 180, 20],
]

/** Each header field of `actual` that differs from `expected`: `name: kernel hex vs ours hex`. */
export function cperFieldDiffs(actual: Buffer, expected: Buffer): string[] {
  const out: string[] = []
  for (const [name, off, len] of CPER_FIELDS) {
    const a = actual.subarray(off, off + len)
    const e = expected.subarray(off, off + len)
    if (!a.equals(e)) out.push(`${name}: ${a.toString('hex')} vs ${e.toString('hex')}`)
  }
  return out
}

/** What pstore-sim's encoder makes of the slot's own id, time, type and payload. */
export function encodedLike(r: SlotRecord): Buffer {
  return encodeCperRecord({ recordId: r.headerId, timestamp: r.timestamp, compressed: r.compressed, data: r.payload })
}

/**
 * The records in `after` that are not in `before` (the kernel's new writes), written in id order
 * by pstore-sim's backend, booted on `before` (a boot resets the id counter, as the kernel's
 * is): the file it leaves, and the ids and slots it chose.
 */
export function replayWrites(g: ErstGeometry, before: Buffer, after: Buffer): { file: Buffer; written: Array<{ slot: number; id: bigint }> } {
  const old = new Set(before.readUInt32LE(0) === 0 ? [] : slotRecords(before).map((r) => r.mapId))
  const fresh = slotRecords(after)
    .filter((r) => !old.has(r.mapId))
    .sort((a, b) => (a.headerId < b.headerId ? -1 : 1))
  const sim = erstBackend(g, before)
  sim.boot()
  const written: Array<{ slot: number; id: bigint }> = []
  for (const [i, r] of fresh.entries()) {
    const res = sim.writeDmesg({ part: i + 1, compressed: r.compressed, payload: r.payload, time: { sec: Number(r.timestamp), nsec: 0 }, reason: 2 })
    if (!res.stored) throw new Error(`pstore-sim refused the kernel's record ${r.headerId}: ${res.why}`)
    written.push({ slot: res.slot, id: BigInt(res.id) })
  }
  return { file: Buffer.from(sim.region.bytes), written }
}

export interface Dump {
  reason: DumpReason
  count: number
  /** the parts' texts (inflated), part 1 first */
  texts: string[]
  records: PstoreRecord[]
}

/** The records of a read pass grouped into dumps by their `Reason#N PartM` first line. */
export function dumpsOf(records: PstoreRecord[]): Dump[] {
  const dumps = new Map<string, Dump>()
  for (const r of records) {
    const text = r.payload.toString('latin1')
    const m = /^(Oops|Panic)#(\d+) Part(\d+)\n/.exec(text)
    if (!m) throw new Error(`record ${r.id} does not start with a dump header: ${JSON.stringify(text.slice(0, 40))}`)
    const key = `${m[1]}#${m[2]}`
    const d = dumps.get(key) ?? { reason: m[1] === 'Oops' ? 'oops' : 'panic', count: Number(m[2]), texts: [], records: [] }
    if (Number(m[3]) !== d.texts.length + 1) throw new Error(`${key}: part ${m[3]} after ${d.texts.length} parts`)
    d.texts.push(text)
    d.records.push(r)
    dumps.set(key, d)
  }
  return [...dumps.values()]
}

const lines = (text: string): string[] => text.slice(text.indexOf('\n') + 1).match(/[^\n]*\n/g) ?? []

/**
 * pstore-sim's pstore_dump() on the kernel's own lines (part N's oldest … part 1's newest). When
 * the last part does not start at the boot's first line, older lines existed and the next one
 * did not fit that part: lines longer than any part stand for them, so that kmsg_bytes, not the
 * log's end, must stop the dumper. The texts of its parts (inflated) and their flags and sizes.
 */
export function simulatedDump(backend: ErstBackend, dump: Dump, kmsgBytes = 10240): Array<{ text: string; compressed: boolean; bytes: number }> {
  const log = dump.texts
    .slice()
    .reverse()
    .flatMap((t) => lines(t))
  const whole = /^<\d+>\[ +0\.000000\] Linux version/.test(log[0] ?? '')
  const older = whole ? [] : Array.from({ length: 4 }, (_, i) => `<6>[    0.00000${i}] ${'an older line longer than any part '.repeat(2000)}\n`)
  const flavour = backend.setup.quirks.compression
  const parts = dumpParts(
    {
      reason: dump.reason,
      oopsCount: dump.count,
      log: [...older, ...log],
      bufsize: backend.bufsize,
      compress: backend.setup.compress,
      flavour,
      time: { sec: 0, nsec: 0 },
      kmsgBytes,
    },
    () => undefined,
  )
  return parts.map(({ part }) => {
    if (!part.compressed) return { text: Buffer.from(part.payload).toString('latin1'), compressed: false, bytes: part.payload.length }
    const r = decompress(flavour, part.payload, 1 << 20)
    return { text: r.ok ? r.data.toString('latin1') : `(inflate failed: ${r.reason})`, compressed: true, bytes: part.payload.length }
  })
}

/** The record ids of craftedErstFile(): seconds 1700000000 << 32, + 1 … + 6 in slots 1 … 6. */
export const CRAFTED_BASE = 1700000000n << 32n

/**
 * A file of records no pstore dump makes, for the read pass: slot 1 a plain dmesg record, 2 an
 * MCE section, 3 an unknown section type, 4 another creator's record, 5 a dmesg record without
 * the timestamp-valid bit, 6 a DMESG_Z record that does not inflate. Each record's time is
 * 1700000000 + its slot.
 */
export function craftedErstFile(kernelVersion: string): Buffer {
  const sim = erstBackend({ size: 0x10000, kernelVersion, compress: true }, Buffer.alloc(0x10000))
  sim.boot()
  const records: Array<[string, (b: Buffer) => void]> = [
    ['Oops#1 Part1\na plain dmesg record\n', () => undefined],
    ['an MCE record\n', (b) => SECTION_MCE.copy(b, 144)],
    ['a section of no known type\n', (b) => b.fill(0x11, 144, 160)],
    ['Oops#2 Part1\nanother creator\n', (b) => b.fill(0, 64, 80)],
    ['Oops#3 Part1\nno timestamp\n', (b) => b.writeUInt32LE(0, 16)],
    ['not a deflate stream', (b) => SECTION_DMESG_Z.copy(b, 144)],
  ]
  for (const [i, [text, tweak]] of records.entries()) {
    const id = CRAFTED_BASE + BigInt(i + 1)
    const b = encodeCperRecord({ recordId: id, timestamp: 1700000001n + BigInt(i), compressed: false, data: Buffer.from(text, 'latin1') })
    tweak(b)
    sim.storage.write(id, b)
  }
  return Buffer.from(sim.region.bytes)
}

export function firstDiff(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`
  const runs: string[] = []
  for (let i = 0; i < a.length && runs.length < 8; i++) {
    if (a[i] === b[i]) continue
    let j = i
    while (j < a.length && a[j] !== b[j]) j++
    runs.push(`0x${i.toString(16)}+${j - i}: ${a.subarray(i, Math.min(j, i + 16)).toString('hex')} vs ${b.subarray(i, Math.min(j, i + 16)).toString('hex')}`)
    i = j
  }
  return runs.length ? runs.join('; ') : 'equal'
}
