/**
 * A ramoops setup read from a region's bytes alone (`--detect`): the zone signatures and their
 * spacing give the sizes ramoops_probe() split the region by (dmesg zones first, then console,
 * then ftrace and pmsg in the version's order), the ftrace signature the kernel version, the
 * header parity ECC. Every size the kernel accepts is a power of two (console, pmsg, ftrace,
 * record), so the search is over those; a candidate layout scores by the zones whose header
 * carries the signature the kernel would have written there.
 */
import { type KernelVersion, parseKernelVersion, quirksFor } from '../../format/kernelVersion.js'
import { reedSolomon } from '../../format/reedSolomon.js'
import { PERSISTENT_RAM_SIG, ZONE_HEADER_SIZE, zoneGeometry } from './layout.js'
import { versionFromFtraceSignature } from './versionProbe.js'

export interface DetectedZone {
  type: 'dmesg' | 'console' | 'pmsg' | 'ftrace'
  index: number
  offset: number
  size: number
  signed: boolean
}

export interface DetectedRamoops {
  memSize: number
  /** The smallest and largest power of two giving the same dmesg zones (0 when there are none). */
  recordSize: { min: number; max: number }
  consoleSize: number
  ftraceSize: number
  pmsgSize: number
  /** Parity bytes per 128-byte block; 0 = off. */
  eccSize: number
  /** ftrace zones found (per-CPU zones: nr_cpu_ids); 1 without ftrace zones. */
  cpus: number
  /** From the ftrace signature, when a zone carries one. */
  signedKernel?: KernelVersion
  /** The zone order seen, when both pmsg and ftrace zones exist. */
  pmsgBeforeFtrace?: boolean
  /** Whether a division remainder shows the even-size rounding (d49270a04623), when it shows. */
  evenZoneSizes?: boolean
  zones: DetectedZone[]
  /** What the bytes cannot tell, in plain words. */
  unknowns: string[]
}

interface Candidate {
  zones: DetectedZone[]
  score: number
  plausibility: number
  consoleSize: number
  pmsgSize: number
  ftraceSize: number
  dumpArea: number
  dmesgCount: number
  pmsgBeforeFtrace: boolean
  even: boolean
  ftraceSig?: number
}

export class DetectError extends Error {
  override name = 'DetectError'
}

const MIN_ZONE = 16

function powersOfTwo(limit: number): number[] {
  const out = [0]
  for (let s = MIN_ZONE; s <= limit; s *= 2) out.push(s)
  return out
}

const u32 = (buf: Buffer, offset: number): number | undefined => (offset >= 0 && offset + 4 <= buf.length ? buf.readUInt32LE(offset) : undefined)

/** The distinct (count, zone size) pairs record sizes give a dump area, with the record sizes giving each. */
function dmesgShapes(area: number, even: boolean): Array<{ count: number; zoneSize: number; records: number[] }> {
  const shapes = new Map<number, { count: number; zoneSize: number; records: number[] }>()
  for (const r of powersOfTwo(area)) {
    if (r === 0) continue
    const count = Math.floor(area / r)
    let zoneSize = Math.floor(area / count)
    if (even) zoneSize -= zoneSize % 2
    if (zoneSize <= ZONE_HEADER_SIZE) continue
    const shape = shapes.get(count) ?? { count, zoneSize, records: [] }
    shape.records.push(r)
    shapes.set(count, shape)
  }
  return [...shapes.values()]
}

/** The per-CPU ftrace zones at `offset`: the largest count whose zones all carry the first one's version signature. */
function ftraceSplit(buf: Buffer, offset: number, area: number, even: boolean): { count: number; sig?: number } {
  const sig = u32(buf, offset)
  if (sig === undefined || !versionFromFtraceSignature(sig)) return { count: 1 }
  const zoneSize = (n: number) => {
    const z = Math.floor(area / n)
    return even ? z - (z % 2) : z
  }
  let best = 1
  for (let n = 2; zoneSize(n) > ZONE_HEADER_SIZE && n <= 8192; n++) {
    const z = zoneSize(n)
    if (u32(buf, offset + z) !== sig) continue
    let all = true
    for (let i = 2; i < n && all; i++) all = u32(buf, offset + i * z) === sig
    if (all) best = n
  }
  return { count: best, sig }
}

