/**
 * The variable store as efivarfs shows it (backend/efi/efivars.ts), without FUSE: on the store a
 * real 6.12 kernel and OVMF left (OVMF's own variables beside efi-pstore's), and on crafted
 * stores for the walk's stops (fs/efivarfs/vars.c efivar_init(), super.c efivarfs_callback()).
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { CRASH_GUID, type EfiBackend } from '../../src/backend/efi/efi.js'
import { fromEfiParams } from '../../src/backend/efi/efiSetup.js'
import {
  EFI_GLOBAL_VARIABLE_GUID_TEXT,
  efivarContent,
  efivarfsFileName,
  efivarfsFiles,
  isRemovable,
  LINUX_EFI_RANDOM_SEED_TABLE_GUID_TEXT,
} from '../../src/backend/efi/efivars.js'
import { emptyOvmfStore } from '../../src/backend/efi/emptyStore.js'
import { guidBytes, guidText, VAR_ADDED, VAR_IN_DELETED_TRANSITION, VariableStore } from '../../src/backend/efi/varstore.js'
import { parseKernelVersion } from '../../src/format/kernelVersion.js'
import { RegionImage } from '../../src/format/region.js'
import { SimulatedMachine } from '../../src/machine/machine.js'
import { repoRoot } from '../helpers/fixtures.js'

const K612 = parseKernelVersion('6.12.107')
const K61 = parseKernelVersion('6.1.192')
const CRASH = 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0'
const MTC_GUID = 'eb704011-1402-11d3-8e77-00a0c969723b'

function kernelStore(): Buffer {
  return gunzipSync(fs.readFileSync(path.join(repoRoot, 'test/fixtures/efi-6.12/a-oops-panic/vars-after-crash.fd.gz')))
}

function machineOn(bytes: Buffer, kernel = '6.12.107') {
  const config = fromEfiParams({ size: bytes.length }, { kernel })
  const region = RegionImage.fromBuffer(Buffer.from(bytes))
  const machine = new SimulatedMachine(config, region, undefined, () => 1796000000000)
  return { region, machine, efi: machine.backend as EfiBackend }
}

t.test("the kernel's store: every live variable, OVMF's and efi-pstore's, named <name>-<guid>, 4 + data bytes", async (t) => {
  const store = new VariableStore(RegionImage.fromBuffer(kernelStore(), true))
  const files = efivarfsFiles(store, K612)
  const live = store.variables().filter((v) => v.state === VAR_ADDED)
  t.equal(files.length, live.length, `${live.length} live variables, one file each`)
  for (const v of live) {
    const name = `${v.name}-${guidText(v.guid)}`
    const file = files.find((f) => f.fileName === name)
    if (!t.ok(file, `${name} listed`) || !file) continue
    t.equal(file.size, 4 + v.dataSize, `${name}: size 4 + ${v.dataSize}`)
    const content = efivarContent(store, file)!
    t.equal(content.readUInt32LE(0), v.attributes, `${name}: attributes first`)
    t.ok(content.subarray(4).equals(store.data(v)), `${name}: then the data`)
  }
  const names = files.map((f) => f.fileName)
  t.ok(names.includes(`MTC-${MTC_GUID}`), "OVMF's MTC")
  t.ok(names.includes(`ConOut-${EFI_GLOBAL_VARIABLE_GUID_TEXT}`), 'ConOut')
  t.ok(
    names.some((n) => n.startsWith('dump-type0-') && n.endsWith(`-${CRASH}`)),
    "efi-pstore's dumps",
  )
  const removable = Object.fromEntries(files.map((f) => [f.fileName.slice(0, -37), f.removable]))
  t.same(
    [
      removable.MTC,
      removable.ConOut,
      removable.ConIn,
      removable.ErrOut,
      removable.Boot0000,
      removable.BootOrder,
      removable.Lang,
      removable.Key0000,
      removable.certdb,
    ],
    [false, true, true, true, true, true, true, false, false],
    'removable: the console paths, Boot*, Lang; not MTC, Key0000, certdb',
  )
  t.ok(
    files.filter((f) => f.fileName.endsWith(CRASH)).every((f) => f.removable),
    'every crash-GUID variable is removable',
  )
})

t.test('names and the removable table (vars.c variable_validate[])', async (t) => {
  t.equal(efivarfsFileName('a/b', 'CFC8FC79-BE2E-4DDC-97F0-9F98BFE298A0'), `a!b-${CRASH}`, "'/' → '!', GUID in lower case")
  for (const [name, want] of [
    ['Boot', true],
    ['Boot0001', true],
    ['BootNext', true],
    ['BootCurrent', true], // Boot* matches it too
    ['Driver0003', true],
    ['OsIndications', true],
    ['Timeout', true],
    ['ConInX', false],
    ['OsIndicationsSupported', false],
    ['SecureBoot', false],
    ['PK', false],
  ] as const) {
    t.equal(isRemovable(EFI_GLOBAL_VARIABLE_GUID_TEXT, name), want, `${name}: ${want ? 'removable' : 'immutable'}`)
  }
  t.equal(isRemovable(CRASH.toUpperCase(), 'anything'), true, 'any name of the crash GUID')
  t.equal(isRemovable(MTC_GUID, 'Boot0000'), false, 'a table name under another GUID is not')
})

t.test("the walk: a 512-byte name or a duplicate ends it; 6.2+ hides the random seed's GUID; deleted variables are gone", async (t) => {
  const region = RegionImage.fromBuffer(emptyOvmfStore())
  const store = new VariableStore(region)
  const global = guidBytes(EFI_GLOBAL_VARIABLE_GUID_TEXT)
  store.append('Lang', global, 7, Buffer.from('eng'))
  store.append('RandomSeed', guidBytes(LINUX_EFI_RANDOM_SEED_TABLE_GUID_TEXT), 7, Buffer.alloc(32, 1))
  const gone = store.append('Timeout', global, 7, Buffer.from([5, 0]))
  store.clearState(gone as number, 0xfd)
  const inTransition = store.append('PlatformLang', global, 7, Buffer.from('en'))
  store.clearState(inTransition as number, VAR_IN_DELETED_TRANSITION)
  store.append('Dup', global, 7, Buffer.from([1]))
  store.append('Dup', global, 7, Buffer.from([2]))
  store.append('After', global, 7, Buffer.from([3]))
  const names = (k = K612) => efivarfsFiles(store, k).map((f) => f.fileName.slice(0, -37))
  t.same(names(), ['Lang', 'PlatformLang', 'Dup'], '6.12: no RandomSeed, no deleted Timeout; the second Dup ends the walk')
  t.same(names(K61), ['Lang', 'RandomSeed', 'PlatformLang', 'Dup'], '6.1 lists the random seed')
  t.equal(efivarContent(store, { name: 'Timeout', guid: global }), undefined, 'a deleted variable reads as gone (EFI_NOT_FOUND)')

  const long = RegionImage.fromBuffer(emptyOvmfStore())
  const s2 = new VariableStore(long)
  s2.append('A', global, 7, Buffer.from([0]))
  s2.append('x'.repeat(255), global, 7, Buffer.from([0])) // 512 bytes with its NUL: fits
  s2.append('y'.repeat(256), global, 7, Buffer.from([0])) // 514: EFI_BUFFER_TOO_SMALL
  s2.append('B', global, 7, Buffer.from([0]))
  t.same(
    efivarfsFiles(s2, K612).map((f) => f.fileName.length - 37),
    [1, 255],
    'a name over the 512-byte buffer ends the walk',
  )
})

t.test("one delete path: efivarfs' unlink and pstore's erase clear the same State bit, one byte", async (t) => {
  const bytes = kernelStore()
  for (const via of ['efivarfs', 'pstore'] as const) {
    const { region, machine, efi } = machineOn(bytes)
    const { records } = machine.boot()
    const before = Buffer.from(region.view(0, region.size))
    const store = efi.store
    const file = efivarfsFiles(store, K612).find((f) => f.fileName.endsWith(CRASH))!
    const record = records[0]!
    if (via === 'efivarfs') t.equal(efi.deleteVariable(file.name, file.guid), true, 'SetVariable(size 0): deleted')
    else efi.erase(record.type, record.id)
    const after = Buffer.from(region.view(0, region.size))
    const changed = [...after].flatMap((b, i) => (b !== before[i] ? [i] : []))
    t.equal(changed.length, 1, `${via}: one byte changed`)
    t.equal(before[changed[0]!], 0x3f, `${via}: it was VAR_ADDED`)
    t.equal(after[changed[0]!], 0x3d, `${via}: now VAR_DELETED`)
    t.equal(efivarContent(store, file), undefined, `${via}: GetVariable now finds nothing`)
    t.notOk(
      efi.readRecords().some((r) => r.id === record.id),
      `${via}: the next read pass no longer has ${file.name}`,
    )
    t.notOk(
      efivarfsFiles(store, K612).some((f) => f.fileName === file.fileName),
      `${via}: the next efivarfs mount no longer lists it`,
    )
    t.equal(efi.deleteVariable(file.name, CRASH_GUID), false, `${via}: a second delete is EFI_NOT_FOUND and changes nothing`)
    t.ok(Buffer.from(region.view(0, region.size)).equals(after), `${via}: no byte more`)
  }
})
