/**
 * The structure-aware fuzzer of the efi backend (issue 33), plugged into BACKEND_FUZZERS
 * (fuzzBackends.ts). Seeds are the variable stores real kernels wrote through OVMF
 * (test/fixtures/efi-6.1, efi-6.12) and small stores pstore-sim wrote (format, then panics, an
 * oops, a shutdown, multipart dumps, OVMF-like variables between them, deleted and replaced
 * ones). Each execution mutates what OVMF and the kernel read: variable headers (StartId, State,
 * Attributes, NameSize, DataSize, GUID), the UTF-16 names (`dump-type…` fields, garbage, NULs),
 * the data (deflate streams cut, flipped, replaced), the store header, the firmware volume
 * header; plants variables (the crash GUID's, OVMF's own, duplicates), fills the store. Then, as
 * for pstore/blk and ERST:
 *
 * - boot: OVMF's reclaim writes only inside the variable area;
 * - read: the listing is the kernel's read rules' (readRules/efi.ts) on the store the kernel
 *   finds (names, sizes, times, bytes, where the pass stops);
 * - the same view from the file as from memory;
 * - erase (`rm`): one State byte of a pstore variable, cleared to VAR_DELETED, nothing else;
 * - dump: only the free space after the last variable and the State bytes of the variable it
 *   replaces (a part of the same name);
 * - boot again: the rules again;
 * - nothing thrown but PstoreSimError, no execution over 2 s of CPU.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { CRASH_GUID, EfiBackend } from '../../src/backend/efi/efi.js'
import { type EfiSetup, fromEfiParams, hasRecordSizeParam } from '../../src/backend/efi/efiSetup.js'
import { emptyOvmfStore } from '../../src/backend/efi/emptyStore.js'
import { guidBytes, VAR_DELETED } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'
import { inflateLimit } from '../../src/pstore/compression.js'
import type { PstoreRecord } from '../../src/pstore/record.js'
import { prng } from '../../src/util/prng.js'
import { fixturesDir } from './fixtures.js'
import { type Finding, Rng } from './fuzz.js'
import { type BackendFuzzer, fileView, guardedRun, ruleRecord, S64_EDGES, view, WriteLog } from './fuzzBackends.js'
import { type EfiReadPass, efiReadPass, efiVariables, type Header } from './readRules/efi.js'

interface EfiSeed {
  name: string
  kernel: string
  recordSize: number
  compress: boolean
  bytes: Buffer
}

const OVMF_GUIDS = ['8be4df61-93ca-11d2-aa0d-00e098032b8c', 'd9bee56e-75dc-49d9-b4d7-b534210f637a', 'eb704011-1402-11d3-8e77-00a0c969723b'].map(guidBytes)
const STORE_AT = 0x48
const HEADER = 60

function configOf(seed: EfiSeed, kernel = seed.kernel, recordSize = seed.recordSize): EfiSetup {
  const newer = !kernel.startsWith('6.1.')
  return fromEfiParams({ size: seed.bytes.length, ...(newer && recordSize !== 1024 ? { record_size: recordSize } : {}) }, { kernel, compress: seed.compress })
}

function fixtureSeeds(): EfiSeed[] {
  const seeds: EfiSeed[] = []
  for (const kdir of ['efi-6.1', 'efi-6.12']) {
    const root = path.join(fixturesDir, kdir)
    if (!fs.existsSync(root)) continue
    for (const name of fs.readdirSync(root).filter((n) => fs.existsSync(path.join(root, n, 'params.json')))) {
      const params = JSON.parse(fs.readFileSync(path.join(root, name, 'params.json'), 'utf8'))
      const args = JSON.stringify(params.module_args ?? '')
      const recordSize = Number(/record_size=(\d+)/.exec(args)?.[1] ?? 1024)
      for (const file of fs.readdirSync(path.join(root, name)).filter((f) => f.endsWith('.fd.gz'))) {
        seeds.push({
          name: `${kdir}/${name}/${file}`,
          kernel: params.kernel.kernelVersion,
          recordSize,
          compress: !String(params.extra_cmdline ?? '').includes('pstore.compress=none'),
          bytes: zlib.gunzipSync(fs.readFileSync(path.join(root, name, file))),
        })
      }
    }
  }
  return seeds
}

/** Stores pstore-sim wrote: OVMF-like variables, panics and an oops in parts (compressed and not), a shutdown, a replaced and a deleted part. */
function syntheticSeeds(): EfiSeed[] {
  const seeds: EfiSeed[] = []
  for (const [kernel, recordSize] of [
    ['6.1.192', 1024],
    ['6.12.107', 1024],
    ['6.12.107', 4096],
  ] as const) {
    const seed: EfiSeed = { name: `synthetic ${kernel} record_size ${recordSize}`, kernel, recordSize, compress: true, bytes: emptyOvmfStore() }
    const backend = new EfiBackend(configOf(seed), RegionImage.fromBuffer(seed.bytes))
    const store = backend.store
    store.append('MTC', OVMF_GUIDS[1] as Buffer, 7, Buffer.of(1, 0, 0, 0))
    store.append('Attempt 1', OVMF_GUIDS[2] as Buffer, 3, Buffer.alloc(300, 0x41))
    const text = Buffer.from('<6>[    1.000000] a line of the log\n'.repeat(80))
    const write = (part: number, count: number, sec: number, compressed: boolean) => {
      const payload = compressed ? zlib.deflateRawSync(text.subarray(0, 1500 + part * 100), { windowBits: 12 }) : text.subarray(0, recordSize - 100)
      backend.writeDmesg({ part, count, compressed, payload, time: { sec, nsec: 0 } })
    }
    for (let part = 1; part <= 3; part++) write(part, 1, 1700000000, true) // a panic in three parts
    store.append('ConOut', OVMF_GUIDS[0] as Buffer, 7, Buffer.alloc(73, 2))
    write(1, 2, 1700000050, false) // an oops, uncompressed
    write(1, 3, 1700000100, true) // a shutdown
    write(2, 1, 1700000000, true) // part 2 again: the old one in transition, then deleted
    const victim = store.variables().find((v) => v.guid.equals(CRASH_GUID) && v.name.endsWith('-3-1-1700000000-C'))
    if (victim) store.clearState(victim.offset, VAR_DELETED)
    seeds.push(seed)
  }
  return seeds
}

