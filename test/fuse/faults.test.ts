/**
 * `corrupt` on the backends without ECC (pstore/blk, ERST): the bits flipped are the ones
 * reported, the next read pass shows the damage as the kernel's would (text as it is; a record
 * whose zone signature or CPER creator is hit is gone), a seed replays the same flips, and a
 * spec these backends cannot take (parity, max-per-block, an unknown unit) changes nothing.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test as Tap } from 'tap'
import { PSTORE_RECORD_OVERHEAD } from '../../src/backend/erst/cper.js'
import { cat, ls, mountImage, pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const BLK = ['--backend', 'blk', '--cmdline', 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y', '--disk-size', '256K']
const CPER_CREATOR_ID = 64
// the text starts after the CPER record header and section descriptor
const SLOT_TEXT = PSTORE_RECORD_OVERHEAD

async function ok(t: Tap, args: string[]): Promise<string> {
  const r = await pstoreSim(args)
  t.equal(r.code, 0, `pstore-sim ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.toString()
}

/** An image of `backend` holding one uncompressed oops dump of 400 numbered lines. */
async function crashedImage(t: Tap, dir: string, name: string, setup: string[]): Promise<string> {
  const image = path.join(dir, name)
  const log = path.join(dir, 'log.txt')
  fs.writeFileSync(log, Array.from({ length: 400 }, (_, i) => `log line ${i + 1}\n`).join(''))
  await ok(t, ['format', image, ...setup])
  await ok(t, ['panic', image, '--reason', 'oops', '--log', log, '--no-compress'])
  return image
}

/** The files an `-o ro` mount of `image` shows, with their contents. */
async function readOnlyListing(t: Tap, dir: string, image: string): Promise<Map<string, string>> {
  const mountpoint = fs.mkdtempSync(path.join(dir, 'mnt-'))
  t.equal((await mountImage(t, image, mountpoint, ['-o', 'ro'])).code, 0)
  const files = new Map<string, string>()
  for (const name of await ls(mountpoint)) files.set(name, (await cat(path.join(mountpoint, name))).stdout.toString('latin1'))
  t.equal((await pstoreSim(['umount', mountpoint])).code, 0)
  return files
}

t.test('ERST: a flipped text bit shows in the record, a flipped creator id hides it', async (t) => {
  const dir = tempDir(t)
  const image = await crashedImage(t, dir, 'erst.img', ['--backend', 'erst'])
  const before = await readOnlyListing(t, dir, image)
  const [first] = [...before.keys()].filter((n) => n.startsWith('dmesg-erst-')).sort()
  t.ok(first, `a dmesg-erst record (${[...before.keys()].join(', ')})`)

  const slot1 = 0x2000 // slot 0 holds QEMU's storage header (8 KiB records)
  const textOffset = slot1 + SLOT_TEXT + 100
  const original = fs.readFileSync(image)[textOffset]
  const out = await ok(t, ['corrupt', image, '--flip', `0x${textOffset.toString(16)}:1`])
  t.match(
    out,
    new RegExp(`^flipped bit 1 at 0x${textOffset.toString(16)} \\(slot 1 text\\+100\\): 0x[0-9a-f]{2} -> 0x[0-9a-f]{2}\n$`),
    'the report names slot and offset',
  )
  t.equal(fs.readFileSync(image)[textOffset], original ^ 2, 'exactly that bit changed in the image')
  const damaged = await readOnlyListing(t, dir, image)
  const a = before.get(first)!
  const b = damaged.get(first)!
  t.equal(b.length, a.length, 'the record keeps its size')
  const diff = [...a].flatMap((c, i) => (c !== b[i] ? [i] : []))
  t.equal(diff.length, 1, `one byte of the file differs (at ${diff})`)

  await ok(t, ['corrupt', image, '--flip', `0x${(slot1 + CPER_CREATOR_ID).toString(16)}:0`])
  const hidden = await readOnlyListing(t, dir, image)
  t.notOk(hidden.has(first), "a record whose creator is no longer pstore's is not shown (the kernel skips it)")
  t.equal(hidden.size, before.size - 1, 'the other parts are')
})

