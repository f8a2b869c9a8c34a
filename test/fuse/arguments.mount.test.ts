/**
 * Item 9 through a mount: a dump an old kernel would write out of bounds from mounts read-only,
 * and the daemon's refusals (an event on a read-only mount, a second mount on it) reach the user
 * as one line in the CLI's words, changing nothing.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { assertOneLine, files, oldTargetImage } from '../helpers/cliChecks.js'
import { pstoreSim, tempDir } from '../helpers/mount.js'

t.test("a dump the old kernel would write out of bounds from mounts read-only; the daemon's refusals in one line", async (t) => {
  const dir = tempDir(t)
  const old = path.join(dir, 'old.img')
  await oldTargetImage(t, old)
  fs.mkdirSync(path.join(dir, 'mnt'))
  const before = files(dir)
  const mnt = path.join(dir, 'mnt')
  const mounted = await pstoreSim(['mount', old, mnt, '-o', 'ro'])
  t.equal(mounted.code, 0, `mount -o ro: ${mounted.stderr}`)
  if (mounted.code === 0) {
    // the daemon's refusals, sent as facts over its socket and its start-up channel, in the CLI's words
    const event = await pstoreSim(['console', mnt, 'hello'])
    assertOneLine(t, event, /mnt is mounted read-only \(-o ro\): the image is never written$/, 'console on a read-only mount')
    const again = await pstoreSim(['mount', old, mnt, '-o', 'ro'])
    assertOneLine(t, again, /mnt: something is already mounted there \(pstore-sim umount .*mnt\)$/, 'a second mount on it')
    const unmounted = await pstoreSim(['umount', mnt])
    t.equal(unmounted.code, 0, `umount after the refused second mount: ${unmounted.stderr}`)
  }
  t.same(files(dir), before, 'the read-only mount changed nothing')
})