const SECONDS = ['1700000000', '0', '18446744073709551615', '18446744073709551616', '99999999999999999999999', '-1', ' 17', '']
const NAME_FORMS = (rng: Rng): string => {
  const n = () => rng.pick(['1', '0', '2', '99', '4294967295', '4294967296', '-1', ' 3', '', '007'])
  const kind = rng.pick(['C', 'D', 'X', '', 'CC'])
  switch (rng.int(8)) {
    case 0:
      return `dump-type${rng.pick(['0', '1', '2', '4', '7', '8', '9', '4294967295'])}-${n()}-${n()}-${rng.pick(SECONDS)}-${kind}`
    case 1:
      return `dump-type0-${n()}-${n()}-${rng.pick(SECONDS)}` // no C/D
    case 2:
      return `dump-type0-${n()}-${rng.pick(SECONDS)}` // the oldest form
    case 3:
      return `dump-type0-1-1-${'9'.repeat(40 + rng.int(30))}-C` // past 66 bytes
    case 4:
      return rng.pick([
        'dump-type',
        'dump',
        'Dump-type0-1-1-1-C',
        'dump-type0-1-1-1700000000-C\0junk',
        '\0dump-type0-1-1-1-C',
        'dump-type0-1\u00e9-1-1-C',
        'dump-type0-1-1-1700000000-\u4e2d',
      ])
    case 5:
      return `dump-type0-1-1-1700000000-C${'x'.repeat(rng.int(600))}` // long names (the kernel's 512/1024-byte buffer)
    case 6:
      return String.fromCharCode(...Array.from({ length: 1 + rng.int(40) }, () => rng.int(0x10000)))
    default:
      return `dump-type0-${1 + rng.int(14)}-${rng.int(4)}-${1700000000 + rng.int(100)}-${kind}`
  }
}