t.test('pstore/blk: text damage shows, a hit signature zaps the record', async (t) => {
  const dir = tempDir(t)
  const image = await crashedImage(t, dir, 'blk.img', BLK)
  const before = await readOnlyListing(t, dir, image)
  t.ok(before.has('dmesg-pstore_blk-0'), `the oops (${[...before.keys()].join(', ')})`)
  const out = await ok(t, ['corrupt', image, '--zone', 'dmesg:0', '--random', '3', '--seed', '11'])
  const flips = [...out.matchAll(/^flipped bit \d at 0x([0-9a-f]+) \(dmesg\[0\] data\+\d+\)/gm)]
  t.equal(flips.length, 3, `three flips in dmesg[0]'s record:\n${out}`)
  const damaged = (await readOnlyListing(t, dir, image)).get('dmesg-pstore_blk-0') ?? ''
  const a = before.get('dmesg-pstore_blk-0')!
  t.equal(damaged.length, a.length, 'same size')
  t.equal([...a].filter((c, i) => c !== damaged[i]).length, 3, 'three bytes of the text differ')

  await ok(t, ['corrupt', image, '--flip', '0x0:0'])
  t.notOk((await readOnlyListing(t, dir, image)).has('dmesg-pstore_blk-0'), 'a zone whose signature is hit has no record')
})

t.test('a seed replays the same flips; what these backends cannot do changes nothing', async (t) => {
  const dir = tempDir(t)
  for (const [name, setup] of [
    ['erst', ['--backend', 'erst']],
    ['blk', BLK],
  ] as const) {
    const image = await crashedImage(t, dir, `${name}.img`, [...setup])
    const copy = path.join(dir, `${name}-copy.img`)
    fs.copyFileSync(image, copy)
    for (const f of ['.json', '.state.json']) if (fs.existsSync(image + f)) fs.copyFileSync(image + f, copy + f)
    const one = await ok(t, ['corrupt', image, '--random', '5', '--seed', '42'])
    const two = await ok(t, ['corrupt', copy, '--random', '5', '--seed', '42'])
    t.equal(two, one, `${name}: the same seed flips the same bits`)
    t.ok(fs.readFileSync(image).equals(fs.readFileSync(copy)), `${name}: the images are equal`)

    const sum = fs.readFileSync(image)
    for (const [args, pattern] of [
      [['--area', 'parity', '--random', '1'], /--area: .* keeps no parity/],
      [['--random', '1', '--max-per-block', '2'], /--max-per-block: .* has no ECC blocks/],
      [['--zone', 'nowhere:7', '--random', '1'], /--zone: no .* unit "nowhere:7" \(units: /],
    ] as const) {
      const r = await pstoreSim(['corrupt', image, ...args])
      t.equal(r.code, 1, `${name} corrupt ${args.join(' ')}: exit 1`)
      t.match(r.stderr, pattern)
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
    }
    t.ok(fs.readFileSync(image).equals(sum), `${name}: the refused specs changed nothing`)
  }
})

t.test('ERST through the mount: corrupt, reboot, the damage shows', async (t) => {
  const dir = tempDir(t)
  const image = await crashedImage(t, dir, 'erst.img', ['--backend', 'erst'])
  const mountpoint = path.join(dir, 'mnt')
  fs.mkdirSync(mountpoint)
  t.equal((await mountImage(t, image, mountpoint)).code, 0)
  const names = (await ls(mountpoint)).filter((n) => n.startsWith('dmesg-erst-')).sort()
  const before = (await cat(path.join(mountpoint, names[0]))).stdout.toString('latin1')
  await ok(t, ['corrupt', mountpoint, '--flip', `0x${(0x2000 + SLOT_TEXT + 10).toString(16)}:6`])
  await ok(t, ['reboot', mountpoint])
  const after = (await cat(path.join(mountpoint, names[0]))).stdout.toString('latin1')
  t.equal([...before].filter((c, i) => c !== after[i]).length, 1, 'one byte differs after the reboot')
})
