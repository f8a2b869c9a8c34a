/**
 * Why the target kernel keeps or drops each ramoops zone at boot, named after the kernel code
 * that decides it: persistent_ram_post_init() (signature, size/start against the ring, the header's
 * ECC), ramoops_read_kmsg_hdr() in the read pass, pstore_get_backend_records() ending the pass at
 * an empty record, decompress_record() leaving an undecodable record as `.enc.z`.
 */

import { zoneGeometry } from '../backend/ramoops/layout.js'
import { versionFromFtraceSignature } from '../backend/ramoops/versionProbe.js'
import type { ZoneDescription } from '../backend/zoneDescription.js'
import { parseDmesgHeader } from '../format/dmesgHeader.js'
import { formatKernelVersion } from '../format/kernelVersion.js'
import { reedSolomon } from '../format/reedSolomon.js'

export type ZoneFate = 'keeps' | 'empty' | 'zaps' | 'ends-read-pass' | 'not-read' | 'enc.z'

export interface ZoneVerdict {
  fate: ZoneFate
  /** The kernel function or behaviour that decides it. */
  kernel: string
  why: string
  /** The file the zone's record becomes, when it becomes one. */
  file?: string
}

/** A zone as the backend describes it, with what its boot did. */
export interface VerdictZone extends ZoneDescription {
  bootOutcome: string
  ecc?: { correctedBytes: number; badBlocks: number }
}

export interface VerdictContext {
  bytes: Buffer
  kernel: string
  ftraceSig: number
  eccSize: number
  records: Array<{ name: string; inflateError?: string }>
}

const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0')

/** The header's parity beyond repair: the kernel logs "uncorrectable error in header" and reads the header as it is. */
function headerUncorrectable(z: VerdictZone, c: VerdictContext): boolean {
  if (!c.eccSize) return false
  const g = zoneGeometry(z.size, c.eccSize, 128)
  if (typeof g === 'string') return false
  const data = Buffer.from(c.bytes.subarray(z.offset, z.offset + 12))
  const parity = Buffer.from(c.bytes.subarray(z.offset + g.headerParityOffset, z.offset + g.headerParityOffset + c.eccSize))
  return reedSolomon(c.eccSize).decode(data, parity) < 0
}

function zapped(z: VerdictZone, c: VerdictContext): ZoneVerdict {
  const headerNote = headerUncorrectable(z, c) ? ' (its header was beyond ECC repair: "uncorrectable error in header", read as it is)' : ''
  const sig = Number(z.signature)
  if (z.bootOutcome === 'signature-zapped') {
    const signed = z.type === 'ftrace' ? versionFromFtraceSignature(sig) : undefined
    const why = signed
      ? `ftrace signature ${z.signature} is kernel ${formatKernelVersion(signed)}'s, not ${c.kernel}'s (${hex(c.ftraceSig)}): an ftrace zone is signed with LINUX_VERSION_CODE`
      : `signature ${z.signature} is not ${z.type === 'ftrace' ? hex(c.ftraceSig) : '0x43474244 ("DBGC")'}`
    return { fate: 'zaps', kernel: 'persistent_ram_post_init(): "no valid data in buffer", signs and zaps the zone', why: why + headerNote }
  }
  const used = z.used < 0 ? `${z.used} (huge as size_t)` : String(z.used)
  const why =
    z.used === 0
      ? `empty zone whose start ${z.start} is not 0 (checked since 6.6 and its stable backports)`
      : z.used > z.capacity || z.used < 0
        ? `size ${used} is past the ring's capacity ${z.capacity}`
        : `start ${z.start} is past size ${z.used}`
  return { fate: 'zaps', kernel: 'persistent_ram_post_init(): "found existing invalid buffer", zaps it', why: why + headerNote }
}

/** The snapshot's first bytes (data[start..size) then data[0..start)), enough for the dmesg header. */
function snapshotHead(z: VerdictZone, c: VerdictContext): Buffer {
  const data = c.bytes.subarray(z.offset + 12, z.offset + 12 + z.capacity)
  return Buffer.concat([data.subarray(z.start, z.used), data.subarray(0, z.start)]).subarray(0, 64)
}

