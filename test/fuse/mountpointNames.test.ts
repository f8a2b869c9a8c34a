/**
 * A mountpoint's name is data, never shell text: mount, the FIFO, reboot and umount work at a
 * mountpoint whose name holds a space, $(...), backquotes, quotes and a backslash, and nothing in
 * it is run. (fuse-native's unmount ran `fusermount -uz "<name>"` through sh: the command
 * substitution ran and the unmount failed, leaving the daemon mounted.)
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { processAlive, readMountRecord } from '../../src/daemon/registry.js'
import { cat, demoImage, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

t.test('a mountpoint named with shell metacharacters', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mountpoint = path.join(dir, 'a b$(touch PWNED)`touch PWNED2`"q\'s\\x')
  fs.mkdirSync(mountpoint)
  const m = await mountImage(t, image, mountpoint)
  t.equal(m.code, 0, `mount: ${m.stderr}`)
  t.same(await ls(mountpoint), ['console-ramoops-0'], 'ls lists the first boot')
  const fifo = `${mountpoint}.pmsg0`
  const w = await run('sh', ['-c', 'printf "named pmsg\\n" > "$1"', 'sh', fifo])
  t.equal(w.code, 0, `a write to the FIFO ${fifo}: ${w.stderr}`)
  const r = await pstoreSim(['reboot', mountpoint])
  t.equal(r.code, 0, `reboot: ${r.stderr}`)
  const c = await cat(path.join(mountpoint, 'pmsg-ramoops-0'))
  t.equal(c.stdout.toString(), 'named pmsg\n', 'the pmsg record after the reboot')

  const pid = readMountRecord(mountpoint)?.pid
  t.ok(pid && processAlive(pid), 'the daemon runs')
  const u = await pstoreSim(['umount', mountpoint])
  t.equal(u.code, 0, `umount: ${u.stderr}`)
  t.notOk(pid && processAlive(pid), 'the daemon exited')
  t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(path.basename(dir)), 'nothing is mounted below the test directory')
  // the daemon runs in the CLI's cwd, sh would have run there or in the mountpoint's parent
  for (const where of [process.cwd(), dir]) {
    for (const name of ['PWNED', 'PWNED2']) t.notOk(fs.existsSync(path.join(where, name)), `no ${name} in ${where}: no shell ran the name`)
  }
})
