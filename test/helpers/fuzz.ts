/**
 * A structure-aware fuzzer of the engine (item 10): seeds are kernel fixture regions and small
 * simulated regions across kernel versions; each execution mutates one (zone header fields at
 * 0, max or near capacity, flipped bytes and parity, hostile dmesg headers and deflate streams,
 * truncated or extended images, another target kernel), then boots, reads, builds the file
 * view, erases, writes (console, pmsg, ftrace, a dump), corrupts and boots again.
 *
 * Invariants: nothing throws but the project's own errors (PstoreSimError), every write
 * changes only the bytes of the zones it is for (never another zone, never the unused tail), and
 * no execution takes over 2 s of CPU.
 * Deterministic: execution i of seed S always does the same thing (replay with `only`).
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { computeLayout, type ZoneLayout } from '../../src/backend/ramoops/layout.js'
import { fromModuleParams, type RamoopsSetup } from '../../src/backend/ramoops/ramoopsSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { SimulatedMachine } from '../../src/machine/machine.js'
import { makeFiles } from '../../src/pstore/filesystem.js'
import { PstoreSimError } from '../../src/util/errors.js'
import { type FixtureCase, fixtureCase, fixtureConfig, fixturesDir } from './fixtures.js'

export { prng } from '../../src/util/prng.js'

import { prng } from '../../src/util/prng.js'

export interface FuzzSeed {
  name: string
  /** The setup, for the seed's own kernel or another one. */
  config(kernel?: string): RamoopsSetup
  bytes: Buffer
}

export interface Finding {
  execution: number
  seed: string
  mutations: string[]
  step: string
  error: string
}

export interface FuzzResult {
  executions: number
  ms: number
  findings: Finding[]
  /** Errors of the project's own classes, by name: the refusals the fuzzer provoked. */
  refusals: Record<string, number>
}

const KERNELS = ['4.14.0', '4.19.0', '5.4.0', '5.10.0', '5.15.0', '6.1.10', '6.1.192', '6.6.0', '6.12.0']

export class Rng {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(256)
    return b
  }
}

/** The kernel fixtures' regions (whatever form the helper stores them in). */
export function fixtureSeeds(): FuzzSeed[] {
  const kernelDir = path.join(fixturesDir, 'kernel-6.1')
  if (!fs.existsSync(kernelDir)) return []
  const seeds: FuzzSeed[] = []
  for (const name of fs.readdirSync(kernelDir).sort()) {
    let c: FixtureCase
    try {
      c = fixtureCase('kernel-6.1', name)
    } catch {
      continue // not a case directory
    }
    for (const file of fs
      .readdirSync(c.dir)
      .filter((f) => /^region-.*\.bin(\.gz)?$/.test(f))
      .sort()) {
      let bytes = c.read(file)
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes)
      const fixture = c
      seeds.push({ name: `${name}/${file}`, config: (kernel) => fixtureConfig(fixture, kernel ? { kernel } : {}), bytes })
    }
  }
  return seeds
}

/** Small regions written by the simulated kernel of each version: every zone type, ECC on and off. */
export function syntheticSeeds(): FuzzSeed[] {
  const seeds: FuzzSeed[] = []
  for (const kernel of KERNELS) {
    for (const ecc of [0, 16]) {
      const params = { mem_size: 0x6000, record_size: 0x800, console_size: 0x800, pmsg_size: 0x400, ftrace_size: 0x600, ecc }
      const config = (k?: string) => fromModuleParams(params, { kernel: k ?? kernel, cpus: 3 })
      const region = RegionImage.fromBuffer(Buffer.alloc(params.mem_size))
      let clock = 1_700_000_000_000
      const machine = new SimulatedMachine(config(), region, undefined, () => (clock += 1234))
      machine.boot()
      machine.console('a console line\nanother one\n')
      machine.pmsg(Buffer.from('pmsg record\n'))
      machine.ftrace([0, 1, 2].map((cpu) => ({ cpu, ip: 0xffffffff81000000n + BigInt(cpu), parentIp: 0xffffffff81000100n })))
      machine.crash({ reason: 'oops' })
      machine.crash({ reason: 'panic', compress: ecc === 0 })
      machine.boot()
      seeds.push({ name: `synthetic ${kernel} ecc ${ecc}`, config, bytes: Buffer.from(region.bytes) })
    }
  }
  return seeds
}

const INT32_EDGES = [0, 1, -1, 0x7fffffff, -0x80000000, 0x7ffffff0]