/** Deflate streams made once (deflating per call cost more than the rest of an execution). */
let deflated: { good: Buffer[]; bomb: Buffer } | undefined
function hostileData(rng: Rng, size: number): Buffer {
  deflated ??= {
    good: [1, 20, 120, 400].map((lines) => zlib.deflateRawSync(Buffer.from('<4>[    2.000000] Oops: a line\n'.repeat(lines)), { windowBits: 12 })),
    bomb: zlib.deflateRawSync(Buffer.alloc(1 << 16), { level: 9 }), // inflates past the kernel's limit
  }
  const good = rng.pick(deflated.good)
  let b: Buffer
  switch (rng.int(5)) {
    case 0:
      b = good
      break
    case 1:
      b = good.subarray(0, rng.int(good.length))
      break
    case 2:
      b = Buffer.from(good)
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) b[rng.int(b.length)] ^= 1 << rng.int(8)
      break
    case 3:
      b = deflated.bomb
      break
    default:
      b = rng.bytes(size)
  }
  const out = Buffer.alloc(size, 0)
  b.copy(out, 0, 0, Math.min(size, b.length))
  return out
}

/** A whole variable's bytes (header, name with its NUL, data). */
function variableBytes(rng: Rng, name: string, guid: Buffer, data: Buffer, state = 0x3f, attributes = 7): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf16le')
  const h = Buffer.alloc(HEADER)
  h.writeUInt16LE(0x55aa, 0)
  h[2] = state
  h.writeUInt32LE(attributes >>> 0, 4)
  h.writeUInt32LE(rng.chance(0.9) ? nameBytes.length : rng.pick([0, 1, nameBytes.length - 2, nameBytes.length + 1]), 36)
  h.writeUInt32LE(data.length, 40)
  guid.copy(h, 44)
  return Buffer.concat([h, nameBytes, data])
}

/** The offset after the last valid variable (where firmware appends). */
function freeOffset(bytes: Buffer): number {
  const vars = efiVariables(bytes)
  return vars.length ? (vars[vars.length - 1]?.next ?? 0x64) : 0x64
}

function plant(rng: Rng, bytes: Buffer, recordSize: number): string {
  const at = freeOffset(bytes)
  const end = Math.min(0x40000, STORE_AT + bytes.readUInt32LE(STORE_AT + 16))
  const vars = efiVariables(bytes)
  let v: Buffer
  let what: string
  const kind = rng.int(4)
  if (kind === 0 && vars.length) {
    const src = rng.pick(vars)
    v = Buffer.from(bytes.subarray(src.at, src.next))
    if (rng.chance(0.5)) v[2] = rng.pick([0x3f, 0x3e])
    what = `a copy of the variable at 0x${src.at.toString(16)}`
  } else if (kind === 1) {
    v = variableBytes(
      rng,
      rng.pick(['MTC', 'ConIn', 'Boot0001', 'Lang']),
      rng.pick(OVMF_GUIDS),
      rng.bytes(rng.int(200)),
      rng.pick([0x3f, 0x3d, 0x3c]),
      rng.pick([7, 3, 0x27]),
    )
    what = 'an OVMF variable'
  } else if (kind === 2) {
    // a full store: crash variables up to the end
    let n = 0
    for (let off = at; off + 1200 < end - rng.int(3000); n++) {
      const x = variableBytes(rng, `dump-type0-${n + 1}-9-1700009999-C`, CRASH_GUID, hostileData(rng, 700 + rng.int(300)))
      x.copy(bytes, off)
      off = (off + x.length + 3) & ~3
    }
    return `the store filled with ${n} crash variables`
  } else {
    const data = hostileData(rng, rng.pick([0, 1, 500, recordSize - 1, recordSize, recordSize + 1, 1024, 1025]))
    v = variableBytes(rng, NAME_FORMS(rng), CRASH_GUID, data, rng.pick([0x3f, 0x3f, 0x3e, 0x3d]), rng.pick([7, 7, 3, 0x27]))
    what = `a crash variable (${v.readUInt32LE(36)}-byte name, ${data.length} bytes)`
  }
  if (at + v.length > bytes.length) return 'no room to plant'
  v.copy(bytes, at)
  return `planted at 0x${at.toString(16)}: ${what}`
}

