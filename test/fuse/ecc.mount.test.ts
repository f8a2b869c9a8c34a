/**
 * ECC through a real mount: corrupted bytes are corrected (or reported unrecoverable) with the
 * kernel's notice, as ramoops does it.
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { cat, mountImage, pstoreSim, tempDir } from '../helpers/mount.js'

t.test('through a mount: correctable flips are corrected with the notice; beyond repair is reported', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'ecc.img')
  t.equal(
    (
      await pstoreSim([
        'format',
        image,
        '--mem-size',
        '1M',
        '--record-size',
        '32K',
        '--console-size',
        '32K',
        '--pmsg-size',
        '4K',
        '--ftrace-size',
        '8K',
        '--ecc',
        '1',
        '--kernel',
        '6.1.192',
      ])
    ).code,
    0,
  )
  t.equal((await pstoreSim(['panic', image, '--no-compress'])).code, 0)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const file = path.join(mnt, 'dmesg-ramoops-0')
  const clean = (await cat(file)).stdout.toString('latin1')
  t.ok(clean.endsWith('\nECC: No errors detected\n'), 'a clean record carries the 5.18+ notice')
  const text = clean.slice(0, -'\nECC: No errors detected\n'.length)

  const flips = await pstoreSim(['corrupt', mnt, '--zone', 'dmesg:0', '--random', '8', '--max-per-block', '8', '--seed', '7', '--json'])
  t.equal(flips.code, 0, `corrupt: ${flips.stderr}`)
  const changed = JSON.parse(flips.stdout.toString())
  t.equal(changed.length, 8, 'the CLI prints exactly the 8 flips it made')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0)
  t.equal((await cat(file)).stdout.toString('latin1'), text + '\nECC: 8 Corrected bytes, 0 unrecoverable blocks\n', 'original text and the notice')

  // ten flipped bytes in one 128-byte block: more than E/2 = 8
  const offsets = Array.from({ length: 10 }, (_, i) => `${12 + 300 + i}:2`)
  t.equal((await pstoreSim(['corrupt', mnt, ...offsets.flatMap((o) => ['--flip', o])])).code, 0)
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'the boot does not throw')
  const damaged = (await cat(file)).stdout.toString('latin1')
  t.ok(damaged.endsWith('\nECC: 0 Corrected bytes, 1 unrecoverable blocks\n'), 'the notice reports the bad block')
  t.not(damaged.slice(0, text.length), text, 'the damage shows in the text')
  const inspect = JSON.parse((await pstoreSim(['inspect', image, '--json'])).stdout.toString())
  t.same(inspect.zones[0].ecc, { correctedBytes: 0, badBlocks: 1 }, 'inspect shows per-zone ECC results')
  t.ok(fs.existsSync(image))
})
