/**
 * QEMU's acpi-erst device (the host's qemu-system-x86_64) against pstore-sim's ERST files, no
 * kernel booted: QEMU realizes the device over a file `format` wrote and leaves it unchanged,
 * initialises a zeroed file to exactly the bytes `format` writes, and refuses a broken header.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { pstoreSim, run, tempDir } from '../helpers/mount.js'

const QEMU = '/usr/bin/qemu-system-x86_64'
const skip = !fs.existsSync(QEMU) && `${QEMU} missing (apt-get install qemu-system-x86)`

/**
 * QEMU stopped before the first instruction (-S), its monitor on stdin told to quit: the monitor
 * answers only once the machine and its devices are realized, so exit 0 means the device took the
 * file, and a refused file ends QEMU with 1 before that (however long either takes).
 */
function qemuWith(file: string, size: string, extra = '') {
  return run(
    QEMU,
    [
      ...['-M', 'pc', '-accel', 'tcg', '-display', 'none', '-S', '-monitor', 'stdio', '-serial', 'none'],
      ...['-object', `memory-backend-file,id=erstnvram,mem-path=${file},size=${size},share=on`],
      ...['-device', `acpi-erst,memdev=erstnvram${extra}`],
    ],
    { input: 'quit\n' },
  )
}

t.test("QEMU's acpi-erst takes pstore-sim's ERST files as they are", { skip }, async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'erst.img')
  t.equal((await pstoreSim(['format', image, '--backend', 'erst'])).code, 0)
  const log = path.join(dir, 'log')
  fs.writeFileSync(log, Array.from({ length: 300 }, (_, i) => `line ${i} of a log long enough for two parts and some`).join('\n'))
  t.equal((await pstoreSim(['panic', image, '--log', log, '--no-compress'])).code, 0)
  const before = fs.readFileSync(image)
  const r = await qemuWith(image, '0x10000')
  t.equal(r.code, 0, `QEMU realized the device and quit when told: ${r.stderr}`)
  t.ok(fs.readFileSync(image).equals(before), 'and left the file as it was')

  const zero = path.join(dir, 'zero.img')
  fs.writeFileSync(zero, Buffer.alloc(0x20000))
  t.equal((await qemuWith(zero, '0x20000', ',record_size=4096')).code, 0)
  const formatted = path.join(dir, 'fmt.img')
  t.equal((await pstoreSim(['format', formatted, '--backend', 'erst', '--erst-size', '0x20000', '--erst-record-size', '4K'])).code, 0)
  t.ok(fs.readFileSync(zero).equals(fs.readFileSync(formatted)), 'a zeroed file QEMU initialised = what format writes')

  const broken = Buffer.from(before)
  broken.write('XXXX', 0, 'latin1')
  fs.writeFileSync(image, broken)
  const bad = await qemuWith(image, '0x10000')
  t.equal(bad.code, 1, 'a broken magic: QEMU refuses to start')
  t.match(bad.stderr, /ERST backend storage header is invalid/)
})