function headerValue(rng: Rng, zone: ZoneLayout, capacity: number): number {
  return rng.pick([...INT32_EDGES, capacity, capacity - 1, capacity + 1, capacity + 12, zone.size, rng.int(capacity + 1), rng.int(0x100000000) | 0])
}

const SECONDS = ['0', '1', '-1', '1700000000', '9223372036854775807', '-9223372036854775808', '99999999999999999999999', '']
const MICROS = ['0', '999999', '1000000', '18446744073709551615', '1'.repeat(30), '', '-5']

function hostileHeader(rng: Rng): string {
  const type = rng.pick(['C', 'D', 'X', ''])
  const form = rng.int(6)
  if (form === 0) return `====${rng.pick(SECONDS)}.${rng.pick(MICROS)}\n` // pre-4.x, no type
  if (form === 1) return rng.pick(['===', '====', '====.', '====-1.-1-C', ' ====1.1-C\n', '====1.1-'])
  return `====${rng.pick(SECONDS)}.${rng.pick(MICROS)}-${type}${rng.pick(['\n', '', ' \t\n\n', '\xa0'])}`
}

/** Deflate streams built once (deflating per execution would cost more than the execution). */
let streams: { good: Buffer[]; bomb: Buffer; farBack: Buffer } | undefined
function deflateStreams(): NonNullable<typeof streams> {
  if (streams) return streams
  const good: Buffer[] = []
  for (const lines of [1, 30, 200, 400]) {
    const text = Buffer.from('<6>[    1.000000] kernel log line\n'.repeat(lines))
    for (const windowBits of [9, 11, 12, 15]) good.push(zlib.deflateRawSync(text, { windowBits }), zlib.deflateSync(text, { windowBits }))
  }
  const noise = new Rng(prng(99)).bytes(3010)
  streams = {
    good,
    bomb: zlib.deflateRawSync(Buffer.alloc(1 << 21), { level: 9 }), // megabytes of zeros in a few KB
    farBack: zlib.deflateRawSync(Buffer.concat([noise, Buffer.alloc(100), noise.subarray(0, 200)]), { windowBits: 15 }),
  }
  return streams
}

function hostileDeflate(rng: Rng, room: number): Buffer {
  const { good: goods, bomb, farBack } = deflateStreams()
  const good = rng.pick(goods)
  switch (rng.int(7)) {
    case 0:
      return good
    case 1:
      return good.subarray(0, rng.int(good.length)) // truncated
    case 2: {
      const b = Buffer.from(good)
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) b[rng.int(b.length)] ^= 1 << rng.int(8)
      return b
    }
    case 3:
      return rng.bytes(1 + rng.int(Math.min(room, 2000)))
    case 4: // a stored block that claims more than there is
      return Buffer.concat([Buffer.from([0x01, 0xff, 0x7f, 0x00, 0x80]), rng.bytes(rng.int(64))])
    case 5:
      return bomb
    default: // distances past the window (valid for the kernel's single-call inflate only)
      return farBack
  }
}

/** Writes a dmesg record (header + payload) into a zone, header fields set to match, or not. */
function plantRecord(rng: Rng, bytes: Buffer, zone: ZoneLayout, capacity: number): string {
  const header = Buffer.from(hostileHeader(rng), 'latin1')
  const payload = rng.chance(0.7) ? hostileDeflate(rng, capacity) : rng.bytes(rng.int(capacity))
  const record = Buffer.concat([header, payload]).subarray(0, capacity)
  record.copy(bytes, zone.offset + 12)
  bytes.writeUInt32LE(zone.sig, zone.offset)
  bytes.writeInt32LE(rng.chance(0.8) ? 0 : headerValue(rng, zone, capacity), zone.offset + 4)
  bytes.writeInt32LE(rng.chance(0.8) ? record.length : headerValue(rng, zone, capacity), zone.offset + 8)
  return `record in ${zone.type}[${zone.index}]: ${JSON.stringify(header.toString('latin1'))} + ${payload.length} bytes`
}