function mutateVariable(rng: Rng, bytes: Buffer, recordSize: number): string {
  const vars = efiVariables(bytes)
  const crash = vars.filter((v) => v.guid.equals(CRASH_GUID))
  const v: Pick<Header, 'at' | 'nameSize' | 'dataSize'> = rng.pick<Pick<Header, 'at' | 'nameSize' | 'dataSize'>>(
    crash.length && rng.chance(0.8) ? crash : vars.length ? vars : [{ at: 0x64, nameSize: 0, dataSize: 0 }],
  )
  const at = v.at
  const label = `var 0x${at.toString(16)}`
  switch (rng.int(9)) {
    case 0: {
      const s = rng.pick([0x3f, 0x3e, 0x3d, 0x3c, 0xff, 0x00, 0x7f, rng.int(256)])
      bytes[at + 2] = s
      return `${label} State = 0x${s.toString(16)}`
    }
    case 1: {
      const a = rng.pick([7, 3, 5, 0x27, 0x0f, 0, 0xffffffff])
      bytes.writeUInt32LE(a >>> 0, at + 4)
      return `${label} Attributes = 0x${a.toString(16)}`
    }
    case 2: {
      const n = rng.pick([0, 1, 2, v.nameSize - 2, v.nameSize + 2, v.nameSize - 1, 511, 512, 513, 1024, 1025, 0xffffffff, rng.int(4000)])
      bytes.writeUInt32LE(n >>> 0, at + 36)
      return `${label} NameSize = ${n >>> 0}`
    }
    case 3: {
      const n = rng.pick([0, 1, v.dataSize - 1, v.dataSize + 1, 1024, 1025, recordSize, recordSize + 1, 0xffffffff, 0x40000])
      bytes.writeUInt32LE(n >>> 0, at + 40)
      return `${label} DataSize = ${n >>> 0}`
    }
    case 4: {
      const g = rng.pick([CRASH_GUID, ...OVMF_GUIDS, rng.bytes(16)])
      g.copy(bytes, at + 44)
      return `${label} GUID = ${g.toString('hex')}`
    }
    case 5: {
      const id = rng.pick([0, 0xffff, 0x55ab, 0xaa55])
      bytes.writeUInt16LE(id, at)
      return `${label} StartId = 0x${id.toString(16)}`
    }
    case 6: {
      // a new name over the old one, the same NameSize (cut or NUL-padded)
      const room = Math.min(v.nameSize, 2048)
      const name = Buffer.alloc(room, 0)
      Buffer.from(NAME_FORMS(rng) + (rng.chance(0.7) ? '\0' : ''), 'utf16le').copy(name)
      name.copy(bytes, at + HEADER)
      return `${label} name = ${JSON.stringify(name.toString('utf16le').replace(/\0+$/, ''))}`
    }
    case 7: {
      const size = Math.min(v.dataSize, 8192)
      hostileData(rng, size).copy(bytes, at + HEADER + v.nameSize)
      return `${label} data replaced (${size} bytes)`
    }
    default: {
      const n = 1 + rng.int(6)
      for (let i = 0; i < n; i++) bytes[at + rng.int(HEADER)] ^= 1 << rng.int(8)
      return `${n} flips in ${label}'s header`
    }
  }
}

function fixChecksum(bytes: Buffer): void {
  const hl = Math.min(bytes.readUInt16LE(48) & ~1, 0x1000)
  bytes.writeUInt16LE(0, 50)
  let sum = 0
  for (let i = 0; i < hl; i += 2) sum = (sum + bytes.readUInt16LE(i)) & 0xffff
  bytes.writeUInt16LE((0x10000 - sum) & 0xffff, 50)
}

