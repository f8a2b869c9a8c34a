/**
 * The structure-aware fuzzer for the backends beside ramoops (issue 33): pstore/blk and ERST
 * (efi-pstore's is fuzzEfi.ts, plugged into `BACKEND_FUZZERS` at the end). Seeds are the kernel fixtures'
 * images and small images written by pstore-sim; each execution mutates the structures the
 * kernel reads (zone and kmsg headers, QEMU's storage header and map, CPER headers), then boots,
 * reads, erases, writes a dump, flips bits and boots again. On every execution:
 *
 * - the read pass lists what the kernel's read rules (readRules/<backend>.ts) list: records,
 *   names, sizes, times, bytes, where the pass stops, whether it fails;
 * - nothing throws but the project's own errors (PstoreSimError);
 * - no execution takes over 2 s (of CPU time: the same however busy the machine is);
 * - every write stays inside what the event is for (the zone erased or dumped into; ERST's
 *   storage header and map, and the slot written);
 * - the image read from a file gives the view it gives read from memory.
 *
 * Deterministic: execution i of seed S of a backend always does the same (replay with
 * executeBackend()).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import type { PstoreBackend } from '../../src/backend/backend.js'
import { BlkBackend } from '../../src/backend/blk/backend.js'
import { type BlkSetup, blkSetup, parseModuleOptions } from '../../src/backend/blk/blkSetup.js'
import { encodeKmsgHeader } from '../../src/backend/blk/dmesgZone.js'
import { type BlkZoneLayout, computeBlkLayout } from '../../src/backend/blk/layout.js'
import { encodePszHeader } from '../../src/backend/blk/zone.js'
import { CREATOR_PSTORE, encodeCperRecord, NOTIFY_MCE, SECTION_DMESG, SECTION_DMESG_Z, SECTION_MCE } from '../../src/backend/erst/cper.js'
import { ErstBackend } from '../../src/backend/erst/erst.js'
import { type ErstSetup, fromErstParams } from '../../src/backend/erst/erstSetup.js'
import type { CompressionFlavour } from '../../src/format/kernelVersion.js'
import { RegionImage } from '../../src/format/region.js'
import { inflateLimit, inflateRecord } from '../../src/pstore/compression.js'
import { makeFiles } from '../../src/pstore/filesystem.js'
import type { PstoreRecord } from '../../src/pstore/record.js'
import { PstoreSimError } from '../../src/util/errors.js'
import { prng } from '../../src/util/prng.js'
import { fixturesDir } from './fixtures.js'
import type { Finding } from './fuzz.js'
import { Rng } from './fuzz.js'
import { efiFuzzer } from './fuzzEfi.js'
import { type BlkReadPass, blkReadPass, type RuleRecord } from './readRules/blk.js'
import { type ErstReadPass, erstReadPass } from './readRules/erst.js'

/** What every backend's fuzzer gives the runners (test/unit/fuzz.test.ts, scripts/fuzz.ts). */
export interface BackendFuzzer {
  name: string
  /** Loaded once per process (fixtures read, synthetic images written). */
  seeds(): unknown[]
  execute(seeds: unknown[], runSeed: number, execution: number): Finding | undefined
}

export interface BackendFuzzResult {
  backend: string
  executions: number
  ms: number
  findings: Finding[]
  refusals: Record<string, number>
  /** The slowest execution, ms of CPU. */
  slowestMs: number
}

const SLOW_MS = 2000
let refusals: Record<string, number> = {}
let slowest = 0

/** An event's writes, as the region reports them (markDirty), checked against what it may touch. */
export class WriteLog {
  writes: Array<[number, number]> = []
  constructor(region: RegionImage) {
    const markDirty = region.markDirty.bind(region)
    region.markDirty = (offset: number, length: number) => {
      this.writes.push([offset, length])
      markDirty(offset, length)
    }
  }
  confined(what: string, allowed: Array<[number, number]>): void {
    for (const [offset, length] of this.writes) {
      if (!allowed.some(([a, b]) => offset >= a && offset + length <= b)) {
        throw new Error(`${what} wrote ${length} bytes at ${offset} (0x${offset.toString(16)}), outside ${JSON.stringify(allowed)}`)
      }
    }
    this.writes = []
  }
}

