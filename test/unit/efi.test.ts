/**
 * The efi backend without a kernel, on real store bytes: OVMF's empty 4 MiB variable store
 * (written by pstore-sim, compared with Debian's OVMF_VARS_4M.fd), efi-pstore's names, ids and
 * read-pass stop rules (drivers/firmware/efi/efi-pstore.c), pstore_dump()'s parts as variables,
 * the one-byte erase, the crash-time reserve (EFI_MIN_RESERVE), OVMF's reclaim at boot, and the
 * frontends efi-pstore refuses.
 *
 * Then what the efi fuzzer (test/helpers/fuzzEfi.ts, issue 33) found, each on a store built here
 * from OVMF's empty 4 MiB store: the listing pstore-sim gives is the one OVMF's variable services
 * (edk2 2022.11: the variable walk, FindVariableEx, the stateless GetNextVariableName) and the
 * kernel's efi_pstore_read() give, and inspect says why a pass ends.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { dumpVariableName, genericId, parseDumpName } from '../../src/backend/efi/dumpName.js'
import { CRASH_GUID, EfiBackend } from '../../src/backend/efi/efi.js'
import { EfiSetupError, fromEfiParams } from '../../src/backend/efi/efiSetup.js'
import { emptyOvmfStore } from '../../src/backend/efi/emptyStore.js'
import { guidBytes, OVMF_4M_SIZE, VariableStore } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'
import { formatImage } from '../../src/machine/imageSession.js'
import { SimulatedMachine } from '../../src/machine/machine.js'
import { decompress } from '../../src/pstore/compression.js'
import { recordBytes, recordName } from '../../src/pstore/record.js'

/** sha256 of Debian's ovmf 2022.11-6+deb12u2 /usr/share/OVMF/OVMF_VARS_4M.fd (the package itself is compared when installed). */
const OVMF_VARS_4M_SHA256 = '5d2ac383371b408398accee7ec27c8c09ea5b74a0de0ceea6513388b15be5d1e'
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'
const TIME = 1796000000
const NOW = TIME * 1000
/** 400 lines that deflate about 2:1 (a hash each): ~40 KB of log, more than kmsg_bytes of parts. */
const LOG = Array.from({ length: 400 }, (_, i) => `line ${String(i).padStart(3, '0')} ${createHash('sha256').update(String(i)).digest('hex')}`).join('\n')

function setup(kernel = '6.12.107', params: { record_size?: number } = {}, store = emptyOvmfStore()) {
  const config = fromEfiParams({ ...params, size: store.length }, { kernel })
  const region = RegionImage.fromBuffer(Buffer.from(store))
  const machine = new SimulatedMachine(config, region, undefined, () => NOW)
  return { config, region, machine, efi: machine.backend as EfiBackend }
}

const pstoreVars = (region: RegionImage) => new VariableStore(region).variables().filter((v) => v.guid.equals(CRASH_GUID))

t.test("the empty store is OVMF's OVMF_VARS_4M.fd, byte for byte", async (t) => {
  const b = emptyOvmfStore()
  t.equal(b.length, OVMF_4M_SIZE)
  t.equal(createHash('sha256').update(b).digest('hex'), OVMF_VARS_4M_SHA256, 'sha256 of the Debian package file')
  if (fs.existsSync(OVMF_VARS)) t.ok(b.equals(fs.readFileSync(OVMF_VARS)), `= ${OVMF_VARS}`)
  const store = new VariableStore(RegionImage.fromBuffer(b, true))
  t.equal(store.invalid(), undefined)
  t.same(store.geometry(), { headerAt: 0x48, start: 0x64, end: 0x40000 })
  t.same(store.variables(), [], 'no variable')
})

t.test("format --backend efi writes the empty store; --efi-vars-template another firmware's", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'efi test '))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const image = path.join(dir, 'vars.fd')
  const { setup } = formatImage(image, { backend: 'efi', target: { kernel: '6.1.192' } })
  t.equal(setup.backend, 'efi')
  t.ok(fs.readFileSync(image).equals(emptyOvmfStore()), 'the store')
  // a template with variables of its own (OVMF's own store after a boot, here: one variable added)
  const tpl = emptyOvmfStore()
  const r = RegionImage.fromBuffer(tpl)
  new VariableStore(r).append('PlatformLang', guidBytes('8be4df61-93ca-11d2-aa0d-00e098032b8c'), 7, Buffer.from('en\0'))
  const tplFile = path.join(dir, 'template.fd')
  fs.writeFileSync(tplFile, r.bytes)
  const image2 = path.join(dir, 'vars2.fd')
  formatImage(image2, { backend: 'efi', efi: { varsTemplate: tplFile }, target: { kernel: '6.12.107' } })
  t.ok(fs.readFileSync(image2).equals(r.bytes), 'the template, as it is')
  const bad = path.join(dir, 'bad.fd')
  fs.writeFileSync(bad, Buffer.alloc(4096))
  t.throws(
    () => formatImage(path.join(dir, 'vars3.fd'), { backend: 'efi', efi: { varsTemplate: bad } }),
    /bad\.fd is not a firmware variable store: no firmware volume header/,
  )
  t.notOk(fs.existsSync(path.join(dir, 'vars3.fd')), 'nothing written')
})

