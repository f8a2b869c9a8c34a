/**
 * A listing of the mount crosses as READDIR, never READDIRPLUS. libfuse 3 asks the kernel for
 * READDIRPLUS by default; pstore-sim's directory fillers give no attributes with the names (the
 * kernel looks each name up anyway, as pstore's own directory does), so every entry would cross
 * as a direntplus of several times READDIR's bytes for nothing: `ls -l` of 8,000 records was ~6%
 * slower than on the libfuse 2 build (scripts/bench.sh --baseline). The init (native/fuse.c)
 * turns it off; libfuse's own debug output (`DEBUG=*` reaches native/index.cjs's `debug` option)
 * shows which requests the kernel sent, with the native file table answering and without it.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { demoImage, mountImage, run, tempDir } from '../helpers/mount.js'

for (const nativeFiles of ['1', '0']) {
  t.test(`ls -l is READDIR and LOOKUP only (PSTORE_SIM_NATIVE_FILES=${nativeFiles})`, async (t) => {
    const dir = tempDir(t)
    const runDir = path.join(dir, 'run')
    fs.mkdirSync(runDir, { mode: 0o700 })
    const image = await demoImage(t, dir)
    const mnt = path.join(dir, 'mnt')
    await mountImage(t, image, mnt, [], { DEBUG: '*', PSTORE_SIM_RUN_DIR: runDir, PSTORE_SIM_NATIVE_FILES: nativeFiles })
    const listing = await run('ls', ['-l', mnt])
    t.equal(listing.code, 0, `ls -l exits 0 ${listing.stderr}`)
    const log = fs.readdirSync(runDir).find((f) => f.endsWith('.log'))
    t.ok(log, "the daemon's log is in the run directory")
    const opcodes: string[] = fs.readFileSync(path.join(runDir, log ?? ''), 'utf8').match(/opcode: [A-Z_]+/g) ?? []
    t.ok(opcodes.includes('opcode: READDIR'), 'the kernel asked for the names with READDIR')
    t.notOk(opcodes.includes('opcode: READDIRPLUS'), 'and never with READDIRPLUS')
  })
}