/**
 * The core's record of a record the rules list (inflated where it can), made once for the same
 * fields and bytes: the seeds' records come back in most executions, and inflating each again
 * (for its size, then its text) was a third of an efi execution. Records are never changed.
 */
const ruleRecords = new Map<string, PstoreRecord>()
export function ruleRecord(
  r: Omit<RuleRecord, 'type' | 'id'> & { type: string; id: number | bigint },
  flavour: CompressionFlavour,
  limit: number,
  compressionOn: boolean,
): PstoreRecord {
  const key = `${flavour} ${limit} ${compressionOn} ${r.type} ${r.id} ${r.sec} ${r.nsec} ${r.compressed} ${r.bytes.toString('latin1')}`
  let record = ruleRecords.get(key)
  if (!record) {
    if (ruleRecords.size >= 20000) ruleRecords.clear()
    const fields = { type: r.type as PstoreRecord['type'], id: r.id, time: { sec: r.sec, nsec: r.nsec }, compressed: r.compressed, eccNotice: '' }
    record = inflateRecord({ ...fields, payload: r.bytes }, flavour, limit, compressionOn)
    ruleRecords.set(key, record)
  }
  return record
}

/** The records the rules list, as the core holds them (inflated where it can). */
function expected(
  rules: RuleRecord[] | Array<Omit<RuleRecord, 'type' | 'id'> & { type: string; id: bigint }>,
  backend: PstoreBackend,
  config: BlkSetup | ErstSetup,
): PstoreRecord[] {
  const flavour = config.quirks.compression
  return rules.map((r) => ruleRecord(r, flavour, inflateLimit(flavour, backend.bufsize), config.compress))
}

/** The listing as `ls -l` and `cat` see it: names, sizes, times and bytes. */
export function view(records: PstoreRecord[], backendName: string): string[] {
  return makeFiles(records, { now: { sec: 1, nsec: 0 }, wordBits: 64, backend: backendName }).map(
    (f) => `${f.name} ${f.kernelSize} ${f.record.time.sec}.${f.record.time.nsec} ${f.content.toString('base64')}`,
  )
}

/** The kernel's read rules against the backend's read pass; throws what differs. */
function checkRules(what: string, records: PstoreRecord[], rules: BlkReadPass | ErstReadPass, backend: PstoreBackend, config: BlkSetup | ErstSetup): void {
  if ('refused' in rules) throw new Error(`${what}: QEMU refuses this file (${rules.refused}) but the backend booted`)
  if ('fails' in rules) {
    if (records.length || !backend.readPassFailure?.())
      throw new Error(`${what}: the kernel's read pass fails (${rules.fails}); the backend listed ${records.length} records`)
    return
  }
  const ours = view(records, backend.name)
  const theirs = view(expected(rules.records, backend, config), backend.name)
  const short = (l: string[]) => l.map((x) => x.slice(0, 90)).join(' | ')
  if (ours.length !== theirs.length || ours.some((x, i) => x !== theirs[i])) {
    throw new Error(`${what}: the listing differs from the kernel's read rules:\n  ours:   ${short(ours)}\n  kernel: ${short(theirs)}`)
  }
}

/**
 * The same image read from a file: the same view. A new file each time, removed after: rewriting
 * one file truncates it, and ext4 (auto_da_alloc) then writes the old bytes out and waits for
 * the disk, ~6 ms an execution; a file removed before writeback never reaches the disk.
 */
let scratchDir: string | undefined
let scratchFiles = 0
export function fileView(bytes: Buffer, open: (region: RegionImage) => PstoreBackend): string[] {
  if (!scratchDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-fuzz-'))
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
    scratchDir = dir
  }
  const scratch = path.join(scratchDir, `image-${scratchFiles++}.bin`)
  fs.writeFileSync(scratch, bytes, { flag: 'wx' })
  const region = RegionImage.open(scratch, { readOnly: true, expectedSize: bytes.length })
  try {
    const backend = open(region)
    backend.boot()
    return view(backend.readRecords(), backend.name)
  } finally {
    region.close?.()
    fs.rmSync(scratch)
  }
}