t.test("names and ids as efi-pstore writes and reads them (the kernel's sscanf)", async (t) => {
  t.equal(dumpVariableName(3, 2, 1704067269, true), 'dump-type0-3-2-1704067269-C')
  t.equal(genericId(1704067269n, 3, 2), 170406726903002n, '(seconds·100 + part)·1000 + count')
  t.same(parseDumpName('dump-type0-3-2-1704067269-C'), { type: 0, part: 3, count: 2, seconds: 1704067269n, compressed: true })
  t.same(parseDumpName('dump-type0-3-2-1704067269-D'), { type: 0, part: 3, count: 2, seconds: 1704067269n, compressed: false })
  t.same(parseDumpName('dump-type0-3-2-1704067269'), { type: 0, part: 3, count: 2, seconds: 1704067269n, compressed: false }, 'no C|D')
  t.same(parseDumpName('dump-type0-3-1704067269'), { type: 0, part: 3, count: 0, seconds: 1704067269n, compressed: false }, 'the oldest format')
  t.same(parseDumpName('dump-type0-1--5-100-C')?.count, -5, '%d takes a sign')
  t.equal(parseDumpName('dump-type0'), undefined)
  t.equal(parseDumpName('dump-typeX-1-1-1-C'), undefined)
  t.equal(parseDumpName('Boot0000'), undefined)
})

t.test('a panic: one variable a part, raw deflate, until kmsg_bytes; files dmesg-efi_pstore-<id> on 6.12, dmesg-efi-<id> on 6.1', async (t) => {
  for (const [kernel, name, limit] of [
    ['6.12.107', 'efi_pstore', 1706],
    ['6.1.192', 'efi', 1828],
  ] as const) {
    const { region, machine, efi } = setup(kernel)
    machine.boot()
    t.equal(efi.name, name)
    t.equal(efi.bufsize, 1024)
    const result = machine.crash({ reason: 'panic', logText: LOG, time: TIME, kmsgBytes: 10240 })
    t.ok(result.stored, `${kernel}: stored`)
    const vars = pstoreVars(region)
    t.equal(vars.length, result.parts?.length, 'one variable a part')
    const sizes = vars.map((v) => v.dataSize)
    t.ok(sizes.slice(0, -1).reduce((a, b) => a + b, 0) < 10240 && sizes.reduce((a, b) => a + b, 0) >= 10240, `kmsg_bytes: ${sizes.join('+')}`)
    vars.forEach((v, i) => {
      t.equal(v.name, `dump-type0-${i + 1}-1-${TIME}-C`, `${v.name}`)
      t.equal(v.state, 0x3f)
      t.equal(v.attributes, 7)
      const text = decompress(efi.setup.quirks.compression, region.bytes.subarray(v.dataOffset, v.dataOffset + v.dataSize), 1 << 20)
      t.ok(text.ok && text.data.toString('latin1').startsWith(`Panic#1 Part${i + 1}\n`), 'a raw deflate stream of the part')
      t.ok(text.ok && text.data.length <= limit, `at most ${limit} text bytes a part (${text.ok ? text.data.length : '?'})`)
      t.ok(v.offset % 4 === 0 && v.end % 4 === 0, '4-byte aligned')
    })
    const records = machine.boot().records
    t.same(
      records.map((r) => recordName(r, efi.name)),
      vars.map((_, i) => `dmesg-${name}-${(BigInt(TIME) * 100n + BigInt(i + 1)) * 1000n + 1n}`),
      'file names',
    )
    t.ok(recordBytes(records[0]!).toString('latin1').startsWith('Panic#1 Part1\n'), 'inflated at read')
    t.same([records[0]!.time.sec, records[0]!.time.nsec], [BigInt(TIME), 0n], 'mtime: the seconds, 0 ns')
  }
})

