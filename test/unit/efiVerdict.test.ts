/**
 * efi variable stores with `inspect --detect` (a real CLI process): the stores Debian's 6.1 and
 * 6.12 kernels wrote through OVMF (test/fixtures/efi-6.1, efi-6.12), given only `--kernel`, list
 * exactly what the kernel listed at the next boot, and every efi-pstore variable's verdict names
 * the same files; copies doctored the way stores break (a deleted variable, an unparsable
 * crash-GUID name, a record larger than record_size, a name too long for 6.2's buffer, a record
 * that does not inflate, a broken store header) each get the kernel's behaviour and the reason.
 */
import fs from 'node:fs'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { CRASH_GUID } from '../../src/backend/efi/efi.js'
import { VariableStore } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'
import { pstoreVariables } from '../helpers/efiKernel.js'
import { type KernelListingFile, repoRoot } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

interface Variable {
  offset: number
  name: string
  guid: string
  live: boolean
  pstore?: { id: string }
  verdict: { fate: string; kernel: string; why: string; file?: string }
}
interface Report {
  setup: { size: number; record_size: number; kernel: string; backend: string }
  detected: { backend: string; told: string[]; unknowns: string[]; forms: { pstoreSim: string; cmdline: string } }
  efi: { invalid?: string; variables: Variable[]; areas: Array<{ kind: string; offset: number; size: number }> }
  records: Array<{ name: string; size: number }>
}

const fixtures = path.join(repoRoot, 'test/fixtures')
const store = (rel: string): Buffer => gunzipSync(fs.readFileSync(path.join(fixtures, rel)))

/**
 * `inspect --detect --json` of a copy of `bytes`; `text()` runs the text form on the same copy, a
 * process of its own, only where a test reads it (every CLI start costs ~0.15 s of CPU: issue 28).
 */
async function inspect(t: Test, bytes: Buffer, flags: string[]): Promise<{ report: Report; text: () => Promise<string> }> {
  const file = path.join(tempDir(t), 'vars copy.fd')
  fs.writeFileSync(file, bytes)
  const json = await pstoreSim(['inspect', file, '--detect', '--json', ...flags])
  t.equal(json.code, 0, `inspect --detect --json ${flags.join(' ')} exits 0 ${json.stderr}`)
  const text = async () => (await pstoreSim(['inspect', file, '--detect', ...flags])).stdout.toString()
  return { report: JSON.parse(json.stdout.toString()) as Report, text }
}