function finding(execution: number, seed: string, mutations: string[], step: string, err: unknown): Finding {
  const e = err as Error
  const stack = String(e?.stack ?? '')
    .split('\n')
    .slice(1, 4)
    .join('\n')
  return { execution, seed, mutations, step, error: `${e?.name}: ${e?.message}\n${stack}` }
}

/** Runs `steps`; a PstoreSimError is a refusal, anything else (or a slow run) a finding. */
export function guardedRun(execution: number, seed: string, mutations: string[], steps: (step: (s: string) => void) => void): Finding | undefined {
  let step = 'mutate'
  const t0 = cpuMs()
  try {
    steps((s) => (step = s))
  } catch (err) {
    if (!(err instanceof PstoreSimError)) return finding(execution, seed, mutations, step, err)
    refusals[err.name] = (refusals[err.name] ?? 0) + 1
  }
  return slowCheck(cpuMs() - t0, () =>
    finding(execution, seed, mutations, step, new Error(`the execution took ${(cpuMs() - t0).toFixed(0)} ms of CPU (over ${SLOW_MS})`)),
  )
}

/** CPU time of this process (user + system), ms: what an execution costs, however busy the machine is. */
export function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

/** Records the slowest execution; the finding when one took over 2 s of CPU. */
export function slowCheck(ms: number, slowFinding: () => Finding): Finding | undefined {
  slowest = Math.max(slowest, ms)
  return ms > SLOW_MS ? slowFinding() : undefined
}

const INT32_EDGES = [0, 1, -1, 0x7fffffff, -0x80000000, 39, 40, 41]
export const U32_EDGES = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe]
export const S64_EDGES = [0n, 1n, -1n, 1704067200n, 0x7fffffffffffffffn, -0x8000000000000000n, 999999999n, 1000000000n]

// ─── pstore/blk ──────────────────────────────────────────────────────────────

interface BlkSeed {
  name: string
  config: (kernel?: string) => BlkSetup
  bytes: Buffer
}

const BLK_KERNELS = ['6.1.192', '6.12.107', '5.10.0']

function blkFixtureSeeds(): BlkSeed[] {
  const seeds: BlkSeed[] = []
  for (const kdir of ['blk-6.1', 'blk-6.12']) {
    const root = path.join(fixturesDir, kdir)
    if (!fs.existsSync(root)) continue
    for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
      const params = JSON.parse(fs.readFileSync(path.join(root, name, 'params.json'), 'utf8'))
      for (const file of fs.readdirSync(path.join(root, name)).filter((f) => /^disk-.*\.bin\.gz$/.test(f))) {
        const bytes = zlib.gunzipSync(fs.readFileSync(path.join(root, name, file)))
        const config = (kernel?: string) =>
          blkSetup(parseModuleOptions(params.pstore_blk.join(' ')), bytes.length, {
            kernel: kernel ?? params.kernel.kernelVersion,
            compress: !params.extra_cmdline.includes('pstore.compress=none'),
          })
        seeds.push({ name: `${kdir}/${name}/${file}`, config, bytes })
      }
    }
  }
  return seeds
}

