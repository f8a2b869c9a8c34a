/**
 * Images formatted by an older pstore-sim (test/fixtures/state-v1: sidecars of version 1) mount
 * as they did: `ls` lists the records `inspect` shows, `cat` gives their bytes, `rm` erases; the
 * sidecar is never rewritten, and a read-only mount changes no file at all.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { fixturesDir } from '../helpers/fixtures.js'
import { cat, ls, mountImage, pstoreSim, run, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

function copyV1(t: Test, name: string): string {
  const dir = tempDir(t)
  for (const suffix of ['', '.json', '.state.json']) fs.copyFileSync(path.join(fixturesDir, 'state-v1', name + suffix), path.join(dir, name + suffix))
  return path.join(dir, name)
}

/** The image, its sidecar and its state file with their hashes. */
function files(image: string): Record<string, string> {
  return Object.fromEntries([image, `${image}.json`, `${image}.state.json`].map((f) => [path.basename(f), sha256(fs.readFileSync(f))]))
}

async function records(image: string): Promise<Array<{ name: string; contentBase64: string }>> {
  const r = await pstoreSim(['inspect', image, '--json', '--content'])
  if (r.code !== 0) throw new Error(`inspect: ${r.stderr}`)
  return JSON.parse(r.stdout.toString()).records
}

async function umount(t: Test, mnt: string): Promise<void> {
  const r = await pstoreSim(['umount', mnt])
  t.equal(r.code, 0, `umount ${r.stderr}`)
}

for (const name of ['ramoops.img', 'erst.img']) {
  t.test(`${name} with a version-1 sidecar: -o ro lists and reads what inspect shows, and changes nothing`, async (t) => {
    const image = copyV1(t, name)
    const before = files(image)
    const shown = await records(image)
    t.ok(
      shown.some((r) => r.name.startsWith('dmesg-')),
      `inspect shows dmesg records: ${shown.map((r) => r.name).join(' ')}`,
    )
    const mnt = path.join(path.dirname(image), 'mnt')
    await mountImage(t, image, mnt, ['-o', 'ro'])
    t.same(await ls(mnt), shown.map((r) => r.name).sort(), 'ls: the records inspect shows')
    for (const rec of shown) {
      const c = await cat(path.join(mnt, rec.name))
      t.equal(c.code, 0, `cat ${rec.name}`)
      t.equal(sha256(c.stdout), sha256(Buffer.from(rec.contentBase64, 'base64')), `cat ${rec.name}: the bytes inspect shows`)
    }
    await umount(t, mnt)
    t.same(files(image), before, 'no file changed')
  })
}

t.test('ramoops.img with a version-1 sidecar: a read-write mount erases with rm; the sidecar stays as it was', async (t) => {
  const image = copyV1(t, 'ramoops.img')
  const sidecar = files(image)['ramoops.img.json']
  const mnt = path.join(path.dirname(image), 'mnt')
  await mountImage(t, image, mnt)
  const listed = await ls(mnt)
  const dmesg = listed.filter((n) => n.startsWith('dmesg-'))
  t.equal(dmesg.length, 3, `the fixture's three oopses: ${listed.join(' ')}`)
  const rm = await run('rm', [path.join(mnt, dmesg[0])])
  t.equal(rm.code, 0, `rm ${dmesg[0]} ${rm.stderr}`)
  t.notOk((await ls(mnt)).includes(dmesg[0]), 'gone from the listing')
  await umount(t, mnt)
  t.equal(files(image)['ramoops.img.json'], sidecar, 'the version-1 sidecar is as it was')
  t.same(
    (await records(image)).filter((r) => r.name.startsWith('dmesg-')).map((r) => r.name),
    dmesg.slice(1),
    'erased in the image: the next boot shows the other two',
  )
})
