/**
 * The pmsg FIFO's native pump (native/sys.c's ring pump: the pipe spliced into the ring in the
 * image) against the JS reader it replaces where it can: the same stream gives the same record,
 * the daemon says which one runs, ECC keeps the JS reader, and the events that touch the live
 * ring (an erase of pmsg-ramoops-0, a `pmsg` event) see every byte written before them.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { send } from '../../src/daemon/client.js'
import { cat, DEMO, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

/** A 16 KiB pmsg zone (the demo's 4 KiB rounds the stream's tail to less than a page). */
const LAYOUT = DEMO.map((v, i) => (DEMO[i - 1] === '--pmsg-size' ? '16K' : v))
const RING = 16 * 1024 - 12 // the zone minus its header

async function image(t: Test, dir: string, name: string, extra: string[] = []): Promise<string> {
  const file = path.join(dir, name)
  const r = await pstoreSim(['format', file, ...LAYOUT, ...extra])
  t.equal(r.code, 0, `format ${name}: ${r.stderr}`)
  return file
}

async function pumped(mnt: string): Promise<boolean> {
  return ((await send(mnt, { op: 'status' })) as { pmsgPump: boolean }).pmsgPump
}

/** `cat FILE > FIFO`, a writer as a user's script runs one. */
async function catInto(t: Test, file: string, fifo: string): Promise<void> {
  const w = await run('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, fifo])
  t.equal(w.code, 0, `cat > ${path.basename(fifo)}: ${w.stderr}`)
}

t.test('the pump and the JS reader store the same stream: its last ring-full, in order', async (t) => {
  const dir = tempDir(t)
  // text with line numbers, so that a misplaced piece shows where it came from
  const stream = Buffer.from(Array.from({ length: 9000 }, (_, i) => `line ${i} ${crypto.createHash('md5').update(String(i)).digest('hex')}\n`).join(''))
  t.ok(stream.length > 20 * RING, `the stream (${stream.length} bytes) wraps the ${RING}-byte ring many times`)
  const streamFile = path.join(dir, 'stream.txt')
  fs.writeFileSync(streamFile, stream)
  const records: Record<string, Buffer> = {}
  for (const [name, env] of [
    ['pump', {}],
    ['js', { PSTORE_SIM_PMSG_PUMP: '0' }],
  ] as const) {
    const img = await image(t, dir, `${name}.img`)
    const mnt = path.join(dir, `mnt-${name}`)
    await mountImage(t, img, mnt, [], env)
    t.equal(await pumped(mnt), name === 'pump', `${name}: the daemon says ${name === 'pump' ? 'the pump' : 'JS'} stores the FIFO`)
    await catInto(t, streamFile, `${mnt}.pmsg0`)
    t.equal((await pstoreSim(['reboot', mnt])).code, 0, `${name}: reboot`)
    const c = await cat(path.join(mnt, 'pmsg-ramoops-0'))
    t.equal(c.code, 0, `${name}: cat pmsg-ramoops-0: ${c.stderr}`)
    records[name] = c.stdout
  }
  const tail = stream.subarray(stream.length - RING)
  t.ok(records.pump!.equals(tail), `the pump's record is the stream's last ${RING} bytes (got ${records.pump!.length})`)
  t.ok(records.js!.equals(records.pump!), "the JS reader's record is the same")
})

t.test('an ECC zone keeps the JS reader (parity must follow every byte); its bytes land', async (t) => {
  const dir = tempDir(t)
  const img = await image(t, dir, 'ecc.img', ['--ecc', '16'])
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, img, mnt)
  t.equal(await pumped(mnt), false, 'no pump with ECC')
  const w = await run('sh', ['-c', 'printf "with parity\\n" > "$1"', 'sh', `${mnt}.pmsg0`])
  t.equal(w.code, 0, w.stderr)
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  // the notice pstore appends to a record of an ECC zone: its blocks decoded clean
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'with parity\n\nECC: No errors detected\n', 'the record, its parity intact')
})

t.test('events on the live ring come after every byte written before them, and the pump goes on after them', async (t) => {
  const dir = tempDir(t)
  const img = await image(t, dir, 'live.img')
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, img, mnt)
  t.equal(await pumped(mnt), true, 'the pump stores the FIFO')
  const fifo = `${mnt}.pmsg0`
  const write = async (text: string) => t.equal((await run('sh', ['-c', 'printf "%s" "$2" > "$1"', 'sh', fifo, text])).code, 0, `write ${JSON.stringify(text)}`)
  await write('first boot\n')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  const file = path.join(mnt, 'pmsg-ramoops-0')
  t.equal((await cat(file)).stdout.toString(), 'first boot\n', 'the first boot pmsg')
  // rm erases the record and zaps the live ring (ramoops_pstore_erase): what the pump stored
  // before it is gone, and what comes after starts the ring again
  await write('zapped by rm\n')
  t.equal((await run('rm', [file])).code, 0, 'rm pmsg-ramoops-0')
  await write('after rm\n')
  // a pmsg event through the CLI goes between two FIFO writes, in order
  t.equal((await pstoreSim(['pmsg', mnt, 'from the CLI\n'])).code, 0, 'pstore-sim pmsg')
  await write('after the CLI\n')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  t.equal((await cat(file)).stdout.toString(), 'after rm\nfrom the CLI\nafter the CLI\n', 'the ring holds what came after the erase, in order')
  t.equal(await pumped(mnt), true, 'the pump still runs')
})
