/**
 * Fault injection for backends without ECC (pstore/blk, ERST): bits flipped in the storage as a
 * disk or NVRAM that lost some would, shown at the next read pass as the kernel would show them
 * (a bad header: the record is gone; bad text: it shows as it is; a bad deflate stream: `.enc.z`).
 * Each backend names its units (zones, slots) and where in each a header, a record and the data
 * area lie; the choice and the flips are shared. The spec, the report and their checks are every
 * backend's; ramoops chooses its own flips (ECC blocks, parity) in ramoops/corrupt.ts.
 */
import type { RegionImage } from '../format/region.js'
import { type ErrorFacts, PstoreSimError } from '../util/errors.js'
import { prng } from '../util/prng.js'

export type CorruptArea = 'record' | 'data' | 'header' | 'parity' | 'zone'

export interface CorruptSpec {
  /** Zones to pick random bits in, e.g. ["dmesg:0", "console"]; default every zone with data. */
  zones?: string[]
  /** Where in each zone random flips land: the record bytes (start/size window, default), the whole data area, the header, the parity, or anywhere. */
  area?: CorruptArea
  /** Number of random bit flips (distinct bytes). */
  random?: number
  /** At most this many flipped bytes per 128-byte ECC block (random flips only). */
  maxPerBlock?: number
  /** Explicit flips: region offset and bit (0-7). */
  flips?: Array<{ offset: number; bit: number }>
  seed?: number
}

export interface FlipReport {
  offset: number
  bit: number
  before: number
  after: number
  /** e.g. "dmesg[0] data+100", "pmsg[0] header+4", "unused tail" */
  where: string
}

/** The part of a CorruptSpec at fault (its key, as the JS API's corrupt(spec) spells it). */
export type CorruptParam = 'flips' | 'zones' | 'random' | 'maxPerBlock' | 'seed' | 'area'

/** A spec the region cannot take: the message names the spec's key, `facts.param` is that key and `facts.detail` the reason. */
export class CorruptError extends PstoreSimError {
  override name = 'CorruptError'
  declare readonly facts?: ErrorFacts<'badSpec'>
  constructor(reason: string, param?: CorruptParam) {
    super(param ? `${param}: ${reason}` : reason, param ? { problem: 'badSpec', param, detail: reason } : undefined)
  }
}

export function checkSpec(spec: CorruptSpec, regionSize: number): void {
  for (const f of spec.flips ?? []) {
    if (!Number.isInteger(f.offset) || f.offset < 0 || f.offset >= regionSize)
      throw new CorruptError(`offset ${f.offset} is outside the ${regionSize}-byte region`, 'flips')
    if (!Number.isInteger(f.bit) || f.bit < 0 || f.bit > 7) throw new CorruptError(`bit ${f.bit} must be 0..7`, 'flips')
  }
  if (spec.random !== undefined && (!Number.isSafeInteger(spec.random) || spec.random < 0))
    throw new CorruptError(`random flip count ${spec.random} must be a whole number >= 0`, 'random')
  if (spec.maxPerBlock !== undefined && (!Number.isSafeInteger(spec.maxPerBlock) || spec.maxPerBlock < 1))
    throw new CorruptError(`max per block ${spec.maxPerBlock} must be a whole number >= 1`, 'maxPerBlock')
  if (spec.seed !== undefined && !Number.isSafeInteger(spec.seed)) throw new CorruptError(`seed ${spec.seed} must be a whole number`, 'seed')
}

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
  // once each: a unit named twice would count its bytes twice, and the distinct picks never end
  return [...new Set(names)].map((name) => {
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
    const offset = offsetAt(ranges, Math.floor(random() * total))
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
  return applyFlips(region, [...(spec.flips ?? []), ...random], target.describe)
}

/** The byte `pick` bytes into `ranges` taken end to end (pick < their total length). */
export function offsetAt(ranges: readonly ByteRange[], pick: number): number {
  for (const [a, b] of ranges) {
    if (pick < b - a) return a + pick
    pick -= b - a
  }
  throw new RangeError(`pick ${pick} beyond the ranges`)
}

/** Flips the chosen bits (everything was checked before) and reports each. */
export function applyFlips(region: RegionImage, flips: Array<{ offset: number; bit: number }>, where: (offset: number) => string): FlipReport[] {
  return flips.map(({ offset, bit }) => {
    const before = region.view(offset, 1)[0] // loads one chunk, not the whole region
    const after = before ^ (1 << bit)
    region.write(offset, Uint8Array.of(after))
    return { offset, bit, before, after, where: where(offset) }
  })
}
