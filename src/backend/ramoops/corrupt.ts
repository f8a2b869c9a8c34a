/**
 * Fault injection: flip chosen or random bits of the region, as RAM that did not survive a
 * reset cleanly would. With ECC the next boot corrects what it can and reports the rest in the
 * notice every record carries; without ECC the damage shows as it is.
 */

import { type ErrorFacts, PstoreSimError } from '../../util/errors.js'
import { prng } from '../../util/prng.js'
import { ZONE_HEADER_SIZE } from './layout.js'
import type { Ramoops } from './ramoops.js'
import type { PersistentRamZone } from './zone.js'

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

function describe(ramoops: Ramoops, offset: number): string {
  const zone = ramoops.zones.find((z) => offset >= z.offset && offset < z.offset + z.layout.size)
  if (!zone) return offset < ramoops.region.size ? 'unused tail' : 'outside the region'
  const rel = offset - zone.offset
  const name = `${zone.layout.type}[${zone.layout.index}]`
  if (rel < ZONE_HEADER_SIZE) return `${name} header+${rel}`
  if (rel < ZONE_HEADER_SIZE + zone.capacity) return `${name} data+${rel - ZONE_HEADER_SIZE}`
  if (rel < zone.geometry.headerParityOffset) return `${name} parity of block ${Math.floor((rel - zone.geometry.parityOffset) / zone.eccSize)}`
  return `${name} header parity+${rel - zone.geometry.headerParityOffset}`
}

function selectZones(ramoops: Ramoops, names: string[] | undefined): PersistentRamZone[] {
  if (!names || names.length === 0) return ramoops.zones.filter((z) => z.size > 0)
  return names.map((name) => {
    const [type, index = '0'] = name.split(':')
    const zone = ramoops.zones.find((z) => z.layout.type === type && z.layout.index === Number(index))
    if (!zone)
      throw new CorruptError(
        `no zone "${name}" in this setup (zones: dmesg:0..${ramoops.dmesg.length - 1}${ramoops.console ? ', console' : ''}${ramoops.pmsg ? ', pmsg' : ''}${ramoops.ftrace.length ? `, ftrace:0..${ramoops.ftrace.length - 1}` : ''})`,
        'zones',
      )
    return zone
  })
}

/** Byte ranges (region offsets) a random flip may hit in `zone`. */
function candidateRanges(zone: PersistentRamZone, area: CorruptArea): Array<[number, number]> {
  const data = zone.dataOffset
  switch (area) {
    case 'header':
      return [[zone.offset, zone.offset + ZONE_HEADER_SIZE]]
    case 'data':
      return [[data, data + zone.capacity]]
    case 'parity':
      return zone.eccSize ? [[zone.offset + zone.geometry.parityOffset, zone.offset + zone.layout.size]] : []
    case 'zone':
      return [[zone.offset, zone.offset + zone.layout.size]]
    case 'record': {
      const size = Math.max(0, Math.min(zone.size, zone.capacity))
      return size > 0 ? [[data, data + size]] : []
    }
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

/** The random flips, chosen before any bit changes (the same choice for the same seed). */
function randomFlips(ramoops: Ramoops, spec: CorruptSpec & { random: number }): Array<{ offset: number; bit: number }> {
  const random = prng(spec.seed ?? Date.now())
  const ranges = selectZones(ramoops, spec.zones).flatMap((zone) => candidateRanges(zone, spec.area ?? 'record'))
  const total = ranges.reduce((n, [a, b]) => n + (b - a), 0)
  if (total === 0)
    throw new CorruptError('no bytes to corrupt in the chosen zones and area (the records there are empty; the data area has bytes to flip)', 'area')
  const flips: Array<{ offset: number; bit: number }> = []
  const chosen = new Set<number>()
  const perBlock = new Map<string, number>()
  const limit = spec.maxPerBlock ?? Infinity
  const wanted = Math.min(spec.random, total)
  for (let attempts = 0; chosen.size < wanted && attempts < spec.random * 1000; attempts++) {
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
    // Data bytes share a 128-byte ECC block; header and parity bytes count on their own.
    const zone = ramoops.zones.find((z) => offset >= z.dataOffset && offset < z.dataOffset + z.capacity)
    const block = zone ? `${zone.offset}:${Math.floor((offset - zone.dataOffset) / ramoops.config.eccBlockSize)}` : `byte:${offset}`
    const count = perBlock.get(block) ?? 0
    if (count >= limit) continue
    perBlock.set(block, count + 1)
    chosen.add(offset)
    flips.push({ offset, bit: Math.floor(random() * 8) })
  }
  if (chosen.size < wanted) throw new CorruptError(`only ${chosen.size} of ${wanted} flips fit the per-block limit in the chosen bytes`, 'maxPerBlock')
  return flips
}

/**
 * Flips the bits and returns exactly what changed. The caller flushes the region. Everything
 * is checked and chosen first: a spec that fails changes no bit.
 */
export function corrupt(ramoops: Ramoops, spec: CorruptSpec): FlipReport[] {
  const region = ramoops.region
  checkSpec(spec, region.size)
  const flips = [...(spec.flips ?? []), ...(spec.random ? randomFlips(ramoops, { ...spec, random: spec.random }) : [])]
  return flips.map(({ offset, bit }) => {
    const before = region.view(offset, 1)[0] // loads one chunk, not the whole region
    const after = before ^ (1 << bit)
    region.write(offset, Uint8Array.of(after))
    return { offset, bit, before, after, where: describe(ramoops, offset) }
  })
}