/** Small disks pstore-sim wrote: dumps compressed and not, pmsg and console rings (one wrapped), two ftrace zones. */
function blkSyntheticSeeds(): BlkSeed[] {
  const seeds: BlkSeed[] = []
  for (const compress of [true, false]) {
    const size = 64 * 1024
    const options = parseModuleOptions('blkdev=/dev/vda kmsg_size=8 pmsg_size=4 console_size=4 ftrace_size=8 best_effort=y')
    const config = (kernel?: string) => blkSetup(options, size, { kernel: kernel ?? '6.12.107', compress, cpus: 2 })
    const backend = new BlkBackend(config(), RegionImage.fromBuffer(Buffer.alloc(size)))
    backend.boot()
    const text = Buffer.from('<6>[    1.000000] a line of the log\n'.repeat(40))
    for (const [i, reason] of [2, 2, 3, 4].entries()) {
      const payload = compress && i % 2 === 0 ? zlib.deflateRawSync(text, { windowBits: 11 }) : text
      backend.blk.writeDmesg({ part: 1, compressed: compress && i % 2 === 0, payload, time: { sec: 1700000000 + i, nsec: 5000 * i } }, reason)
    }
    const l = backend.blk.layout
    const bytes = Buffer.from(backend.region.bytes)
    for (const [z, start] of [
      [l.pmsg!, 100],
      [l.console!, 0],
    ] as const) {
      const cap = z.size - 12
      for (let i = 0; i < cap; i++) bytes[z.offset + 12 + i] = 0x61 + (i % 26)
      encodePszHeader({ sig: z.sig, datalen: start ? cap : 200, start: start || 200 }).copy(bytes, z.offset)
    }
    seeds.push({ name: `synthetic blk compress=${compress}`, config, bytes })
  }
  return seeds
}

function blkZones(config: BlkSetup): BlkZoneLayout[] {
  const l = computeBlkLayout(config)
  return [l.pmsg, l.console, ...l.ftrace, ...l.dmesg].filter((z): z is BlkZoneLayout => z !== undefined)
}

function mutateBlkZone(rng: Rng, bytes: Buffer, z: BlkZoneLayout): string {
  const cap = z.size - 12
  const kmsg = z.offset + 12
  switch (rng.int(9)) {
    case 0: {
      const v = rng.pick([...INT32_EDGES, cap, cap + 1, cap - 1, rng.int(cap + 1)])
      bytes.writeInt32LE(v | 0, z.offset + 4)
      return `${z.type}[${z.index}] datalen = ${v}`
    }
    case 1: {
      const v = rng.pick([...INT32_EDGES, cap, cap + 1, bytes.readInt32LE(z.offset + 4) + 1, rng.int(cap + 1)])
      bytes.writeInt32LE(v | 0, z.offset + 8)
      return `${z.type}[${z.index}] start = ${v}`
    }
    case 2: {
      const v = rng.chance(0.5) ? z.sig ^ (1 << rng.int(32)) : rng.pick([0x43474244, 0x43474243, 0x43474246, 0x43474247])
      bytes.writeUInt32LE(v >>> 0, z.offset)
      return `${z.type}[${z.index}] sig = 0x${(v >>> 0).toString(16)}`
    }
    case 3: {
      const v = rng.pick(U32_EDGES)
      bytes.writeUInt32LE(v, kmsg + 28)
      return `${z.type}[${z.index}] kmsg counter = ${v}`
    }
    case 4: {
      const v = rng.pick([0, 1, 2, 3, 4, 5, 6, 0xffffffff])
      bytes.writeUInt32LE(v, kmsg + 32)
      return `${z.type}[${z.index}] kmsg reason = ${v}`
    }
    case 5: {
      const v = rng.pick([0, 1, 2, 0x80, 0xff])
      bytes[kmsg + 24] = v
      return `${z.type}[${z.index}] kmsg compressed = ${v}`
    }
    case 6: {
      const [sec, nsec] = [rng.pick(S64_EDGES), rng.pick(S64_EDGES)]
      bytes.writeBigInt64LE(sec, kmsg + 8)
      bytes.writeBigInt64LE(nsec, kmsg + 16)
      return `${z.type}[${z.index}] kmsg time = ${sec}.${nsec}`
    }
    case 7: {
      // a whole dmesg zone as a dump would leave it, fields at the edges
      const compressed = rng.chance(0.5)
      const text = Buffer.from('<4>[    2.000000] Oops: something\n'.repeat(1 + rng.int(30)))
      const payload = (
        compressed && rng.chance(0.7) ? zlib.deflateRawSync(text, { windowBits: 11 }) : rng.chance(0.5) ? text : rng.bytes(rng.int(cap))
      ).subarray(0, cap - 40)
      encodePszHeader({ sig: z.sig, datalen: 40 + payload.length, start: 0 }).copy(bytes, z.offset)
      encodeKmsgHeader({ sec: rng.pick(S64_EDGES), nsec: rng.pick(S64_EDGES), compressed, counter: rng.pick(U32_EDGES), reason: rng.int(6) }).copy(bytes, kmsg)
      payload.copy(bytes, kmsg + 40)
      return `${z.type}[${z.index}] planted dump: ${payload.length} bytes, compressed ${compressed}`
    }
    default: {
      const n = 1 + rng.int(8)
      for (let i = 0; i < n; i++) bytes[z.offset + rng.int(Math.min(z.size, 64))] ^= 1 << rng.int(8)
      return `${n} flips in ${z.type}[${z.index}]'s headers`
    }
  }
}