const pstoreOf = (r: Report) => r.efi.variables.filter((v) => v.guid === 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0')
const listed = (r: Report) =>
  r.efi.variables
    .filter((v) => v.verdict.fate === 'lists' || v.verdict.fate === 'enc.z')
    .map((v) => v.verdict.file)
    .sort()

for (const kdir of ['efi-6.1', 'efi-6.12']) {
  for (const name of fs.readdirSync(path.join(fixtures, kdir))) {
    const params = JSON.parse(fs.readFileSync(path.join(fixtures, kdir, name, 'params.json'), 'utf8')) as {
      kernel: { kernelVersion: string }
      boots: Array<{ label: string; image: string; actions: string }>
    }
    const version = params.kernel.kernelVersion
    for (const boot of params.boots.filter((b) => b.image !== 'OVMF_VARS_4M.fd' && b.actions.startsWith('list'))) {
      t.test(`${kdir}/${name}/${boot.label}: --detect and --kernel ${version} list what the kernel listed`, async (t) => {
        const bytes = store(`${kdir}/${name}/${boot.image}`)
        const listing = JSON.parse(fs.readFileSync(path.join(fixtures, kdir, name, `listing-${boot.label}.json`), 'utf8')) as {
          listings: Array<{ files: KernelListingFile[] }>
        }
        const files = (listing.listings[0]?.files ?? []).map((f) => f.name).sort()
        const { report, text } = await inspect(t, bytes, ['--kernel', version])
        t.equal(report.detected.backend, 'efi', 'recognised as a variable store')
        t.equal(report.setup.size, bytes.length, "the store's size is the file's")
        t.equal(report.setup.kernel, version, 'the kernel given wins')
        t.same(report.records.map((r) => r.name).sort(), files, `the kernel's listing (${files.length} files)`)
        t.same(listed(report), files, 'the verdicts name the same files')
        for (const v of pstoreOf(report).filter((v) => !v.live)) t.equal(v.verdict.fate, 'ignored', `deleted ${v.name} is ignored`)
        const said = await text()
        t.match(said, /detected from the bytes:[\s\S]*not in the bytes:[\s\S]*kernel version/, 'says what the bytes cannot tell')
        t.match(said, new RegExp(`--backend efi.* --kernel ${version.replace(/\./g, '\\.')}`), 'prints the flags to pass')
      })
    }
  }
}

t.test('6.12 with efi_pstore.record_size=4096: the record size the largest variable needs, and 6.1 ends its pass there', async (t) => {
  const bytes = store('efi-6.12/d-record-size/vars-after-crash.fd.gz')
  const largest = Math.max(...pstoreVariables(bytes).map((v) => v.dataSize))
  t.ok(largest > 1024, `a variable of ${largest} bytes`)
  const plain = await inspect(t, bytes, [])
  t.equal(plain.report.setup.kernel, '6.12.0', 'no --kernel: a 6.2+ version assumed')
  t.ok(plain.report.setup.record_size >= largest, `record_size ${plain.report.setup.record_size} holds ${largest} bytes`)
  t.match(plain.report.detected.forms.pstoreSim, `--efi-record-size ${plain.report.setup.record_size}`, 'and is passed on')
  t.match(plain.report.detected.unknowns.join('\n'), new RegExp(`any value from ${largest}`), 'what is assumed of it is said')
  t.equal(plain.report.records.length, pstoreOf(plain.report).filter((v) => v.live).length, 'every live variable listed')
  t.ok(
    plain.report.records.every((r) => r.name.startsWith('dmesg-efi_pstore-')),
    "6.2+'s file names",
  )

  const old = await inspect(t, bytes, ['--kernel', '6.1.192'])
  t.equal(old.report.setup.record_size, 1024, '6.1 reads 1024 bytes')
  const first = pstoreOf(old.report).find((v) => v.live)!
  t.equal(first.verdict.fate, 'ends-read-pass', 'the first record larger than 1024 bytes ends the pass')
  t.match(first.verdict.why, /more than record_size 1024/)
  t.match(first.verdict.kernel, /GetVariable\(\).*EFI_BUFFER_TOO_SMALL/)
  t.ok(
    pstoreOf(old.report)
      .filter((v) => v.live && v.offset > first.offset)
      .every((v) => v.verdict.fate === 'not-read'),
    'every later variable is not read',
  )
  t.same(old.report.records, [], 'nothing listed')
  t.match(await old.text(), /ENDS THE READ PASS/, 'said in the text')
})

/** A doctored copy of a 6.12 store the kernel listed (its first live efi-pstore variables). */
function doctor(change: (bytes: Buffer, vars: ReturnType<typeof pstoreVariables>) => void): Buffer {
  const bytes = store('efi-6.12/a-oops-panic/vars-after-crash.fd.gz')
  change(bytes, pstoreVariables(bytes))
  return bytes
}

t.test('a deleted efi-pstore variable is ignored, the others listed', async (t) => {
  let deleted = ''
  const bytes = doctor((b, vars) => {
    const v = vars.find((x) => x.state === 0x3f)!
    b[v.offset + 2] &= 0xfd
    deleted = v.name
  })
  const { report } = await inspect(t, bytes, ['--kernel', '6.12.107'])
  const v = report.efi.variables.find((x) => x.name === deleted)!
  t.equal(v.verdict.fate, 'ignored')
  t.match(v.verdict.kernel, /never returns a deleted variable/)
  t.notOk(
    report.records.some((r) => r.name.endsWith(v.pstore!.id)),
    'no file for it',
  )
  t.equal(report.records.length, pstoreOf(report).filter((x) => x.live).length, 'the other live variables are listed')
})

t.test('an unparsable crash-GUID name ends the read pass there', async (t) => {
  let at = 0
  const bytes = doctor((b, vars) => {
    const v = vars.filter((x) => x.state === 0x3f)[2]!
    at = v.offset
    b.write('x', v.offset + 60, 'utf16le') // "dump-…" → "xump-…": no sscanf() format matches
  })
  const { report, text } = await inspect(t, bytes, ['--kernel', '6.12.107'])
  const live = pstoreOf(report).filter((v) => v.live)
  const i = live.findIndex((v) => v.offset === at)
  t.equal(live[i].verdict.fate, 'ends-read-pass')
  t.match(live[i].verdict.kernel, /sscanf\(\).*returns 0/)
  t.match(live[i].verdict.why, /xump-type0/)
  t.ok(
    live.slice(i + 1).every((v) => v.verdict.fate === 'not-read'),
    'later variables are not read',
  )
  t.same(
    report.records.map((r) => r.name).sort(),
    live
      .slice(0, i)
      .map((v) => v.verdict.file)
      .sort(),
    'only the records before it are listed',
  )
  t.equal(report.records.length, 2)
  t.match(await text(), /ENDS THE READ PASS/)
})

t.test("a name too long for 6.2+'s 512-byte buffer ends 6.12's pass; 6.1 (1024 bytes) skips it", async (t) => {
  const bytes = doctor(() => {})
  const region = RegionImage.fromBuffer(bytes)
  const vs = new VariableStore(region)
  t.not(vs.append('L'.repeat(300), Buffer.alloc(16, 1), 7, Buffer.from('firmware data')), 'full', 'a firmware variable with a 602-byte name')
  t.not(vs.append('dump-type0-1-1-1704070000-D', CRASH_GUID, 7, Buffer.from('after the long name\n')), 'full', 'a record after it')
  const before = await inspect(t, bytes, ['--kernel', '6.12.107'])
  const long = before.report.efi.variables.find((v) => v.name.startsWith('LLL'))!
  t.equal(long.verdict.fate, 'ends-read-pass', '6.12: GetNextVariableName() fails')
  t.match(long.verdict.kernel, /512-byte name buffer/)
  t.equal(before.report.efi.variables.at(-1)!.verdict.fate, 'not-read', 'the record after it is not read')
  const old = await inspect(t, bytes, ['--kernel', '6.1.192'])
  t.equal(old.report.efi.variables.find((v) => v.name.startsWith('LLL'))!.verdict.fate, 'skipped', '6.1: a firmware variable, skipped')
  t.equal(old.report.efi.variables.at(-1)!.verdict.fate, 'lists', 'and the record after it listed')
  t.ok(
    old.report.records.some((r) => r.name === 'dmesg-efi-170407000001001'),
    'as dmesg-efi-170407000001001',
  )
})

t.test('a compressed record that does not inflate is shown as .enc.z', async (t) => {
  let id = ''
  const bytes = doctor((b, vars) => {
    const v = vars.find((x) => x.state === 0x3f)!
    b.fill(0x55, v.dataOffset, v.dataOffset + 40)
    id = String(BigInt(v.name.split('-')[4]!) * 100000n + BigInt(v.name.split('-')[2]!) * 1000n + BigInt(v.name.split('-')[3]!))
  })
  const { report } = await inspect(t, bytes, ['--kernel', '6.12.107'])
  const v = pstoreOf(report).find((x) => x.pstore?.id === id)!
  t.equal(v.verdict.fate, 'enc.z')
  t.equal(v.verdict.file, `dmesg-efi_pstore-${id}.enc.z`)
  t.match(v.verdict.kernel, /decompress_record\(\)/)
  t.ok(
    report.records.some((r) => r.name === v.verdict.file),
    'listed under that name',
  )
})

t.test('a broken variable store header: still recognised, and the kernel registers no efi backend', async (t) => {
  const bytes = doctor((b) => {
    b[0x48] ^= 0xff // the store's GUID
  })
  const { report, text } = await inspect(t, bytes, ['--kernel', '6.12.107'])
  t.equal(report.detected.backend, 'efi', 'the firmware volume header still says what it is')
  t.match(report.detected.told[0], /OVMF would not use it: no authenticated variable store header/)
  t.match(report.efi.invalid, /no authenticated variable store header/)
  t.same(report.records, [], 'no file')
  t.match(await text(), /INVALID: .*efi-pstore does not register/)
})

t.test("the store's areas: headers, free space, the NV event log and the FTW working block and spare area", async (t) => {
  const { report } = await inspect(
    t,
    doctor(() => {}),
    ['--kernel', '6.12.107'],
  )
  t.same(
    report.efi.areas.map((a) => [a.kind, a.offset, a.size]),
    [
      ['fv-header', 0, 0x48],
      ['store-header', 0x48, 0x1c],
      ['free', report.efi.areas[2].offset, 0x40000 - report.efi.areas[2].offset],
      ['reserved', 0x40000, 0x1000],
      ['ftw-working', 0x41000, 0x1000],
      ['ftw-spare', 0x42000, 0x84000 - 0x42000],
    ],
  )
})

t.test('a variable in delete transition: listed while alone, ignored once its replacement is added', async (t) => {
  let name = ''
  const alone = doctor((b, vars) => {
    const v = vars.find((x) => x.state === 0x3f)!
    b[v.offset + 2] = 0x3e // VAR_IN_DELETED_TRANSITION cleared: the firmware still returns it
    name = v.name
  })
  const first = await inspect(t, alone, ['--kernel', '6.12.107'])
  const v = first.report.efi.variables.find((x) => x.name === name)!
  t.equal(v.verdict.fate, 'lists', 'alone, it is still read')
  t.ok(
    first.report.records.some((r) => r.name === v.verdict.file),
    `as ${v.verdict.file}`,
  )
  const region = RegionImage.fromBuffer(alone)
  const store = new VariableStore(region)
  const old = store.variables().find((x) => x.name === name)!
  t.not(store.append(name, CRASH_GUID, 7, store.data(old)), 'full', 'its replacement appended (VAR_ADDED)')
  const second = await inspect(t, alone, ['--kernel', '6.12.107'])
  const copies = second.report.efi.variables.filter((x) => x.name === name)
  t.equal(copies.length, 2)
  t.equal(copies[0].verdict.fate, 'ignored', 'the old copy is ignored')
  t.match(copies[0].verdict.why, new RegExp(`replaced by the variable at 0x${copies[1].offset.toString(16)}`))
  t.equal(copies[1].verdict.fate, 'lists', 'the new copy is listed')
  t.equal(second.report.records.filter((r) => r.name === copies[1].verdict.file).length, 1, 'one file')
})
