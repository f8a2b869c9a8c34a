/**
 * Fault injection for backends without ECC (pstore/blk, ERST): bits flipped in the storage as a
 * disk or NVRAM that lost some would, shown at the next read pass as the kernel would show them
 * (a bad header: the record is gone; bad text: it shows as it is; a bad deflate stream: `.enc.z`).
 * Each backend names its units (zones, slots) and where in each a header, a record and the data
 * area lie; the choice and the flips are shared. ramoops has its own (ECC blocks, parity).
 */
import type { RegionImage } from '../format/region.js'
import { prng } from '../util/prng.js'
import { CorruptError, type CorruptSpec, checkSpec, type FlipReport } from './ramoops/corrupt.js'

/** A byte range of the image, [start, end). */
export type ByteRange = readonly [number, number]

/** One unit random flips may be aimed at: a zone (`dmesg:0`, `pmsg`) or a slot (`slot:3`). */
export interface FaultUnit {
  name: string
  /** The unit's metadata: zone header, CPER record header and section descriptor. */
  header: ByteRange
  /** The record's bytes as stored (empty when the unit holds none). */
  record: ByteRange
  /** Everything after the header the unit may hold. */
  data: ByteRange
  /** Whether the unit holds a record now (the default choice: every unit that does). */
  used: boolean
}

export interface FaultTarget {
  /** psinfo->name, for the messages. */
  backend: string
  units: FaultUnit[]
  /** Where an offset lies, for the report: e.g. "dmesg[0] data+100", "slot 3 header+8". */
  describe(offset: number): string
}

function pickUnits(target: FaultTarget, names: string[] | undefined): FaultUnit[] {
  if (!names?.length) return target.units.filter((u) => u.used)
  return names.map((name) => {
    const unit = target.units.find((u) => u.name === name)
    if (!unit) throw new CorruptError(`no ${target.backend} unit "${name}" (units: ${target.units.map((u) => u.name).join(', ') || 'none'})`, 'zones')
    return unit
  })
}

function rangesOf(unit: FaultUnit, area: NonNullable<CorruptSpec['area']>): ByteRange[] {
  const nonEmpty = (r: ByteRange): ByteRange[] => (r[1] > r[0] ? [r] : [])
  if (area === 'header') return nonEmpty(unit.header)
  if (area === 'data') return nonEmpty(unit.data)
  if (area === 'zone') return nonEmpty([unit.header[0], unit.data[1]])
  return nonEmpty(unit.record)
}

/** Distinct random bytes of `ranges`, chosen before any bit changes (the same for the same seed). */
function randomFlips(ranges: ByteRange[], count: number, seed: number): Array<{ offset: number; bit: number }> {
  const random = prng(seed)
  const total = ranges.reduce((n, [a, b]) => n + (b - a), 0)
  const chosen = new Set<number>()
  const flips: Array<{ offset: number; bit: number }> = []
  while (chosen.size < Math.min(count, total)) {
    let pick = Math.floor(random() * total)
    let offset = -1
    for (const [a, b] of ranges) {
      if (pick < b - a) {
        offset = a + pick
        break
      }
      pick -= b - a
    }
    if (chosen.has(offset)) continue
    chosen.add(offset)
    flips.push({ offset, bit: Math.floor(random() * 8) })
  }
  return flips
}

/**
 * Flips the bits and returns exactly what changed; the caller flushes. Everything is checked and
 * chosen first: a spec that fails changes no bit.
 */
export function injectFaults(region: RegionImage, target: FaultTarget, spec: CorruptSpec): FlipReport[] {
  checkSpec(spec, region.size)
  if (spec.area === 'parity') throw new CorruptError(`${target.backend} keeps no parity (only ramoops has ECC)`, 'area')
  if (spec.maxPerBlock !== undefined)
    throw new CorruptError(`${target.backend} has no ECC blocks to limit flips per block (only ramoops has ECC)`, 'maxPerBlock')
  let random: Array<{ offset: number; bit: number }> = []
  if (spec.random) {
    const ranges = pickUnits(target, spec.zones).flatMap((u) => rangesOf(u, spec.area ?? 'record'))
    if (!ranges.length)
      throw new CorruptError(`no bytes to corrupt in the chosen ${target.backend} units and area (no records there; the data area has bytes to flip)`, 'area')
    random = randomFlips(ranges, spec.random, spec.seed ?? Date.now())
  }
  return [...(spec.flips ?? []), ...random].map(({ offset, bit }) => {
    const before = region.view(offset, 1)[0]
    const after = before ^ (1 << bit)
    region.write(offset, Uint8Array.of(after))
    return { offset, bit, before, after, where: target.describe(offset) }
  })
}
