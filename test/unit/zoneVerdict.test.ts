/**
 * Why a kernel keeps or drops each zone: kernel fixtures doctored the way boards break them (a
 * zapped signature, a zone past capacity, an ftrace signature of another version, ECC beyond
 * repair, a header-only dmesg record, an undecodable compressed record), read by `inspect --json`
 * (a real CLI process): each zone gets the kernel's behaviour and the reason, and the records the
 * kernel would then list.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { fixtureCase, fixtureFlags } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

interface Zone {
  type: string
  index: number
  offset: number
  capacity: number
  verdict: { fate: string; why: string; kernel: string; file?: string }
}
interface Report {
  zones: Zone[]
  records: Array<{ name: string }>
}

type Fixture = Parameters<typeof fixtureFlags>

async function doctored(
  t: Test,
  [kernel, name]: Fixture,
  image: string,
  change: (buf: Buffer, zone: (type: string, index: number) => Zone) => void,
  extra: string[] = [],
): Promise<{ report: Report; text: () => Promise<string> }> {
  const file = path.join(tempDir(t), 'doctored dump.bin')
  fs.copyFileSync(fixtureCase(kernel, name).file(image), file)
  const flags = fixtureFlags(kernel, name)
  if (extra[0] === '--kernel') flags[flags.indexOf('--kernel') + 1] = extra[1] // the target named instead
  const zones = await zonesOf(file, flags)
  const buf = fs.readFileSync(file)
  change(buf, (type, index) => zones.find((z) => z.type === type && z.index === index)!)
  fs.writeFileSync(file, buf)
  const r = await pstoreSim(['inspect', file, '--json', ...flags])
  t.equal(r.code, 0, `inspect exits 0 ${r.stderr}`)
  // the text form is a process of its own, run only where a test reads it (issue 28: each CLI
  // start costs ~0.15 s of CPU)
  const text = async () => (await pstoreSim(['inspect', file, ...flags])).stdout.toString()
  return { report: JSON.parse(r.stdout.toString()) as Report, text }
}

/**
 * Where the zones of the undoctored copy `file` are (`inspect --json`), asked once per fixture
 * image and setup: several tests doctor the same one, and only the zones' places are needed.
 */
const zonesAsked = new Map<string, Promise<Zone[]>>()
function zonesOf(file: string, flags: string[]): Promise<Zone[]> {
  const key = JSON.stringify([sha256(fs.readFileSync(file)), flags])
  let zones = zonesAsked.get(key)
  if (!zones) {
    zones = pstoreSim(['inspect', file, '--json', ...flags]).then((r) => (JSON.parse(r.stdout.toString()) as Report).zones)
    zonesAsked.set(key, zones)
  }
  return zones
}

const find = (r: Report, type: string, index: number) => r.zones.find((z) => z.type === type && z.index === index)!

t.test('a zapped signature: the kernel signs the zone again and zaps it', async (t) => {
  const { report, text } = await doctored(t, ['kernel-6.1', 'b-reboot'], 'region-before.bin', (buf, zone) => buf.writeUInt32LE(0, zone('dmesg', 0).offset))
  const v = find(report, 'dmesg', 0).verdict
  t.equal(v.fate, 'zaps')
  t.match(v.why, /signature 0x00000000 is not 0x43474244/)
  t.match(v.kernel, /persistent_ram_post_init\(\): "no valid data in buffer"/)
  t.same(report.records, [], 'the record is gone')
  t.match(await text(), /6\.1\.192 ZAPS: signature 0x00000000/, 'the text says it')
})

