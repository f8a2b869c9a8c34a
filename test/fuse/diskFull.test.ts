/**
 * A full disk (a small tmpfs in a private mount namespace): format and every event on an
 * unmounted image fail with one line naming the file, exit 2, and change nothing: no half image,
 * no temporary file, the old image, sidecar and state byte for byte.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { cliJs, run, tempDir } from '../helpers/mount.js'

const skip = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs in a private namespace' : false

/** Each step prints `<name> <exit code>` and, for the image, the sha1 of its three files. */
const SCRIPT = `
set -u
cli() { "$NODE" "$CLI" "$@" 2>>"$OUT/stderr.txt"; }
mount -t tmpfs -o size=600k tmpfs "$DISK" || exit 99
step() { name=$1; shift; "$@"; echo "$name $?" >> "$OUT/steps.txt"; }
sums() { (cd "$DISK" && sha1sum a.img a.img.json a.img.state.json) > "$OUT/$1.sha1"; }
step format-small cli format "$DISK/a.img" --mem-size 256K --pmsg-size 4K
step console-fits cli console "$DISK/a.img" 'before the disk filled'
dd if=/dev/zero of="$DISK/fill" bs=1k count=1000 2>/dev/null
sums before
: > "$OUT/stderr.txt"
step format-new cli format "$DISK/b.img" --mem-size 1M
step format-force cli format "$DISK/a.img" --mem-size 512K --force
step console cli console "$DISK/a.img" 'on a full disk'
step panic cli panic "$DISK/a.img"
step pmsg cli pmsg "$DISK/a.img" 'pmsg on a full disk'
sums after
ls -A "$DISK" > "$OUT/ls.txt"
`

t.test('a full disk: one line naming the file, exit 2, nothing changed', { skip }, async (t) => {
  const dir = tempDir(t)
  const disk = path.join(dir, 'disk')
  fs.mkdirSync(disk)
  const r = await run('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', SCRIPT], {
    env: { ...process.env, NODE: process.execPath, CLI: cliJs, DISK: disk, OUT: dir },
  })
  t.equal(r.code, 0, `the script ran: ${r.stderr}`)
  const steps = Object.fromEntries(
    fs
      .readFileSync(path.join(dir, 'steps.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ')),
  )
  t.same(steps, { 'format-small': '0', 'console-fits': '0', 'format-new': '2', 'format-force': '2', console: '2', panic: '2', pmsg: '2' }, 'exit codes')
  const lines = fs.readFileSync(path.join(dir, 'stderr.txt'), 'utf8').trim().split('\n')
  t.equal(lines.length, 5, 'one line per failed command')
  for (const line of lines) t.match(line, /^pstore-sim: \S+\/(a|b)\.img(\.state\.json)?: cannot write: ENOSPC: .*the disk is full; free space and retry/, line)
  t.equal(fs.readFileSync(path.join(dir, 'after.sha1'), 'utf8'), fs.readFileSync(path.join(dir, 'before.sha1'), 'utf8'), 'image, sidecar and state unchanged')
  t.same(
    fs.readFileSync(path.join(dir, 'ls.txt'), 'utf8').trim().split('\n'),
    ['a.img', 'a.img.json', 'a.img.state.json', 'fill'],
    'no new image and no temporary file',
  )
})