function blkSteps(rng: Rng, config: BlkSetup, bytes: Buffer, step: (s: string) => void): void {
  const zones = blkZones(config)
  const span = (z: BlkZoneLayout): [number, number] => [z.offset, z.offset + z.size]
  step('open')
  const region = RegionImage.fromBuffer(bytes, rng.chance(0.2))
  const log = new WriteLog(region)
  const backend = new BlkBackend(config, region)
  const rules = blkReadPass(Buffer.from(bytes), backend.blk.layout)
  step('boot')
  backend.boot()
  log.confined('boot', [])
  step('read')
  const records = backend.readRecords()
  checkRules('read', records, rules, backend, config)
  step('file view')
  const fromFile = fileView(bytes, (r) => new BlkBackend(config, r))
  if (fromFile.join('\n') !== view(records, backend.name).join('\n')) throw new Error('the image read from a file lists another view than read from memory')
  if (records.length && rng.chance(0.6)) {
    const r = rng.pick(records)
    const zone = r.type === 'dmesg' ? backend.blk.layout.dmesg[Number(r.id)] : r.type === 'pmsg' ? backend.blk.layout.pmsg : backend.blk.layout.console
    step(`erase ${r.type} ${r.id}`)
    backend.erase(r.type, r.id)
    log.confined(`erase ${r.type}`, zone ? [span(zone)] : [])
  }
  step('dump')
  const compressed = rng.chance(0.5)
  const payload = compressed ? zlib.deflateRawSync(rng.bytes(rng.int(3000)), { windowBits: 11 }) : rng.bytes(rng.int(20000))
  const res = backend.writeDmesg({ part: rng.chance(0.9) ? 1 : 2, compressed, payload, time: { sec: 1700000100, nsec: 7 }, reason: rng.pick([1, 2, 2, 3, 4]) })
  const dumped = res.stored ? backend.blk.layout.dmesg[res.slot] : undefined
  log.confined('dump', dumped ? [span(dumped)] : [])
  step('corrupt')
  backend.corrupt({ random: 1 + rng.int(6), area: rng.pick(['record', 'data', 'header', 'zone'] as const), seed: rng.int(1000) })
  log.confined('corrupt', zones.map(span))
  step('boot again')
  const again = blkReadPass(Buffer.from(region.bytes), backend.blk.layout)
  backend.boot()
  checkRules('read again', backend.readRecords(), again, backend, config)
}

function blkExecute(seeds: unknown[], runSeed: number, execution: number): Finding | undefined {
  const rng = new Rng(prng((runSeed ^ Math.imul(execution + 1, 0x85ebca6b)) >>> 0))
  const seed = rng.pick(seeds as BlkSeed[])
  let config: BlkSetup
  try {
    config = seed.config(rng.chance(0.2) ? rng.pick(BLK_KERNELS) : undefined)
  } catch (err) {
    if (err instanceof PstoreSimError) return undefined
    throw err
  }
  const bytes = Buffer.from(seed.bytes)
  const zones = blkZones(config)
  const mutations: string[] = []
  return guardedRun(execution, seed.name, mutations, (step) => {
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) mutations.push(mutateBlkZone(rng, bytes, rng.pick(zones)))
    blkSteps(rng, config, bytes, step)
  })
}