t.test('the read pass: deleted and foreign variables skipped; it stops at an unparsable crash name or a record larger than the record size', async (t) => {
  const store = emptyOvmfStore()
  const region = RegionImage.fromBuffer(store)
  const vs = new VariableStore(region)
  const other = guidBytes('8be4df61-93ca-11d2-aa0d-00e098032b8c')
  const text = (s: string) => Buffer.from(s, 'latin1')
  vs.append('Boot0000', other, 7, text('a firmware variable'))
  vs.append('dump-type0-1-1-100-D', CRASH_GUID, 7, text('Oops#1 Part1\nfirst\n'))
  const deleted = vs.append('dump-type0-2-1-100-D', CRASH_GUID, 7, text('Oops#1 Part2\ndeleted\n')) as number
  vs.clearState(deleted, 0xfd)
  vs.append('dump-type0-3-1-100-D', CRASH_GUID, 7, text('Oops#1 Part3\nthird\n'))
  vs.append('dump-type0-4-1-100-C', CRASH_GUID, 7, text('not a deflate stream'))
  vs.append('not-a-dump', CRASH_GUID, 7, text('ends the pass'))
  vs.append('dump-type0-5-1-100-D', CRASH_GUID, 7, text('Oops#1 Part5\nnever read\n'))
  const { efi } = setup('6.1.192', {}, region.bytes)
  efi.boot()
  t.same(
    efi.readRecords().map((r) => recordName(r, efi.name)),
    ['dmesg-efi-10001001', 'dmesg-efi-10003001', 'dmesg-efi-10004001.enc.z'],
    'Boot0000 and the deleted part skipped, a stream that does not inflate is .enc.z, the pass ends at not-a-dump',
  )
  // a variable larger than the record size ends the pass too (GetVariable: buffer too small)
  const big = RegionImage.fromBuffer(emptyOvmfStore())
  const bvs = new VariableStore(big)
  bvs.append('dump-type0-1-1-100-D', CRASH_GUID, 7, Buffer.alloc(1025, 0x41))
  bvs.append('dump-type0-2-1-100-D', CRASH_GUID, 7, text('Oops#1 Part2\n'))
  const b61 = setup('6.1.192', {}, big.bytes).efi
  t.same(b61.readRecords(), [], '6.1: 1025 bytes > 1024')
  const b612 = setup('6.12.107', { record_size: 2048 }, big.bytes).efi
  t.equal(b612.readRecords().length, 2, '6.12 with record_size=2048 reads both')
})

t.test('a part that does not inflate within the kernel limit is .enc.z (6.1: 1828 bytes, 6.12: 3 × 1024)', async (t) => {
  const { compress } = await import('../../src/pstore/compression.js')
  const text = Buffer.from(`Oops#1 Part1\n${'a'.repeat(2500)}\n`, 'latin1')
  for (const [kernel, compressed] of [
    ['6.1.192', true],
    ['6.12.107', false],
  ] as const) {
    const region = RegionImage.fromBuffer(emptyOvmfStore())
    new VariableStore(region).append('dump-type0-1-1-100-C', CRASH_GUID, 7, compress('zlib-raw-15', text, 1024, 'deflate', true) as Buffer)
    const r = setup(kernel, {}, region.bytes).efi.readRecords()
    t.equal(r[0]?.compressed, compressed, `${kernel}: ${compressed ? '.enc.z' : 'inflated'}`)
  }
})

t.test('rm: exactly one byte, State 0x3f → 0x3d; name and data stay', async (t) => {
  const { region, machine, efi } = setup('6.12.107')
  machine.boot()
  machine.crash({ reason: 'oops', logText: LOG, time: TIME, kmsgBytes: 10240 })
  const before = Buffer.from(region.bytes)
  const [first] = efi.readRecords()
  efi.erase(first!.type, first!.id)
  const changed = [...region.bytes].flatMap((b, i) => (b !== before[i] ? [i] : []))
  t.equal(changed.length, 1)
  t.same([before[changed[0]!], region.bytes[changed[0]!]], [0x3f, 0x3d])
  t.equal(changed[0], pstoreVars(region)[0]!.offset + 2, "the first variable's State")
  t.notOk(
    efi.readRecords().some((r) => r.id === first!.id),
    'gone from the next read pass',
  )
})