/** Whether the zone's data looks like what its type stores: a dmesg record starts with ramoops' "====" header. */
function plausibility(buf: Buffer, zone: DetectedZone): number {
  const size = buf.readInt32LE(zone.offset + 8)
  if (!zone.signed || size <= 0) return 0
  const header = buf.toString('latin1', zone.offset + ZONE_HEADER_SIZE, zone.offset + ZONE_HEADER_SIZE + 4) === '===='
  if (zone.type === 'dmesg') return header ? 1 : 0
  return header ? -1 : 0
}

interface Shape {
  c: number
  p: number
  f: number
  pmsgBeforeFtrace: boolean
  even: boolean
}

/** The tail zones (console, ftrace, pmsg) of a shape once the dmesg zones end at `at`. */
function tailZones(buf: Buffer, s: Shape, at: number): { zones: DetectedZone[]; ftraceSig?: number } {
  const zones: DetectedZone[] = []
  let p = at
  let ftraceSig: number | undefined
  const single = (type: 'console' | 'pmsg', size: number) => {
    if (!size) return
    zones.push({ type, index: 0, offset: p, size, signed: u32(buf, p) === PERSISTENT_RAM_SIG })
    p += size
  }
  const ftrace = () => {
    if (!s.f) return
    const split = ftraceSplit(buf, p, s.f, s.even)
    ftraceSig = split.sig
    let z = Math.floor(s.f / split.count)
    if (s.even) z -= z % 2
    for (let i = 0; i < split.count; i++) zones.push({ type: 'ftrace', index: i, offset: p + i * z, size: z, signed: split.sig !== undefined })
    p += split.count * z
  }
  single('console', s.c)
  if (s.pmsgBeforeFtrace) {
    single('pmsg', s.p)
    ftrace()
  } else {
    ftrace()
    single('pmsg', s.p)
  }
  return { zones, ftraceSig }
}

/** A quick look at a few of the dmesg zones: a layout the kernel wrote has (nearly) all of them signed. */
function mostlySigned(buf: Buffer, shape: { count: number; zoneSize: number }): boolean {
  if (shape.count === 0) return true
  const samples = new Set([0, 1, shape.count - 1])
  for (let k = 1; k <= 5; k++) samples.add(Math.floor((k * (shape.count - 1)) / 6))
  let signed = 0
  let total = 0
  for (const i of samples) {
    if (i >= shape.count) continue
    total++
    if (u32(buf, i * shape.zoneSize) === PERSISTENT_RAM_SIG) signed++
  }
  return signed * 2 > total
}

function net(zones: DetectedZone[]): number {
  let n = 0
  for (const z of zones) n += z.signed ? 1 : -1
  return n
}

/** Every shape the kernel could have computed, scored; only the best-scoring ones are kept. */
function searchLayouts(buf: Buffer, orders: boolean[], evens: boolean[]): Candidate[] {
  const M = buf.length
  const sizes = powersOfTwo(M)
  let best: Candidate[] = []
  let bestScore = -Infinity
  // many (console, pmsg, ftrace) sizes leave the same dmesg zones: each is scored once
  const netCache = new Map<string, number>()
  for (const c of sizes)
    for (const p of sizes)
      for (const f of sizes) {
        if (c + p + f > M) continue
        const area = M - c - p - f
        for (const pmsgBeforeFtrace of p && f ? orders : [orders[0]])
          for (const even of evens) {
            const shapes: Array<{ count: number; zoneSize: number }> = dmesgShapes(area, even)
            if (c || p || f) shapes.push({ count: 0, zoneSize: 0 })
            for (const shape of shapes) {
              const tail = tailZones(buf, { c, p, f, pmsgBeforeFtrace, even }, shape.count * shape.zoneSize)
              if (tail.zones.length === 0 && shape.count === 0) continue
              const tailNet = net(tail.zones)
              if (tailNet + shape.count < bestScore || !mostlySigned(buf, shape)) continue
              const score = tailNet + dmesgNet(buf, shape, netCache)
              if (score < bestScore) continue
              const zones = [...dmesgZones(buf, shape), ...tail.zones]
              const candidate: Candidate = {
                zones,
                score,
                plausibility: 0,
                consoleSize: c,
                pmsgSize: p,
                ftraceSize: f,
                dumpArea: area,
                dmesgCount: shape.count,
                pmsgBeforeFtrace,
                even,
                ftraceSig: tail.ftraceSig,
              }
              if (score > bestScore) {
                bestScore = score
                best = [candidate]
              } else if (best.length < 256) best.push(candidate)
            }
          }
      }
  for (const c of best) c.plausibility = c.zones.reduce((sum, z) => sum + plausibility(buf, z), 0)
  return best
}