t.test('a size past the capacity: "found existing invalid buffer"', async (t) => {
  const { report } = await doctored(t, ['kernel-6.1', 'b-reboot'], 'region-before.bin', (buf, zone) => {
    const z = zone('dmesg', 0)
    buf.writeInt32LE(z.capacity + 1, z.offset + 8)
  })
  const v = find(report, 'dmesg', 0).verdict
  t.equal(v.fate, 'zaps')
  t.match(v.why, /size 33711 is past the ring's capacity 33710/)
  t.match(v.kernel, /found existing invalid buffer/)
})

t.test('an ftrace signature of another version: zapped by a kernel of this version', async (t) => {
  const { report } = await doctored(t, ['kernel-6.1-custom', 'h2-ftrace-smp2'], 'region-after-panic.bin', () => {}, ['--kernel', '6.1.100'])
  for (const index of [0, 1]) {
    const v = find(report, 'ftrace', index).verdict
    t.equal(v.fate, 'zaps', `ftrace ${index}`)
    t.match(v.why, /is kernel 6\.1\.192's, not 6\.1\.100's/, `ftrace ${index}: names both versions`)
  }
  t.notOk(
    report.records.some((r) => r.name.startsWith('ftrace')),
    'no ftrace file',
  )
  t.equal(find(report, 'console', 0).verdict.fate, 'keeps', 'the console zone is kept')
})

t.test('ECC beyond repair: data blocks kept as they are, a header read as it is', async (t) => {
  const data = await doctored(t, ['kernel-6.1', 'c-ecc-reboot'], 'region-before.bin', (buf, zone) => {
    const z = zone('dmesg', 0)
    for (let i = 0; i < 20; i++) buf[z.offset + 12 + 40 + i] ^= 0x5a // 20 bad bytes in one 128-byte block: 16 parity fix 8
  })
  const v = find(data.report, 'dmesg', 0).verdict
  // the zone is kept with the block as it is; that block breaks the record's deflate stream
  t.equal(v.fate, 'enc.z', 'the record stays, undecodable: .enc.z')
  t.match(v.why, /1 block\(s\) beyond ECC repair are kept as they are/)
  const header = await doctored(t, ['kernel-6.1', 'c-ecc-reboot'], 'region-before.bin', (buf, zone) => {
    const z = zone('dmesg', 1)
    for (let i = 0; i < 12; i++) buf[z.offset + i] ^= 0xa5
  })
  const h = find(header.report, 'dmesg', 1).verdict
  t.equal(h.fate, 'zaps')
  t.match(h.why, /uncorrectable error in header/)
})

t.test('a header-only dmesg record ends the read pass: the later zones show no file', async (t) => {
  const { report } = await doctored(t, ['kernel-6.1', 'f2-wrapped'], 'region-before.bin', (buf, zone) => {
    const z = zone('dmesg', 0)
    const header = Buffer.from('====1704067200.000001-D\n', 'latin1')
    header.copy(buf, z.offset + 12)
    buf.writeInt32LE(header.length, z.offset + 4)
    buf.writeInt32LE(header.length, z.offset + 8)
  })
  t.equal(find(report, 'dmesg', 0).verdict.fate, 'ends-read-pass')
  t.match(find(report, 'dmesg', 0).verdict.kernel, /stops at the first record of size 0/)
  t.equal(find(report, 'console', 0).verdict.fate, 'not-read')
  t.equal(find(report, 'pmsg', 0).verdict.fate, 'not-read')
  t.same(report.records, [], 'the kernel lists nothing')
})

t.test('a compressed record that does not inflate is shown as .enc.z', async (t) => {
  const { report } = await doctored(t, ['kernel-6.1', 'f2-wrapped'], 'region-before.bin', (buf, zone) => {
    const z = zone('dmesg', 0)
    const record = Buffer.concat([Buffer.from('====1704067200.000001-C\n', 'latin1'), Buffer.from('not deflate at all')])
    record.copy(buf, z.offset + 12)
    buf.writeInt32LE(record.length, z.offset + 4)
    buf.writeInt32LE(record.length, z.offset + 8)
  })
  const v = find(report, 'dmesg', 0).verdict
  t.equal(v.fate, 'enc.z')
  t.equal(v.file, 'dmesg-ramoops-0.enc.z')
  t.match(v.kernel, /decompress_record\(\)/)
})