t.test(
  'a nearly full store: the kernel stops writing when less than 5120 bytes would remain (6.1 -EIO, 6.12 -ENOSPC); OVMF reclaims at the next boot',
  async (t) => {
    for (const [kernel, errno] of [
      ['6.1.192', 'EIO'],
      ['6.12.107', 'ENOSPC'],
    ] as const) {
      const { region, machine, efi } = setup(kernel)
      machine.boot()
      let refused: { errno: string } | undefined
      for (let n = 0; n < 40 && !refused; n++) {
        const r = machine.crash({ reason: 'oops', logText: LOG, time: TIME + n, kmsgBytes: 10240 })
        refused = r.parts?.find((p) => !p.stored) as { errno: string } | undefined
      }
      t.ok(refused, `${kernel}: a part was refused`)
      t.equal(refused?.errno, errno)
      const remaining = efi.remainingSpace()
      t.ok(remaining >= 5120, `${remaining} bytes remain, at least EFI_MIN_RESERVE`)
      // erase every record but the last dump's, then boot: OVMF compacts
      const records = efi.readRecords()
      for (const r of records.slice(0, -10)) efi.erase(r.type, r.id)
      const kept = pstoreVars(region).filter((v) => v.state === 0x3f)
      const keptBytes = kept.map((v) => region.bytes.subarray(v.offset, v.end).toString('hex'))
      const report = efi.boot()
      t.equal(report[0]?.outcome, 'reclaimed', 'reclaimed at boot')
      const after = pstoreVars(region)
      t.ok(
        after.every((v) => v.state === 0x3f),
        'no deleted variable left',
      )
      t.same(
        after.map((v) => region.bytes.subarray(v.offset, v.end).toString('hex')),
        keptBytes,
        'the live variables, moved',
      )
      t.ok(after[0]!.offset < kept[0]!.offset, 'offsets changed')
      t.ok(efi.remainingSpace() > remaining, 'room again')
    }
  },
)

t.test('console, pmsg and ftrace are refused with why; record_size is 6.2+', async (t) => {
  const { efi } = setup('6.12.107')
  for (const type of ['console', 'pmsg', 'ftrace'] as const) t.match(efi.whyNot(type), /efi-pstore stores dmesg records only \(PSTORE_FLAGS_DMESG\)/)
  t.equal(efi.whyNot('dmesg'), undefined)
  t.throws(() => fromEfiParams({ record_size: 4096 }, { kernel: '6.1.192' }), EfiSetupError)
  t.equal(fromEfiParams({ record_size: 4096 }, { kernel: '6.12.107' }).efiRecordSize, 4096)
  t.equal(fromEfiParams({ record_size: 100 }, { kernel: '6.12.107' }).efiRecordSize, 1024, 'raised to the minimum, as the module does')
})

t.test('corrupt: a flipped data byte makes the part .enc.z at the next read pass; a flipped StartId ends the list there', async (t) => {
  const { region, machine, efi } = setup('6.12.107')
  machine.boot()
  machine.crash({ reason: 'oops', logText: LOG, time: TIME, kmsgBytes: 10240 })
  const v = pstoreVars(region)[0]!
  const flips = efi.corrupt({ flips: [{ offset: v.dataOffset + 5, bit: 3 }] })
  t.match(flips[0]?.where, /dump-type0-1-1-.*data\+5/)
  const records = efi.readRecords()
  t.ok(records[0]!.compressed || !records[0]!.payload.toString('latin1').startsWith('Oops#1 Part1'), 'the part no longer reads as it was')
  efi.corrupt({ flips: [{ offset: v.offset, bit: 0 }] })
  t.same(efi.readRecords(), [], 'no StartId: no variable from there on')
})

t.test('a shutdown is dumped only with printk.always_kmsg_dump (efi-pstore sets no max_reason)', async (t) => {
  const plain = setup('6.1.192')
  plain.machine.boot()
  const r = plain.machine.crash({ reason: 'shutdown', logText: LOG, time: TIME, kmsgBytes: 10240 })
  t.notOk(r.stored)
  t.match(r.why, /does not dump shutdown/)
  const config = fromEfiParams({ always_kmsg_dump: true }, { kernel: '6.1.192' })
  const region = RegionImage.fromBuffer(emptyOvmfStore())
  const machine = new SimulatedMachine(config, region, undefined, () => NOW)
  machine.boot()
  t.ok(machine.crash({ reason: 'shutdown', logText: LOG, time: TIME, kmsgBytes: 10240 }).stored)
  t.ok(machine.boot().records[0]!.payload.toString('latin1').startsWith('Shutdown#1 Part1\n'))
})