function dmesgNet(buf: Buffer, shape: { count: number; zoneSize: number }, cache: Map<string, number>): number {
  const key = `${shape.count}:${shape.zoneSize}`
  let n = cache.get(key)
  if (n === undefined) {
    n = 0
    for (let i = 0; i < shape.count; i++) n += u32(buf, i * shape.zoneSize) === PERSISTENT_RAM_SIG ? 1 : -1
    cache.set(key, n)
  }
  return n
}

function dmesgZones(buf: Buffer, shape: { count: number; zoneSize: number }): DetectedZone[] {
  return Array.from({ length: shape.count }, (_, i) => {
    const offset = i * shape.zoneSize
    return { type: 'dmesg' as const, index: i, offset, size: shape.zoneSize, signed: u32(buf, offset) === PERSISTENT_RAM_SIG }
  })
}

const zonesKey = (zones: DetectedZone[]) => zones.map((z) => `${z.type}@${z.offset}+${z.size}`).join(',')

/** Parity bytes per block that make the zones' header parity check (ECC), 0 when none does. */
function detectEcc(buf: Buffer, zones: DetectedZone[]): number {
  const signed = zones.filter((z) => z.signed).slice(0, 4)
  if (!signed.length) return 0
  const candidates = [16, ...Array.from({ length: 126 }, (_, i) => i + 2).filter((n) => n !== 16)]
  for (const eccSize of candidates) {
    const rs = reedSolomon(eccSize)
    const parity = Buffer.alloc(eccSize)
    const checks = signed.every((z) => {
      const g = zoneGeometry(z.size, eccSize, 128)
      if (typeof g === 'string') return false
      const at = z.offset + g.headerParityOffset
      if (at + eccSize > buf.length) return false
      rs.encode(buf.subarray(z.offset, z.offset + ZONE_HEADER_SIZE), parity)
      return parity.equals(buf.subarray(at, at + eccSize))
    })
    if (checks) return eccSize
  }
  return 0
}

/** Whether the dmesg split's remainder tells even rounding from none (an odd quotient). */
function evenShows(c: Candidate): boolean {
  if (c.dmesgCount && Math.floor(c.dumpArea / c.dmesgCount) % 2 === 1) return true
  const cpus = c.zones.filter((z) => z.type === 'ftrace').length
  return !!c.ftraceSize && cpus > 1 && Math.floor(c.ftraceSize / cpus) % 2 === 1
}

function pick(buf: Buffer, best: Candidate[], unknowns: string[]): Candidate {
  const topPlausible = Math.max(...best.map((c) => c.plausibility))
  const kept = best.filter((c) => c.plausibility === topPlausible)
  const distinct = new Map<string, Candidate>()
  for (const c of kept) if (!distinct.has(zonesKey(c.zones))) distinct.set(zonesKey(c.zones), c)
  if (distinct.size > 1) {
    const [a, b] = [...distinct.values()]
    unknowns.push(`the zones fit more than one layout (e.g. ${describe(a)} or ${describe(b)}): the first is shown; give the sizes to choose`)
  }
  void buf
  return kept[0]
}

