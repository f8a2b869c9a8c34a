/**
 * What the efi fuzzer (test/helpers/fuzzEfi.ts, issue 33) found, each on a store built here from
 * OVMF's empty 4 MiB store: the listing pstore-sim gives is the one OVMF's variable services
 * (edk2 2022.11: the variable walk, FindVariableEx, the stateless GetNextVariableName) and the
 * kernel's efi_pstore_read() give, and inspect says why a pass ends.
 */
import t from 'tap'
import { CRASH_GUID, EfiBackend } from '../../src/backend/efi/efi.js'
import { fromEfiParams } from '../../src/backend/efi/efiSetup.js'
import { emptyOvmfStore } from '../../src/backend/efi/emptyStore.js'
import { guidBytes, VariableStore } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'
import { recordName } from '../../src/pstore/record.js'

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