function recordName(z: VerdictZone): string {
  return z.type === 'ftrace' ? 'ftrace-ramoops-0' : `${z.type}-ramoops-${z.type === 'dmesg' ? z.index : 0}`
}

/** Every zone's verdict, in region order; `readOrder` lists the zones as the read pass visits them. */
export function zoneVerdicts(zones: VerdictZone[], c: VerdictContext): ZoneVerdict[] {
  const names = {
    get: (name: string) => c.records.find((r) => r.name === name || r.name === `${name}.enc.z` || (name.startsWith('ftrace-') && r.name.startsWith('ftrace-'))),
  }
  const order = [...zones].sort((a, b) => rank(a) - rank(b) || a.index - b.index)
  const verdicts = new Map<VerdictZone, ZoneVerdict>()
  let endedAt: string | undefined
  for (const z of order)
    verdicts.set(
      z,
      verdictOf(z, c, names, endedAt, (at) => (endedAt = at)),
    )
  return zones.map((z) => verdicts.get(z)!)
}

const rank = (z: VerdictZone) => ({ dmesg: 0, console: 1, pmsg: 2, ftrace: 3 })[z.type as 'dmesg'] ?? 4

function verdictOf(
  z: VerdictZone,
  c: VerdictContext,
  names: { get: (name: string) => { name: string; inflateError?: string } | undefined },
  endedAt: string | undefined,
  end: (at: string) => void,
): ZoneVerdict {
  if (z.bootOutcome === 'signature-zapped' || z.bootOutcome === 'invalid-zapped') return zapped(z, c)
  const eccNote = z.ecc?.badBlocks ? `; ${z.ecc.badBlocks} block(s) beyond ECC repair are kept as they are and the ECC notice counts them` : ''
  if (z.bootOutcome === 'empty' || z.used === 0)
    return { fate: 'empty', kernel: 'persistent_ram_post_init(): "found existing empty buffer"', why: 'valid signature, nothing stored: no file' + eccNote }
  const name = recordName(z)
  const record = names.get(name)
  if (endedAt) return { fate: 'not-read', kernel: 'pstore_get_backend_records()', why: `the read pass ended at ${endedAt} before this zone: no file` }
  if (z.type === 'dmesg' && !record) {
    const header = parseDmesgHeader(snapshotHead(z, c))
    if (header.length === 0)
      return { fate: 'zaps', kernel: 'ramoops_read_kmsg_hdr() finds no "====" header: the read zaps the zone', why: 'the record has no dmesg header' + eccNote }
    end(`dmesg ${z.index}`)
    return {
      fate: 'ends-read-pass',
      kernel: 'pstore_get_backend_records() stops at the first record of size 0',
      why: 'a dmesg header with no text after it: this and every later zone show no file' + eccNote,
    }
  }
  if (!record) {
    end(`${z.type} ${z.index}`)
    return {
      fate: 'ends-read-pass',
      kernel: 'pstore_get_backend_records() stops at the first record of size 0',
      why: `${z.type === 'ftrace' ? 'the merged ftrace record is empty (no ftrace frontend to merge it, or nothing in it)' : 'its record is empty'}${eccNote}`,
    }
  }
  if (record.inflateError)
    return {
      fate: 'enc.z',
      kernel: 'decompress_record() fails: pstore keeps the bytes as they are',
      why: `marked compressed but does not inflate (${record.inflateError})${eccNote}`,
      file: record.name,
    }
  const zapOld = z.type === 'console' || z.type === 'pmsg' ? '; the zone is then zapped for this boot (PRZ_FLAG_ZAP_OLD)' : ''
  return {
    fate: 'keeps',
    kernel: 'persistent_ram_save_old(): the snapshot becomes a record',
    why: `valid header (size ${z.used}, start ${z.start})${zapOld}${eccNote}`,
    file: record.name,
  }
}