// ─── ERST ────────────────────────────────────────────────────────────────────

interface ErstSeed {
  name: string
  config: ErstSetup
  bytes: Buffer
}

function erstFixtureSeeds(): ErstSeed[] {
  const seeds: ErstSeed[] = []
  for (const kdir of ['erst-6.1', 'erst-6.12']) {
    const root = path.join(fixturesDir, kdir)
    if (!fs.existsSync(root)) continue
    for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
      const params = JSON.parse(fs.readFileSync(path.join(root, name, 'params.json'), 'utf8'))
      const config = fromErstParams(
        { size: params.size, record_size: params.record_size },
        { kernel: params.kernel.kernelVersion, compress: !params.extra_cmdline.includes('pstore.compress=none') },
      )
      for (const file of fs.readdirSync(path.join(root, name)).filter((f) => /^erst-.*\.bin\.gz$/.test(f))) {
        seeds.push({ name: `${kdir}/${name}/${file}`, config, bytes: zlib.gunzipSync(fs.readFileSync(path.join(root, name, file))) })
      }
    }
  }
  return seeds
}

/** A 32 KiB file of 4 KiB slots pstore-sim wrote: dumps compressed and not, an MCE record, another creator's. */
function erstSyntheticSeeds(): ErstSeed[] {
  const config = fromErstParams({ size: 0x8000, record_size: 4096 }, { kernel: '6.12.107' })
  const backend = new ErstBackend(config, RegionImage.fromBuffer(Buffer.alloc(0x8000)))
  backend.boot()
  const text = Buffer.from('<6>[    1.000000] a line of the log\n'.repeat(60))
  backend.writeDmesg({ part: 1, compressed: true, payload: zlib.deflateRawSync(text, { windowBits: 11 }), time: { sec: 1700000000, nsec: 0 } })
  backend.writeDmesg({ part: 1, compressed: false, payload: text.subarray(0, 3000), time: { sec: 1700000001, nsec: 0 } })
  const bytes = Buffer.from(backend.region.bytes)
  const plant = (slot: number, id: bigint, edit: (r: Buffer) => void) => {
    const r = encodeCperRecord({ recordId: id, timestamp: 1700000002n, compressed: false, data: Buffer.from('an MCE record\n') })
    edit(r)
    Buffer.alloc(4096, 0xff).copy(bytes, slot * 4096)
    r.copy(bytes, slot * 4096)
    bytes.writeBigUInt64LE(id, 24 + slot * 8)
    bytes.writeUInt32LE(bytes.readUInt32LE(20) + 1, 20)
  }
  plant(3, 7000n, (r) => SECTION_MCE.copy(r, 128 + 16))
  plant(4, 7001n, (r) => NOTIFY_MCE.copy(r, 64))
  return [{ name: 'synthetic erst 4K', config, bytes }]
}