function mutateHeaders(rng: Rng, bytes: Buffer): string {
  const fix = rng.chance(0.6)
  let what: string
  switch (rng.int(7)) {
    case 0:
      bytes[STORE_AT + 20] = rng.pick([0x5a, 0xff, 0x00, 0x5b])
      what = `store Format = 0x${(bytes[STORE_AT + 20] as number).toString(16)}`
      break
    case 1:
      bytes[STORE_AT + 21] = rng.pick([0xfe, 0xff, 0xfc, 0x00])
      what = `store State = 0x${(bytes[STORE_AT + 21] as number).toString(16)}`
      break
    case 2: {
      const s = rng.pick([
        0x3ffb8,
        0x3ffb8 - 4,
        0x3ffb8 - 0x1000,
        0x3ffb8 + 4,
        0x40000,
        0x84000,
        0x1c,
        0,
        0xffffffff,
        freeOffset(bytes) - STORE_AT + rng.int(64) - 32,
      ])
      bytes.writeUInt32LE(s >>> 0, STORE_AT + 16)
      what = `store Size = 0x${(s >>> 0).toString(16)}`
      break
    }
    case 3:
      guidBytes(rng.pick(['ddcf3616-3275-4164-98b6-fe85707ffe7d', 'aaf32c78-947b-439a-a180-2e144ec37792', '00000000-0000-0000-0000-000000000000'])).copy(
        bytes,
        STORE_AT,
      )
      what = 'store signature'
      break
    case 4: {
      const field = rng.pick([
        [32, 'FvLength'],
        [55, 'Revision'],
        [60, 'block size'],
        [16, 'FileSystemGuid'],
        [40, 'Signature'],
      ] as const)
      bytes[field[0] + rng.int(2)] ^= 1 << rng.int(8)
      what = `FV ${field[1]} flipped`
      break
    }
    case 5: {
      const hl = rng.pick([0x48, 0x49, 0x4a, 0x40, 0x100])
      bytes.writeUInt16LE(hl, 48)
      what = `FV HeaderLength = 0x${hl.toString(16)}`
      break
    }
    default:
      bytes[rng.int(STORE_AT + 28)] ^= 1 << rng.int(8)
      what = 'a flip in the FV or store header'
  }
  if (fix) fixChecksum(bytes)
  return `${what}${fix ? ' (checksum fixed)' : ''}`
}

function mutate(rng: Rng, bytes: Buffer, recordSize: number): string {
  const r = rng.next()
  if (r < 0.55) return mutateVariable(rng, bytes, recordSize)
  if (r < 0.85) return plant(rng, bytes, recordSize)
  return mutateHeaders(rng, bytes)
}

// ─── the checks ──────────────────────────────────────────────────────────────

function expected(pass: Extract<EfiReadPass, { records: unknown }>, backend: EfiBackend): PstoreRecord[] {
  const flavour = backend.setup.quirks.compression
  return pass.records.map((r) => ruleRecord(r, flavour, inflateLimit(flavour, backend.bufsize), backend.setup.compress))
}

let undefinedPasses = 0
/** How many read passes the rules could not decide (bytes past the firmware's copy, a non-authenticated store): compared with nothing. */
export function efiUndecided(reset = false): number {
  const n = undefinedPasses
  if (reset) undefinedPasses = 0
  return n
}

function checkRead(what: string, records: PstoreRecord[], pass: EfiReadPass, backend: EfiBackend): void {
  if ('unsupported' in pass || 'undefined' in pass) {
    undefinedPasses++
    return
  }
  const ours = view(records, backend.name)
  const theirs = view(expected(pass, backend), backend.name)
  const short = (l: string[]) => l.map((x) => x.slice(0, 70)).join(' | ')
  if (ours.length !== theirs.length || ours.some((x, i) => x !== theirs[i]))
    throw new Error(`${what}: the listing differs from the kernel's read rules (stop: ${pass.stop}):\n  ours:   ${short(ours)}\n  kernel: ${short(theirs)}`)
}

function rulesKernel(config: EfiSetup): '6.1' | '6.12' {
  return hasRecordSizeParam(config.kernel) ? '6.12' : '6.1'
}

/** The variable area's bounds as the firmware sees them: where variables start and the store ends. */
function variableArea(bytes: Buffer): [number, number] {
  const hl = bytes.readUInt16LE(48)
  return [Math.ceil((hl + 28) / 4) * 4, Math.min(bytes.length, Math.ceil((hl + bytes.readUInt32LE(hl + 16)) / 4) * 4)]
}