function describe(c: Candidate): string {
  const count = (t: string) => c.zones.filter((z) => z.type === t).length
  return `${count('dmesg')} dmesg, console 0x${c.consoleSize.toString(16)}, pmsg 0x${c.pmsgSize.toString(16)}, ${count('ftrace')} ftrace`
}

/** The layout of a ramoops region from its bytes; `kernel` (the user's) fixes the zone order and rounding. */
export function detectRamoops(buf: Buffer, kernel?: string): DetectedRamoops {
  const given = kernel ? quirksFor(parseKernelVersion(kernel)) : undefined
  const orders = given ? [given.pmsgBeforeFtrace] : [true, false]
  const evens = given ? [given.evenZoneSizes] : [true, false]
  const best = searchLayouts(buf, orders, evens)
  if (!best.length || best[0].score <= 0 || !best[0].zones.some((z) => z.signed)) {
    throw new DetectError(
      'no persistent RAM zone signature ("DBGC") where a ramoops layout would put one: not a ramoops region, or one no kernel has booted on (a boot signs every zone)',
    )
  }
  const unknowns: string[] = []
  const chosen = pick(buf, best, unknowns)
  const sameZones = best.filter((c) => zonesKey(c.zones) === zonesKey(chosen.zones))
  const records = dmesgShapes(chosen.dumpArea, chosen.even).find((s) => s.count === chosen.dmesgCount)?.records ?? []
  const ftraceZones = chosen.zones.filter((z) => z.type === 'ftrace')
  const signedKernel = chosen.ftraceSig !== undefined ? versionFromFtraceSignature(chosen.ftraceSig) : undefined
  const orderShows = !!(chosen.pmsgSize && chosen.ftraceSize) && sameZones.every((c) => c.pmsgBeforeFtrace === chosen.pmsgBeforeFtrace)
  const evenKnown = evenShows(chosen) && sameZones.every((c) => c.even === chosen.even)
  const unsigned = chosen.zones.filter((z) => !z.signed)
  if (unsigned.length)
    unknowns.push(
      `${unsigned.length} zone(s) carry no signature (${unsigned
        .slice(0, 4)
        .map((z) => `${z.type} ${z.index} at 0x${z.offset.toString(16)}`)
        .join(', ')}${unsigned.length > 4 ? ', …' : ''}): never booted on, or overwritten; their place follows from the others`,
    )
  if (records.length > 1)
    unknowns.push(
      `record_size: any power of two from 0x${records[0].toString(16)} to 0x${records[records.length - 1].toString(16)} gives these ${chosen.dmesgCount} dmesg zones`,
    )
  unknowns.push('mem_address: a dump holds no physical address (the region starts wherever it was reserved)')
  unknowns.push('max_reason / dump_oops: which dumps were stored is not in the layout')
  if (!signedKernel)
    unknowns.push(
      `kernel version: no ftrace zone signature tells it${orderShows ? ` (the zone order says ${chosen.pmsgBeforeFtrace ? '6.2 or later' : '6.1 or earlier'})` : ''}`,
    )
  if (ftraceZones.length === 1) unknowns.push('one ftrace zone: one CPU with per-CPU zones, or a device tree without flags = <1>')
  if (!chosen.ftraceSize) unknowns.push('nr_cpu_ids: no ftrace zone counts the CPUs')
  return {
    memSize: buf.length,
    recordSize: { min: records[0] ?? 0, max: records[records.length - 1] ?? 0 },
    consoleSize: chosen.consoleSize,
    ftraceSize: chosen.ftraceSize,
    pmsgSize: chosen.pmsgSize,
    eccSize: detectEcc(buf, chosen.zones),
    cpus: Math.max(1, ftraceZones.length),
    ...(signedKernel ? { signedKernel } : {}),
    ...(orderShows ? { pmsgBeforeFtrace: chosen.pmsgBeforeFtrace } : {}),
    ...(evenKnown ? { evenZoneSizes: chosen.even } : {}),
    zones: chosen.zones,
    unknowns,
  }
}