function mutate(rng: Rng, seed: FuzzSeed, config: RamoopsSetup, bytes: Buffer): { bytes: Buffer; mutations: string[] } {
  const zones = computeLayout(config).zones
  const mutations: string[] = []
  const capacityOf = (z: ZoneLayout) => Math.max(1, z.size - 12 - (config.eccSize ? config.eccSize * (2 + Math.ceil(z.size / 128)) : 0))
  for (let i = 0, n = 1 + rng.int(4); i < n && zones.length; i++) {
    const zone = rng.pick(zones)
    const capacity = capacityOf(zone)
    const kind = rng.int(10)
    if (kind <= 2) {
      const field = rng.pick([0, 4, 8])
      const value = field === 0 ? (rng.chance(0.5) ? zone.sig : rng.int(0x100000000)) : headerValue(rng, zone, capacity)
      if (field === 0) bytes.writeUInt32LE(value >>> 0, zone.offset)
      else bytes.writeInt32LE(value | 0, zone.offset + field)
      mutations.push(`${zone.type}[${zone.index}] header+${field} = ${value}`)
    } else if (kind <= 4) {
      const n = 1 + rng.int(16)
      for (let j = 0; j < n; j++) bytes[zone.offset + rng.int(zone.size)] ^= 1 << rng.int(8)
      mutations.push(`${n} flips in ${zone.type}[${zone.index}]`)
    } else if (kind === 5 && config.eccSize) {
      const parity = zone.offset + 12 + capacity
      rng.bytes(zone.offset + zone.size - parity).copy(bytes, parity)
      mutations.push(`random parity in ${zone.type}[${zone.index}]`)
    } else if (kind <= 7) {
      const dmesg = zones.filter((z) => z.type === 'dmesg')
      const target = dmesg.length ? rng.pick(dmesg) : zone
      mutations.push(plantRecord(rng, bytes, target, capacityOf(target)))
    } else if (kind === 8) {
      rng.bytes(zone.size - 12).copy(bytes, zone.offset + 12)
      bytes.writeInt32LE(rng.pick([0, 24, 16, 48, zone.size - 12, capacity]), zone.offset + 8)
      bytes.writeInt32LE(0, zone.offset + 4)
      mutations.push(`random data in ${zone.type}[${zone.index}]`)
    } else {
      bytes.writeUInt32LE(rng.int(0x100000000), zone.offset + rng.int(Math.max(1, zone.size - 4)))
      mutations.push(`random word in ${zone.type}[${zone.index}]`)
    }
  }
  if (rng.chance(0.03)) {
    const size = rng.pick([0, 1, bytes.length - 1, bytes.length + 1, bytes.length >> 1, bytes.length * 2])
    const resized = Buffer.alloc(size)
    bytes.copy(resized, 0, 0, Math.min(size, bytes.length))
    mutations.push(`image resized to ${size} bytes`)
    return { bytes: resized, mutations }
  }
  return { bytes, mutations }
}

/** Fails when a write reached bytes outside the zones it may change. */
function confined(writes: Array<[number, number]>, allowed: ZoneLayout[], what: string): void {
  for (const [offset, length] of writes) {
    if (!allowed.some((z) => offset >= z.offset && offset + length <= z.offset + z.size)) {
      throw new Error(`${what} wrote ${length} bytes at ${offset} (0x${offset.toString(16)}), outside the zones it writes`)
    }
  }
}

function runSteps(rng: Rng, config: RamoopsSetup, bytes: Buffer, step: (name: string) => void): void {
  const layout = computeLayout(config)
  const readOnly = rng.chance(0.25)
  step('open')
  const region = RegionImage.fromBuffer(bytes, readOnly)
  // Every change to the region is reported through markDirty (writes, header words, ECC
  // parity): recording it is cheaper than comparing copies of the region around each step.
  let writes: Array<[number, number]> = []
  const markDirty = region.markDirty.bind(region)
  region.markDirty = (offset: number, length: number) => {
    writes.push([offset, length])
    markDirty(offset, length)
  }
  const attempt = <T>(name: string, allowed: ZoneLayout[], action: () => T): T => {
    step(name)
    writes = []
    try {
      return action()
    } finally {
      confined(writes, allowed, name)
    }
  }
  let clock = 1_700_000_000_000
  const machine = new SimulatedMachine(config, region, undefined, () => (clock += 777))
  const { records } = attempt('boot', layout.zones, () => machine.boot())
  step('files')
  makeFiles(records, { now: { sec: 1, nsec: 0 }, wordBits: config.wordBits, exactNames: rng.chance(0.5) })
  const guarded = (name: string, allowed: ZoneLayout[], action: () => unknown) => {
    try {
      attempt(name, allowed, action)
    } catch (err) {
      if (!(err instanceof PstoreSimError)) throw err
      refusal(err)
    }
  }
  if (records.length && rng.chance(0.5)) {
    const r = rng.pick(records)
    const zones = layout.zones.filter((z) => z.type === r.type && (r.type === 'ftrace' || z.index === r.id))
    guarded(`erase ${r.type} ${r.id}`, zones, () => machine.backend.erase(r.type, r.id))
  }
  const consoleZones = layout.console ? [layout.console] : []
  guarded('console', consoleZones, () => machine.console('fuzz line\n'.repeat(1 + rng.int(3))))
  guarded('pmsg', layout.pmsg ? [layout.pmsg] : [], () => machine.pmsg(rng.bytes(1 + rng.int(300))))
  const cpu = rng.int(Math.max(1, layout.ftrace.length + (rng.chance(0.1) ? 1 : 0))) // sometimes one past the last
  const ftraceZone = layout.ftrace[config.ftracePerCpu ? cpu : 0]
  guarded(`ftrace cpu ${cpu}`, ftraceZone ? [ftraceZone] : [], () => machine.ftrace([{ cpu, ip: 0xffffffffn, parentIp: 0x1000n }]))
  const reason = rng.pick(['panic', 'oops', 'emergency', 'shutdown'] as const)
  guarded(`crash ${reason}`, [...layout.dmesg, ...consoleZones], () =>
    machine.crash({ reason, compress: rng.chance(0.6), time: rng.pick([undefined, 0, -1, 1e12, 1700000000.5]) }),
  )
  guarded('corrupt', layout.zones, () =>
    machine.backend.corrupt!({ random: 1 + rng.int(8), area: rng.pick(['record', 'data', 'header', 'parity', 'zone'] as const), seed: rng.int(1000) }),
  )
  const again = attempt('boot again', layout.zones, () => machine.boot())
  step('files again')
  makeFiles(again.records, { now: { sec: 1, nsec: 0 }, wordBits: config.wordBits })
}