/** Writes of an erase: State bytes of pstore's variables, each cleared to VAR_DELETED. */
function checkErase(log: WriteLog, before: Buffer, after: Buffer): void {
  const crashStates = new Set(
    efiVariables(before)
      .filter((v) => v.guid.equals(CRASH_GUID))
      .map((v) => v.at + 2),
  )
  const writes = log.writes
  log.writes = []
  if (writes.length > 2) throw new Error(`erase wrote ${writes.length} times`)
  for (const [offset, length] of writes) {
    if (length !== 1 || !crashStates.has(offset)) throw new Error(`erase wrote ${length} bytes at 0x${offset.toString(16)}, not a pstore variable's State`)
    if (after[offset] !== ((before[offset] as number) & VAR_DELETED))
      throw new Error(`erase set State 0x${after[offset]?.toString(16)} at 0x${offset.toString(16)}`)
  }
  const undone = Buffer.from(after)
  for (const [offset] of writes) undone[offset] = before[offset] as number
  if (!undone.equals(before)) throw new Error('erase changed bytes it did not write')
}

function efiSteps(rng: Rng, config: EfiSetup, bytes: Buffer, step: (s: string) => void): void {
  const kernel = rulesKernel(config)
  step('open')
  const region = RegionImage.fromBuffer(bytes, rng.chance(0.2))
  const log = new WriteLog(region)
  const backend = new EfiBackend(config, region)
  step('boot')
  const [start, end] = variableArea(bytes)
  backend.boot()
  log.confined('boot', [[start, end]])
  step('read')
  const records = backend.readRecords()
  checkRead('read', records, efiReadPass(region.bytes, kernel, config.efiRecordSize), backend)
  step('file view')
  const fromFile = fileView(region.bytes, (r) => new EfiBackend(config, r))
  if (fromFile.join('\n') !== view(records, backend.name).join('\n')) throw new Error('the store read from a file lists another view than read from memory')
  if (records.length && rng.chance(0.6)) {
    const r = rng.pick(records)
    step(`erase ${r.type} ${r.id}`)
    const before = Buffer.from(region.bytes)
    backend.erase(r.type, r.id)
    checkErase(log, before, region.bytes)
  }
  step('dump')
  const free = freeOffset(region.bytes)
  const sameName = efiVariables(region.bytes)
    .filter((v) => v.guid.equals(CRASH_GUID))
    .map((v): [number, number] => [v.at + 2, v.at + 3])
  const compressed = rng.chance(0.5)
  const payload = compressed ? hostileData(rng, 200 + rng.int(config.efiRecordSize - 200)) : rng.bytes(rng.int(config.efiRecordSize + 1))
  const time = { sec: Number(rng.pick(S64_EDGES.filter((s) => s >= 0n && s < 1n << 40n))), nsec: 0 }
  backend.writeDmesg({ part: 1 + rng.int(3), count: rng.pick([1, 2, 0, -1]), compressed, payload, time })
  log.confined('dump', [[free, Math.max(free, end)], ...sameName])
  step('boot again')
  backend.boot()
  checkRead('read again', backend.readRecords(), efiReadPass(region.bytes, kernel, config.efiRecordSize), backend)
}

function efiExecute(seeds: unknown[], runSeed: number, execution: number): Finding | undefined {
  const rng = new Rng(prng((runSeed ^ Math.imul(execution + 1, 0x27d4eb2f)) >>> 0))
  const seed = rng.pick(seeds as EfiSeed[])
  const other = rng.chance(0.2)
  const kernel = other ? rng.pick(['6.1.192', '6.12.107']) : seed.kernel
  const recordSize = other && !kernel.startsWith('6.1.') ? rng.pick([1024, 2048, 4096]) : seed.recordSize
  const config = configOf(seed, kernel, kernel.startsWith('6.1.') ? 1024 : recordSize)
  const bytes = Buffer.from(seed.bytes)
  const mutations: string[] = [`kernel ${kernel}, record_size ${config.efiRecordSize}`]
  return guardedRun(execution, seed.name, mutations, (step) => {
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) mutations.push(mutate(rng, bytes, config.efiRecordSize))
    efiSteps(rng, config, bytes, step)
  })
}

export const efiFuzzer: BackendFuzzer = { name: 'efi', seeds: () => [...fixtureSeeds(), ...syntheticSeeds()], execute: efiExecute }