function mutateErst(rng: Rng, bytes: Buffer, rs: number): string {
  const slots = Math.max(1, Math.floor(bytes.length / rs))
  const slot = 1 + rng.int(Math.max(1, slots - 1))
  const at = slot * rs
  const mapAt = 24 + slot * 8
  const u64 = (off: number, v: bigint) => bytes.writeBigUInt64LE(BigInt.asUintN(64, v), off)
  switch (rng.int(12)) {
    case 0: {
      const v = rng.pick([0n, 0xffffffffffffffffn, bytes.readBigUInt64LE(24 + (1 + rng.int(slots - 1 || 1)) * 8), bytes.readBigUInt64LE(at + 96), 7n])
      u64(mapAt, v)
      return `map[${slot}] = ${v}`
    }
    case 1: {
      const v = rng.pick([0, 1, 2, 3, 7, 100, 0xffffffff, (bytes.readUInt32LE(20) + 1) >>> 0, Math.max(0, bytes.readUInt32LE(20) - 1)])
      bytes.writeUInt32LE(v >>> 0, 20)
      return `record_count = ${v}`
    }
    case 2: {
      const field = rng.pick([8, 12, 16, 18] as const)
      const v = field >= 16 ? rng.pick([0, 0x100, 0x101, 0xffff]) : rng.pick([0, 4096, 8192, 16384, rs, rs + 1, 0xffffffff])
      if (field >= 16) bytes.writeUInt16LE(v, field)
      else bytes.writeUInt32LE(v >>> 0, field)
      return `storage header +${field} = ${v}`
    }
    case 3: {
      const v = rng.pick([0, 1, 127, 128, 199, 200, 201, rs - 1, rs, rs + 1, 0xffffffff, 200 + rng.int(rs)])
      bytes.writeUInt32LE(v >>> 0, at + 20)
      return `slot ${slot} record_length = ${v}`
    }
    case 4: {
      const g = rng.pick([CREATOR_PSTORE, NOTIFY_MCE, Buffer.alloc(16), rng.bytes(16)])
      g.copy(bytes, at + 64)
      return `slot ${slot} creator = ${g.toString('hex')}`
    }
    case 5: {
      const g = rng.pick([SECTION_DMESG, SECTION_DMESG_Z, SECTION_MCE, Buffer.alloc(16), rng.bytes(16)])
      g.copy(bytes, at + 128 + 16)
      return `slot ${slot} section type = ${g.toString('hex')}`
    }
    case 6: {
      const [bits, time] = [rng.pick([0, 2, 0xffffffff, 1]), rng.pick(S64_EDGES)]
      bytes.writeUInt32LE(bits >>> 0, at + 16)
      bytes.writeBigInt64LE(time, at + 24)
      return `slot ${slot} validation ${bits}, timestamp ${time}`
    }
    case 7: {
      const v = rng.pick([0n, 1n, 0xffffffffffffffffn, bytes.readBigUInt64LE(mapAt) + 1000n])
      u64(at + 96, v)
      return `slot ${slot} CPER record_id = ${v}`
    }
    case 8: {
      const [off, len] = [rng.pick([0, 200, 72, 0xffffffff]), rng.pick([0, 1, rs, 0xffffffff])]
      bytes.writeUInt32LE(off >>> 0, at + 128)
      bytes.writeUInt32LE(len >>> 0, at + 132)
      return `slot ${slot} section offset ${off} length ${len}`
    }
    case 9: {
      rng.bytes(rng.int(rs - 200)).copy(bytes, at + 200)
      return `slot ${slot} random data`
    }
    case 10: {
      const other = 1 + rng.int(slots - 1 || 1)
      bytes.copyWithin(mapAt, 24 + other * 8, 24 + other * 8 + 8)
      return `map[${slot}] = map[${other}] (a duplicate id)`
    }
    default: {
      const n = 1 + rng.int(8)
      for (let i = 0; i < n; i++) bytes[rng.chance(0.5) ? rng.int(Math.min(bytes.length, 24 + slots * 8)) : at + rng.int(200)] ^= 1 << rng.int(8)
      return `${n} flips in the storage header, map or slot ${slot}'s headers`
    }
  }
}

