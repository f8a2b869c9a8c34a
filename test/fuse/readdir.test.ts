/**
 * A listing of the mount crosses as READDIR, never READDIRPLUS. libfuse 3 asks the kernel for
 * READDIRPLUS by default; pstore-sim's directory fillers give no attributes with the names (the
 * kernel looks each name up anyway, as pstore's own directory does), so every entry would cross
 * as a direntplus of several times READDIR's bytes for nothing: `ls -l` of 8,000 records was ~6%
 * slower than on the libfuse 2 build (scripts/bench.sh --baseline). The init (native/fuse.c)
 * turns it off; libfuse's own debug output (`DEBUG=*` reaches native/index.cjs's `debug` option)
 * shows which requests the kernel sent, with the native file table answering and without it.
 *
 * A listing read a page at a time (one READDIR each) while files are removed: the native table
 * answers every READDIR from the offset the kernel gives, in a copy of the listing made when it
 * began (what libfuse keeps per open directory; libfuse 3's own copy is a list it walks from the
 * start for every READDIR): every file of the directory as the listing began is listed once.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import t from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { DEMO, demoImage, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

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

/** Reads DIR with getdents64 4 KiB at a time: one page, then waits for a line on stdin, then the rest. */
const PAGED_READER = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.getdents64.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.getdents64.restype = ctypes.c_ssize_t
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(4096)
def page():
    n = libc.getdents64(fd, buf, 4096)
    if n < 0: raise OSError(ctypes.get_errno(), 'getdents64')
    raw, pos, names = buf.raw[:n], 0, []
    while pos < n:
        reclen = int.from_bytes(raw[pos + 16:pos + 18], 'little')
        names.append(raw[pos + 19:pos + reclen].split(b'\\0', 1)[0].decode())
        pos += reclen
    return names
print(json.dumps(page()), flush=True)
sys.stdin.readline()
rest = []
while True:
    names = page()
    if not names: break
    rest += names
print(json.dumps(rest), flush=True)
`

t.test('a listing read a page at a time while files are removed lists each file once', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'many records.img')
  // the bench's 16 MiB layout: 500 zones of 32 KiB
  const format = await pstoreSim(['format', image, '--mem-size', '16M', ...DEMO.slice(2)])
  t.equal(format.code, 0, `format: ${format.stderr}`)
  const fill = await run(process.execPath, [path.join(repoRoot, 'scripts/bench/fill.mjs'), repoRoot, image, '500'])
  t.equal(fill.code, 0, `fill: ${fill.stderr}`)
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  t.equal((await mountImage(t, image, mnt)).code, 0)
  const all = await ls(mnt)
  t.ok(all.length > 500, `${all.length} files: several READDIRs of a page`)

  const reader = spawn('python3', ['-c', PAGED_READER, mnt], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((resolve) => reader.on('exit', resolve))
  t.teardown(() => {
    if (reader.exitCode === null) reader.kill()
  })
  const lines = readline.createInterface({ input: reader.stdout })[Symbol.asyncIterator]()
  const firstPage = (JSON.parse((await lines.next()).value as string) as string[]).filter((n) => n !== '.' && n !== '..')
  t.ok(firstPage.length > 10 && firstPage.length < all.length / 2, `the first page holds ${firstPage.length} of ${all.length} files`)
  const listedThenRemoved = firstPage[3] as string
  const removedUnlisted = all.filter((n) => !firstPage.includes(n)).at(-20) as string
  const rm = await run('rm', [path.join(mnt, listedThenRemoved), path.join(mnt, removedUnlisted)])
  t.equal(rm.code, 0, `rm exits 0 ${rm.stderr}`)
  reader.stdin.end('go\n')
  const rest = (JSON.parse((await lines.next()).value as string) as string[]).filter((n) => n !== '.' && n !== '..')
  t.equal(await exited, 0, 'the reader exits 0')

  const listed = [...firstPage, ...rest]
  t.equal(new Set(listed).size, listed.length, 'no file is listed twice')
  t.same(listed.sort(), [...all].sort(), 'every file of the directory as the listing began is listed once, the two removed meanwhile included')
  t.notOk(
    (await ls(mnt)).some((n) => n === listedThenRemoved || n === removedUnlisted),
    'a listing begun after the removals shows neither',
  )
})