// What the efi fuzzer found (test/kernel/compat-efi-fuzz.test.ts boots the same stores through
// Debian's kernels)

const OTHER = guidBytes('8be4df61-93ca-11d2-aa0d-00e098032b8c')
const DATA = Buffer.from('Panic#1 Part1\n<0>[    9.000000] Kernel panic - not syncing: test\n')

/** A variable's bytes as the firmware writes them, with any field set as given. */
function variable(o: {
  name: string | Buffer
  guid?: Buffer
  data?: Buffer
  state?: number
  attributes?: number
  nameSize?: number
  dataSize?: number
}): Buffer {
  const name = typeof o.name === 'string' ? Buffer.from(`${o.name}\0`, 'utf16le') : o.name
  const data = o.data ?? DATA
  const h = Buffer.alloc(60)
  h.writeUInt16LE(0x55aa, 0)
  h[2] = o.state ?? 0x3f
  h.writeUInt32LE(o.attributes ?? 7, 4)
  h.writeUInt32LE(o.nameSize ?? name.length, 36)
  h.writeUInt32LE(o.dataSize ?? data.length, 40)
  ;(o.guid ?? CRASH_GUID).copy(h, 44)
  const v = Buffer.concat([h, name, data])
  return Buffer.concat([v, Buffer.alloc((4 - (v.length % 4)) % 4, 0xff)])
}

/** OVMF's empty store with these variables from the first variable's offset on. */
function store(...vars: Buffer[]): Buffer {
  const b = emptyOvmfStore()
  Buffer.concat(vars).copy(b, 0x64)
  return b
}

function backend(bytes: Buffer, kernel = '6.12.107'): EfiBackend {
  return new EfiBackend(fromEfiParams({ size: bytes.length }, { kernel }), RegionImage.fromBuffer(Buffer.from(bytes)))
}

function listing(b: EfiBackend): string[] {
  b.boot()
  return b.readRecords().map((r) => recordName(r, b.name))
}

const name = (part: number, count = 1, sec = 1700000000) => `dump-type0-${part}-${count}-${sec}-D`
const file = (part: number, count = 1, sec = 1700000000) => `dmesg-efi_pstore-${(BigInt(sec) * 100n + BigInt(part)) * 1000n + BigInt(count)}`

t.test(
  'efi-allones-size-counts-zero: a (deleted) header with an all-ones DataSize has sizes 0 for the firmware; the walk goes on 60 bytes later',
  async (t) => {
    // before: pstore-sim ended the walk at such a header, listed nothing after it and appended its
    // next dump over it; edk2's DataSizeOfVariable()/NameSizeOfVariable() answer 0 for it
    const odd = variable({ name: Buffer.alloc(0), guid: OTHER, data: Buffer.alloc(0), state: 0x3d, dataSize: 0xffffffff, nameSize: 0 })
    const bytes = store(variable({ name: 'MTC', guid: OTHER, data: Buffer.alloc(4) }), odd, variable({ name: name(1) }))
    const b = backend(bytes)
    t.same(listing(b), [file(1)], 'the crash variable after it is listed')
    const walked = b.store.variables()
    t.equal(walked.length, 3, 'three variables walked')
    const end = walked[2]?.end ?? 0
    const res = b.writeDmesg({ part: 2, count: 1, compressed: false, payload: DATA, time: { sec: 1700000001, nsec: 0 } })
    t.ok(res.stored && res.slot === end, `the next dump is appended after the last variable (0x${end.toString(16)}), nothing overwritten`)
  },
)

t.test('efi-size-past-2g: NameSize + DataSize past 2^31 is no RangeError; the walk ends after that variable', async (t) => {
  const huge = variable({ name: 'Big', guid: OTHER, data: Buffer.alloc(4), nameSize: 0x7ffffff0, dataSize: 0x7ffffff0 })
  const b = backend(store(variable({ name: name(1) }), huge, variable({ name: name(2) })))
  t.same(listing(b), [file(1)], 'the record before it; the one after is past the walk')
  t.doesNotThrow(() => b.describe())
})