function erstSteps(rng: Rng, config: ErstSetup, bytes: Buffer, step: (s: string) => void): void {
  step('open')
  const region = RegionImage.fromBuffer(bytes, rng.chance(0.2))
  const log = new WriteLog(region)
  const backend = new ErstBackend(config, region)
  // QEMU's header and its map (one entry per slot of the file), wherever storage_offset says slots begin
  const headerEnd = (): number => 24 + 8 * Math.floor(region.size / Math.max(1, region.bytes.readUInt32LE(8)))
  step('boot')
  const fresh = region.bytes.readBigUInt64LE(0) === 0n
  let refused: PstoreSimError | undefined
  try {
    backend.boot()
  } catch (err) {
    if (!(err instanceof PstoreSimError)) throw err
    refused = err
  }
  log.confined('boot', fresh ? [[0, 24]] : [])
  const rules = erstReadPass(Buffer.from(region.bytes))
  if (refused) {
    if (!('refused' in rules)) throw new Error(`boot refused the file (${refused.message}) but QEMU starts on it`)
    throw refused
  }
  step('read')
  const records = backend.readRecords()
  if (!(fresh && region.readOnly)) checkRules('read', records, rules, backend, config)
  step('file view')
  const fromFile = fileView(Buffer.from(region.bytes), (r) => new ErstBackend(config, r))
  if (fromFile.join('\n') !== view(records, backend.name).join('\n')) throw new Error('the image read from a file lists another view than read from memory')
  if (records.length && rng.chance(0.6)) {
    const r = rng.pick(records)
    step(`erase ${r.type} ${r.id}`)
    backend.erase(r.type, r.id)
    log.confined('erase', [[0, headerEnd()]])
  }
  step('dump')
  const res = backend.writeDmesg({ part: 1, compressed: false, payload: rng.bytes(rng.int(config.erstRecordSize)), time: { sec: 1700000100, nsec: 0 } })
  const rs = region.bytes.readUInt32LE(8)
  log.confined(
    'dump',
    res.stored
      ? [
          [0, headerEnd()],
          [res.slot * rs, (res.slot + 1) * rs],
        ]
      : [],
  )
  step('boot again')
  backend.boot()
  checkRules('read again', backend.readRecords(), erstReadPass(Buffer.from(region.bytes)), backend, config)
}

function erstExecute(seeds: unknown[], runSeed: number, execution: number): Finding | undefined {
  const rng = new Rng(prng((runSeed ^ Math.imul(execution + 1, 0xc2b2ae35)) >>> 0))
  const seed = rng.pick(seeds as ErstSeed[])
  const bytes = Buffer.from(seed.bytes)
  const rs = seed.config.erstRecordSize
  const mutations: string[] = []
  return guardedRun(execution, seed.name, mutations, (step) => {
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) mutations.push(mutateErst(rng, bytes, rs))
    erstSteps(rng, seed.config, bytes, step)
  })
}

/**
 * Every backend's fuzzer but ramoops' (test/helpers/fuzz.ts, run beside these); efi-pstore's is
 * in fuzzEfi.ts (its read rules in readRules/efi.ts).
 */
export const BACKEND_FUZZERS: BackendFuzzer[] = [
  { name: 'blk', seeds: () => [...blkFixtureSeeds(), ...blkSyntheticSeeds()], execute: blkExecute },
  { name: 'erst', seeds: () => [...erstFixtureSeeds(), ...erstSyntheticSeeds()], execute: erstExecute },
  efiFuzzer,
]

/** Replays one execution of one backend (a regression test names it). */
export function executeBackend(name: string, runSeed: number, execution: number): Finding | undefined {
  const fuzzer = BACKEND_FUZZERS.find((f) => f.name === name)
  if (!fuzzer) throw new Error(`no fuzzer for backend ${name}`)
  return fuzzer.execute(fuzzer.seeds(), runSeed, execution)
}

export function fuzzBackend(name: string, options: { runs: number; seed: number; start?: number; onProgress?: (done: number) => void }): BackendFuzzResult {
  const fuzzer = BACKEND_FUZZERS.find((f) => f.name === name)
  if (!fuzzer) throw new Error(`no fuzzer for backend ${name}`)
  const seeds = fuzzer.seeds()
  refusals = {}
  slowest = 0
  const findings: Finding[] = []
  const t0 = performance.now()
  const start = options.start ?? 0
  for (let i = start; i < start + options.runs; i++) {
    const f = fuzzer.execute(seeds, options.seed, i)
    if (f) {
      findings.push(f)
      if (process.env.FUZZ_VERBOSE) process.stderr.write(`finding: ${JSON.stringify(f)}\n`)
    }
    if (options.onProgress && (i + 1 - start) % 10000 === 0) options.onProgress(i + 1 - start)
  }
  return { backend: name, executions: options.runs, ms: performance.now() - t0, findings, refusals: { ...refusals }, slowestMs: slowest }
}
