/**
 * Fault injection: flip chosen or random bits of the region, as RAM that did not survive a
 * reset cleanly would. With ECC the next boot corrects what it can and reports the rest in the
 * notice every record carries; without ECC the damage shows as it is.
 */

import { prng } from '../../util/prng.js'
import { applyFlips, type ByteRange, type CorruptArea, CorruptError, type CorruptSpec, checkSpec, type FlipReport, offsetAt } from '../faults.js'
import { ZONE_HEADER_SIZE } from './layout.js'
import type { Ramoops } from './ramoops.js'
import type { PersistentRamZone } from './zone.js'

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
function candidateRanges(zone: PersistentRamZone, area: CorruptArea): ByteRange[] {
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
    const offset = offsetAt(ranges, Math.floor(random() * total))
    if (chosen.has(offset)) continue
    // Data bytes share a 128-byte ECC block; header and parity bytes count on their own.
    const zone = ramoops.zones.find((z) => offset >= z.dataOffset && offset < z.dataOffset + z.capacity)
    const block = zone ? `${zone.offset}:${Math.floor((offset - zone.dataOffset) / ramoops.setup.eccBlockSize)}` : `byte:${offset}`
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
  return applyFlips(region, flips, (offset) => describe(ramoops, offset))
}