t.test('efi-ovmf-reformats: a volume header OVMF rejects (FvLength, Revision, block size, FileSystemGuid) lists nothing, inspect says why', async (t) => {
  for (const [what, edit] of [
    ['FvLength', (b: Buffer) => b.writeBigUInt64LE(0x80000n, 32)],
    ['Revision', (b: Buffer) => (b[55] = 1)],
    ['block size', (b: Buffer) => b.writeUInt32LE(0x200, 60)],
    ['FileSystemGuid', (b: Buffer) => (b[16] ^= 1)],
  ] as const) {
    const bytes = store(variable({ name: name(1) }))
    edit(bytes)
    // the header's word sum kept at 0, so only the field itself is wrong
    bytes.writeUInt16LE(0, 50)
    let sum = 0
    for (let i = 0; i < 0x48; i += 2) sum = (sum + bytes.readUInt16LE(i)) & 0xffff
    bytes.writeUInt16LE((0x10000 - sum) & 0xffff, 50)
    const b = backend(bytes)
    t.same(listing(b), [], `${what}: no record`)
    t.match(String(b.describe().invalid), what === 'FileSystemGuid' ? /FileSystemGuid/ : /OVMF would erase and reformat/, `${what}: inspect says why`)
  }
})

t.test('efi-duplicate-cycles: two live copies of one name make the enumeration cycle; what follows the copy is never read', async (t) => {
  // GetNextVariableName() finds its caller's name again each call: after the second copy it finds
  // the first and goes on from there. Before: pstore-sim walked on and listed part 3.
  const a = variable({ name: name(1) })
  const b = backend(store(a, variable({ name: name(2) }), a, variable({ name: name(3) })))
  t.same(listing(b), [file(1), file(2)], 'parts 1 and 2, once each')
  t.match((b.describe().readPass as { stop: string }).stop, /looping\? Too many records seen/, 'inspect: the kernel stops after 65536 reads')
})

t.test('efi-cycle-without-records-hangs: a cycle with no pstore record in it: efi_pstore_read() never returns, the mount lists nothing', async (t) => {
  const other = variable({ name: 'Foo', guid: OTHER, data: Buffer.alloc(8) })
  const b = backend(store(variable({ name: name(1) }), other, other, variable({ name: name(2) })))
  t.same(listing(b), [], 'nothing')
  t.match(String(b.readPassFailure()), /never returns, Linux hangs at the mount/, 'the read pass failure says why')
})

t.test('efi-runtime-access: a crash variable without EFI_VARIABLE_RUNTIME_ACCESS is invisible at runtime; the pass goes on', async (t) => {
  const b = backend(store(variable({ name: name(1), attributes: 3 }), variable({ name: name(2) })))
  t.same(listing(b), [file(2)])
})

t.test("efi-name-without-nul: a stored name with no NUL reads with the tail of the kernel's buffer (the previous, longer name)", async (t) => {
  // the second variable's 34 name bytes are "dump-type0-2-1-17": copied over "dump-type0-1-1-1700000000-D"
  // the buffer reads "dump-type0-2-1-1700000000-D"; GetVariable finds the variable by those 34 bytes
  const short = Buffer.from('dump-type0-2-1-17', 'utf16le')
  const b = backend(store(variable({ name: name(1) }), variable({ name: short })))
  t.same(listing(b), [file(1), file(2)], 'part 2 of the same dump, time 1700000000')
  t.same(
    b.readRecords().map((r) => r.time.sec),
    [1700000000n, 1700000000n],
  )
})

t.test('efi-powerpc-types: dump-type4/5/6/8 are named rtas, powerpc-ofw, powerpc-common, powerpc-opal (pstore_type_to_name())', async (t) => {
  const vars = [4, 5, 6, 8, 9].map((type, i) => variable({ name: `dump-type${type}-${i + 1}-1-1700000000-D`, data: Buffer.from('text\n') }))
  const b = backend(store(...vars))
  t.same(
    listing(b).map((n) => n.split('-efi_pstore-')[0]),
    ['rtas', 'powerpc-ofw', 'powerpc-common', 'powerpc-opal', 'unknown'],
  )
})

t.test('efi-reclaim-order: Reclaim() keeps the VAR_ADDED variables first, then promotes those in delete transition', async (t) => {
  const bytes = store(variable({ name: name(1), state: 0x3e }), variable({ name: name(2) }))
  bytes[0x30000] = 0 // a non-erased byte after the last variable: OVMF reclaims at boot
  const b = backend(bytes)
  const [report] = b.boot()
  t.equal(report?.outcome, 'reclaimed')
  t.same(
    new VariableStore(b.region).variables().map((v) => [v.name, v.state]),
    [
      [name(2), 0x3f],
      [name(1), 0x3f],
    ],
  )
  t.same(
    b.readRecords().map((r) => recordName(r, b.name)),
    [file(2), file(1)],
  )
})
