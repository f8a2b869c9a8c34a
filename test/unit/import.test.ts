/**
 * `pstore-sim import TEXT IMAGE`: a kernel fixture captured as U-Boot `md.b` / `md.l` output
 * (written the way U-Boot's print_buffer() prints, inside a serial log with its prompt), by the
 * real `xxd` and `hexdump -C` (with its `*` lines) becomes its image byte for byte; a capture
 * with a gap or a conflicting repeat is refused with the line number and no image appears.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { fixturePath } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const FIXTURE = 'kernel-6.1/b-reboot/region-before.bin'
const BASE = 0x8000000

/** print_buffer(): "%0*lx:" then " %0*x" per unit (a value), then the characters. */
function uboot(bytes: Buffer, unit: 1 | 4, addressDigits: number): string {
  const out = ['U-Boot 2024.01', `=> md.${unit === 1 ? 'b' : 'l'} 0x${BASE.toString(16)} 0x${(bytes.length / unit).toString(16)}`]
  for (let at = 0; at < bytes.length; at += 16) {
    const line = bytes.subarray(at, at + 16)
    let text = `${(BASE + at).toString(16).padStart(addressDigits, '0')}:`
    for (let i = 0; i < line.length; i += unit) text += ` ${(unit === 1 ? line[i] : line.readUInt32LE(i)).toString(16).padStart(unit * 2, '0')}`
    text += `    ${[...line].map((c) => (c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '.')).join('')}`
    out.push(text)
  }
  return `${out.join('\n')}\n=> \n`
}

async function importText(t: Test, text: string): Promise<{ code: number; stderr: string; image: string }> {
  const dir = tempDir(t)
  const file = path.join(dir, 'capture.log')
  fs.writeFileSync(file, text)
  const image = path.join(dir, 'dump.bin')
  const r = await pstoreSim(['import', file, image])
  return { code: r.code, stderr: r.stderr.toString(), image }
}

const region = fs.readFileSync(fixturePath(FIXTURE))

t.test('a U-Boot md.b capture of a fixture becomes its image byte for byte', async (t) => {
  const r = await importText(t, uboot(region, 1, 8))
  t.equal(r.code, 0, `import exits 0 ${r.stderr}`)
  t.ok(fs.readFileSync(r.image).equals(region), 'byte for byte')
  const inspect = await pstoreSim(['inspect', r.image, '--detect', '--json', '--kernel', '6.1.192', '--frontends', 'none'])
  t.equal(inspect.code, 0, 'the imported dump inspects with --detect')
  t.same(
    JSON.parse(inspect.stdout.toString()).records.map((x: { name: string }) => x.name),
    ['dmesg-ramoops-0'],
    "the kernel's record",
  )
})

t.test('md.l (little-endian words, 64-bit addresses) of the first 64 KiB', async (t) => {
  const part = region.subarray(0, 0x10000)
  const r = await importText(t, uboot(part, 4, 16))
  t.equal(r.code, 0, `import exits 0 ${r.stderr}`)
  t.ok(fs.readFileSync(r.image).equals(part), 'byte for byte')
})

t.test("xxd's and hexdump -C's own output (with its * lines)", async (t) => {
  for (const [tool, args] of [
    ['xxd', []],
    ['hexdump', ['-C']],
  ] as const) {
    const text = execFileSync(tool, [...args, fixturePath(FIXTURE)], { maxBuffer: 64 * 1024 * 1024 }).toString()
    if (tool === 'hexdump') t.match(text, /^\*$/m, 'hexdump -C folds repeated lines into *')
    const r = await importText(t, text)
    t.equal(r.code, 0, `${tool}: import exits 0 ${r.stderr}`)
    t.ok(fs.readFileSync(r.image).equals(region), `${tool}: byte for byte`)
  }
})

t.test('gaps and conflicting repeats are refused with the line number; an identical repeat is fine', async (t) => {
  const lines = uboot(region.subarray(0, 0x1000), 1, 8).split('\n')
  const gap = await importText(t, [...lines.slice(0, 10), ...lines.slice(11)].join('\n'))
  t.equal(gap.code, 1, 'a gap: a user error')
  t.match(gap.stderr, /capture\.log: line 11: address 0x8000090 leaves a gap after 0x8000080/, 'names the file, the line and the gap')
  t.notOk(fs.existsSync(gap.image), 'no image')
  const changed = lines[5].replace(/: (..)/, (_, b) => `: ${((parseInt(b, 16) + 1) & 0xff).toString(16).padStart(2, '0')}`)
  const conflict = await importText(t, [...lines.slice(0, 6), changed, ...lines.slice(6)].join('\n'))
  t.equal(conflict.code, 1, 'a conflicting repeat: a user error')
  t.match(conflict.stderr, /line 7: address 0x8000030 repeats earlier bytes with different values/)
  t.notOk(fs.existsSync(conflict.image), 'no image')
  const same = await importText(t, [...lines.slice(0, 6), lines[5], ...lines.slice(6)].join('\n'))
  t.equal(same.code, 0, 'the same line twice (a re-sent line) is accepted')
  t.ok(fs.readFileSync(same.image).equals(region.subarray(0, 0x1000)), 'byte for byte')
})
