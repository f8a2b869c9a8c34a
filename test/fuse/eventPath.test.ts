/**
 * Every change a mount makes to its machine is an event run by applyEvent (machine/events.ts),
 * whoever causes it: the mount's boot, `rm` of a file, a write to the pmsg FIFO (through the
 * native pump's lend and reclaim, or in JS), `pstore-sim reboot`, a CLI event. The spy is
 * applyEvent's own trace (DEBUG=pstore-sim:event, one line per event it runs) in the daemon's
 * log, with real processes acting on a real mount; the image then shows what each event did.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { logPath } from '../../src/daemon/registry.js'
import { cat, DEMO, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

/** The ops applyEvent ran in the daemon of `mnt`, in order. */
function eventsRun(mnt: string): string[] {
  const log = fs.readFileSync(logPath(path.resolve(mnt)), 'utf8')
  return [...log.matchAll(/pstore-sim:event (\w+)/g)].map((m) => m[1]!)
}

async function exercise(t: Test, pump: boolean): Promise<void> {
  const dir = tempDir(t)
  const img = path.join(dir, 'e.img')
  t.equal((await pstoreSim(['format', img, ...DEMO])).code, 0, 'format')
  t.equal((await pstoreSim(['panic', img, '--reason', 'oops'])).code, 0, 'an oops to erase later')
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, img, mnt, [], { DEBUG: 'pstore-sim:event', ...(pump ? {} : { PSTORE_SIM_PMSG_PUMP: '0' }) })
  t.same(eventsRun(mnt).slice(0, 1), ['reboot'], 'the mount is a boot, run as an event')

  const dmesg = (await ls(mnt)).find((n) => n.startsWith('dmesg-'))
  t.ok(dmesg, `a dmesg file to erase (${await ls(mnt)})`)
  const rm = await run('rm', [path.join(mnt, dmesg!)])
  t.equal(rm.code, 0, `rm: ${rm.stderr}`)
  t.ok(eventsRun(mnt).includes('erase'), `rm ran an erase event (${eventsRun(mnt)})`)

  const w = await run('sh', ['-c', 'printf "through the fifo\\n" > "$1"', 'sh', `${mnt}.pmsg0`])
  t.equal(w.code, 0, `write to the FIFO: ${w.stderr}`)
  const reboot = await pstoreSim(['reboot', mnt])
  t.equal(reboot.code, 0, `reboot: ${reboot.stderr}`)
  const ops = eventsRun(mnt)
  const fifoOps = pump ? ['pmsgLend', 'pmsgReclaim'] : ['pmsg']
  for (const op of fifoOps) t.ok(ops.includes(op), `the FIFO's bytes went through a ${op} event (${ops})`)
  t.equal(ops.filter((op) => op === 'reboot').length, 2, 'pstore-sim reboot ran a second boot event')
  // the FIFO's events came before the reboot that shows their bytes
  t.ok(ops.lastIndexOf(fifoOps[fifoOps.length - 1]!) < ops.lastIndexOf('reboot'), 'the FIFO write was stored before the reboot')

  const after = await ls(mnt)
  t.notOk(after.includes(dmesg!), 'the erased record is gone after the reboot (it was erased in the image)')
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'through the fifo\n', "the FIFO's bytes are the next boot's pmsg record")
  const seen = eventsRun(mnt).length
  t.equal((await pstoreSim(['console', mnt, 'hello'])).code, 0, 'a console event from the CLI')
  // (the pump's lend and reclaim frame it)
  t.ok(eventsRun(mnt).slice(seen).includes('console'), 'the CLI event ran through applyEvent too')
}

t.test('boot, rm, the FIFO (native pump) and reboot on a mount each run through applyEvent', (t) => exercise(t, true))
t.test('the same with the FIFO read in JS: every chunk a pmsg event', (t) => exercise(t, false))

t.test('a read-only mount refuses events through the same path, and still boots', async (t) => {
  const dir = tempDir(t)
  const img = path.join(dir, 'ro.img')
  t.equal((await pstoreSim(['format', img, ...DEMO])).code, 0, 'format')
  const before = fs.readFileSync(img)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, img, mnt, ['-o', 'ro'], { DEBUG: 'pstore-sim:event' })
  const c = await pstoreSim(['console', mnt, 'x'])
  t.equal(c.code, 1, 'console on a read-only mount fails')
  t.match(c.stderr, /mounted read-only \(-o ro\): the image is never written/, c.stderr)
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'a reboot is allowed')
  t.same(eventsRun(mnt), ['reboot', 'console', 'reboot'], 'all three reached applyEvent, which refused the console event')
  t.ok(fs.readFileSync(img).equals(before), 'the image is unchanged')
})
