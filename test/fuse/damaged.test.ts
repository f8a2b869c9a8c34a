/**
 * The damaged images of test/fixtures/damaged/ (issue 33; README there) read as the kernel reads
 * them, through the real thing: a FUSE mount (ls, cat, rm in other processes) and `inspect`.
 * Debian's 6.1 and 6.12 kernels booted on the same images: test/kernel/compat-damaged-suite.ts.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { readFixture } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

export const ERST_SETUP = ['--backend', 'erst', '--erst-size', '65536', '--erst-record-size', '8192', '--kernel', '6.12.107']
export const BLK_SETUP = [
  '--backend',
  'blk',
  '--kernel',
  '6.1.192',
  '--cmdline',
  'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=16 pstore_blk.pmsg_size=8 pstore_blk.console_size=8 pstore_blk.best_effort=y pstore.compress=none',
]
/** QEMU's map entry of slot N (the map starts at byte 24 of the storage header). */
const mapAt = (slot: number) => 24 + slot * 8
/** The ids the fixture's six slots hold in QEMU's map (its first record's time << 32, + 1 each). */
const MAP_IDS = [1, 2, 3, 4, 5, 6].map((i) => 7318912958610800640n + BigInt(i))

function copyTo(t: Test, name: string, bytes: Buffer = readFixture(`damaged/${name}`)): { image: string; mnt: string } {
  const dir = tempDir(t, 'pstore-sim damaged ')
  const image = path.join(dir, name)
  fs.writeFileSync(image, bytes)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  return { image, mnt }
}

t.test('erst-header-id-differs-from-map: files are named by the map id, and rm on one clears it', async (t) => {
  const { image, mnt } = copyTo(t, 'erst-header-id-differs-from-map.bin')
  const before = fs.readFileSync(image)
  t.equal(before.readBigUInt64LE(8192 + 96), MAP_IDS[0] + 1000n, "slot 1's CPER header says map id + 1000")
  await mountImage(t, image, mnt, ERST_SETUP)
  const names = await ls(mnt)
  t.same(
    names,
    MAP_IDS.map((id) => `dmesg-erst-${id}`),
    "every name is QEMU's map id, as erst_reader() takes it",
  )
  const first = await cat(path.join(mnt, names[0]))
  t.equal(first.code, 0)
  t.match(first.stdout.toString('latin1'), /^Oops#1 Part1\n/, 'the record behind it is read')
  const rm = await run('rm', [path.join(mnt, names[0])])
  t.equal(rm.code, 0, `rm ${names[0]}: ${rm.stderr}`)
  t.same(await ls(mnt), names.slice(1), 'gone from the listing')
  const u = await pstoreSim(['umount', mnt])
  t.equal(u.code, 0, u.stderr)
  const after = fs.readFileSync(image)
  t.equal(after.readBigUInt64LE(mapAt(1)), 0n, 'its map entry cleared, as QEMU clears it')
  t.equal(after.readUInt32LE(20), 5, 'record_count 6 -> 5')
  t.ok(after.subarray(8192).equals(before.subarray(8192)), 'the slots themselves untouched')
  const inspect = await pstoreSim(['inspect', image, ...ERST_SETUP])
  t.equal(inspect.code, 0, inspect.stderr)
  t.notMatch(inspect.stdout.toString(), /CPER header says/, 'slot 1 is free now: no note')
})

t.test('erst-header-id-differs-from-map: inspect names the map id and says why', async (t) => {
  const { image } = copyTo(t, 'erst-header-id-differs-from-map.bin')
  const r = await pstoreSim(['inspect', image, ...ERST_SETUP])
  t.equal(r.code, 0, r.stderr)
  const text = r.stdout.toString()
  t.match(text, `its CPER header says record_id ${MAP_IDS[0] + 1000n}: the kernel names the file by the map's id`)
  t.match(text, `dmesg-erst-${MAP_IDS[0]} `)
  t.notMatch(text, `dmesg-erst-${MAP_IDS[0] + 1000n}`)
})

t.test('an all-ones map entry ends the listing (erst_get_record_id_next)', async (t) => {
  const bytes = readFixture('damaged/erst-header-id-differs-from-map.bin')
  bytes.writeBigUInt64LE(0xffffffffffffffffn, mapAt(3))
  const { image, mnt } = copyTo(t, 'erst-all-ones-in-slot-3.bin', bytes)
  await mountImage(t, image, mnt, ['-o', 'ro', ...ERST_SETUP])
  t.same(await ls(mnt), [`dmesg-erst-${MAP_IDS[0]}`, `dmesg-erst-${MAP_IDS[1]}`], 'slots 1 and 2, nothing from slot 3 on')
  const inspect = await pstoreSim(['inspect', image, ...ERST_SETUP])
  t.match(inspect.stdout.toString(), /^3 +18446744073709551615 .*an all-ones id: the kernel's listing ends here/m)
})

t.test('blk-counter-all-ones: the kmsg header counter is an int printed with %d', async (t) => {
  const { image, mnt } = copyTo(t, 'blk-counter-all-ones.bin')
  await mountImage(t, image, mnt, ['-o', 'ro', ...BLK_SETUP])
  t.same(await ls(mnt), ['dmesg-pstore_blk-0'])
  const c = await cat(path.join(mnt, 'dmesg-pstore_blk-0'))
  t.equal(c.code, 0)
  t.equal(c.stdout.toString('latin1').split('\n')[0], 'Oops: Total -1 times')
  const r = await pstoreSim(['inspect', image, ...BLK_SETUP])
  t.match(r.stdout.toString(), /Oops counter 4294967295/, 'the counter itself is unsigned (the next Oops wraps it to 0)')
})

t.test('blk-pmsg-start-past-datalen: the failed recovery fails every read pass: no file at all', async (t) => {
  const { image, mnt } = copyTo(t, 'blk-pmsg-start-past-datalen.bin')
  await mountImage(t, image, mnt, ['-o', 'ro', ...BLK_SETUP])
  t.same(await ls(mnt), [], 'not even the dmesg record')
  const text = await pstoreSim(['inspect', image, ...BLK_SETUP])
  t.equal(text.code, 0, text.stderr)
  t.match(text.stdout.toString(), /^pmsg\[0\] .* read-fails: start 2 is past datalen 1/m)
  t.match(text.stdout.toString(), /^dmesg\[0\] .* record$/m, 'the dmesg zone holds a record')
  t.match(text.stdout.toString(), /records: none\n {2}\(the kernel's read pass fails, so it lists no file at all: pmsg\[0\]: start 2/)
  const json = await pstoreSim(['inspect', image, '--json', ...BLK_SETUP])
  const inspection = JSON.parse(json.stdout.toString()) as { records: unknown[]; readPassFailure?: string }
  t.same(inspection.records, [])
  t.match(inspection.readPassFailure, /^pmsg\[0\]: start 2 is past datalen 1: .*psz_recover_zone\(\)/)
})