let refusalCounts: Record<string, number> = {}
export function refusal(err: Error): void {
  refusalCounts[err.name] = (refusalCounts[err.name] ?? 0) + 1
}

/** One execution: seed, mutations, steps. Returns a finding, or undefined. */
export function execute(seeds: FuzzSeed[], runSeed: number, execution: number): Finding | undefined {
  const rng = new Rng(prng((runSeed ^ Math.imul(execution + 1, 0x9e3779b1)) >>> 0))
  const seed = seeds[rng.int(seeds.length)]
  let config: RamoopsSetup
  try {
    config = seed.config(rng.chance(0.2) ? rng.pick(KERNELS) : undefined)
  } catch (err) {
    if (err instanceof PstoreSimError) return undefined // that kernel refuses this setup
    throw err
  }
  const { bytes, mutations } = mutate(rng, seed, config, Buffer.from(seed.bytes))
  let step = 'mutate'
  const cpu0 = process.cpuUsage()
  try {
    runSteps(rng, config, bytes, (name) => (step = name))
    // over 2 s of CPU time (not wall time: the same however busy the machine is)
    const used = process.cpuUsage(cpu0)
    if (used.user + used.system > 2_000_000) throw new Error(`the execution took ${((used.user + used.system) / 1000).toFixed(0)} ms of CPU (over 2000)`)
  } catch (err) {
    if (err instanceof PstoreSimError) {
      refusal(err)
      return undefined
    }
    const e = err as Error
    return {
      execution,
      seed: seed.name,
      mutations,
      step,
      error: `${e?.name}: ${e?.message}\n${String(e?.stack ?? '')
        .split('\n')
        .slice(1, 4)
        .join('\n')}`,
    }
  }
  return undefined
}

export function fuzz(options: {
  runs: number
  seed: number
  start?: number
  seeds?: FuzzSeed[]
  fixtureShare?: number
  onProgress?: (done: number) => void
}): FuzzResult {
  const fixtures = options.seeds ? [] : fixtureSeeds()
  const synthetic = options.seeds ?? syntheticSeeds()
  refusalCounts = {}
  const findings: Finding[] = []
  const t0 = performance.now()
  // Fixture regions are 1 MiB: a share of the executions, so that the small regions get volume.
  const share = fixtures.length ? (options.fixtureShare ?? 0.1) : 0
  const start = options.start ?? 0
  for (let i = start; i < start + options.runs; i++) {
    const pool = (Math.imul(i + 1, 0x2545f491) >>> 0) / 4294967296 < share ? fixtures : synthetic
    const finding = execute(pool, options.seed, i)
    if (finding) {
      findings.push(finding)
      if (process.env.FUZZ_VERBOSE) process.stderr.write(`finding: ${JSON.stringify(finding)}\n`)
    }
    if (options.onProgress && (i + 1 - start) % 10000 === 0) options.onProgress(i + 1 - start)
  }
  return { executions: options.runs, ms: performance.now() - t0, findings, refusals: { ...refusalCounts } }
}
