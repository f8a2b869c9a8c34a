/**
 * An ordinary user, as a real second uid (the reliability issue, item 5): it formats, mounts with
 * a pmsg zone, writes the FIFO, reboots and unmounts; and it can neither use another user's run
 * directory nor reach another user's daemon.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { readMountRecord } from '../../src/daemon/registry.js'
import { demoImage, mountImage, pstoreSim, run, sha256, tempDir } from '../helpers/mount.js'
import { asUserArgs, testUser, userPackage, userRunner } from '../helpers/user.js'

const uidOrWhy = await testUser()
const skip = typeof uidOrWhy === 'string' ? uidOrWhy : false
// the user runs the package from a copy it can read, not from the checkout (helpers/user.ts)
const cliJs = skip ? '' : (await userPackage()).cli

/** One shell script as the user, so that every step sees the same private mount namespace. */
const LIFECYCLE = `
set -e
cli() { "$NODE" "$CLI" "$@"; }
cli format "$DIR/user.img" --mem-size 1M --record-size 4K --console-size 4K --pmsg-size 8K
cli mount "$DIR/user.img" "$DIR/mnt"
printf 'written by uid %s\\n' "$(id -u)" > "$DIR/mnt.pmsg0"
ls "$DIR/mnt" > "$DIR/before-reboot.txt"
cli reboot "$DIR/mnt"
cat "$DIR/mnt/pmsg-ramoops-0" > "$DIR/after-reboot.txt"
stat -c '%U %a' "$DIR/mnt.pmsg0" > "$DIR/fifo.txt"
cli umount "$DIR/mnt"
test ! -e "$DIR/mnt.pmsg0"
echo done
`

t.test('an ordinary user formats, mounts with pmsg, writes the FIFO, reboots and unmounts', { skip }, async (t) => {
  const uid = uidOrWhy as number
  const dir = tempDir(t)
  fs.mkdirSync(path.join(dir, 'mnt'))
  fs.chownSync(path.join(dir, 'mnt'), uid, uid)
  const asUser = await userRunner(uid, dir)
  const r = await asUser(['sh', '-c', LIFECYCLE], { NODE: process.execPath, CLI: cliJs, DIR: dir })
  t.equal(r.code, 0, `the whole life cycle as uid ${uid} succeeds: ${r.stderr}`)
  t.equal(r.stdout.toString().trim().split('\n').pop(), 'done', 'to its last step')
  t.equal(fs.readFileSync(path.join(dir, 'before-reboot.txt'), 'utf8'), 'console-ramoops-0\n', "a fresh image shows only its first boot's console")
  t.equal(fs.readFileSync(path.join(dir, 'after-reboot.txt'), 'utf8'), `written by uid ${uid}\n`, "the FIFO write is the next boot's pmsg file")
  t.equal(fs.readFileSync(path.join(dir, 'fifo.txt'), 'utf8'), 'pstoresim-test 220\n', "the FIFO is the user's, mode 0220 like /dev/pmsg0")
  const image = fs.statSync(path.join(dir, 'user.img'))
  t.same([image.uid, image.mode & 0o777], [uid, 0o600], "the image is the user's, 0600")
  // Booting read it and zapped the zone, as ramoops does: the next boot shows no pmsg file.
  const inspect = await pstoreSim(['inspect', path.join(dir, 'user.img'), '--json'])
  const names = (JSON.parse(inspect.stdout.toString()).records as Array<{ name: string }>).map((f) => f.name)
  t.notOk(names.includes('pmsg-ramoops-0'), `the image after umount holds the next boot's state: ${names.join(' ')}`)
})

t.test("an ordinary user cannot use another user's run directory or reach its daemon", { skip }, async (t) => {
  const uid = uidOrWhy as number
  const dir = tempDir(t)
  const asUser = await userRunner(uid, dir)

  // Root's own run directory (0700, root's): the user is refused before anything happens.
  const rootsRunDir = fs.mkdtempSync(path.join(dir, 'root-run-'))
  fs.chmodSync(rootsRunDir, 0o700)
  const userImage = path.join(dir, 'u.img')
  const format = await asUser([process.execPath, cliJs, 'format', userImage, '--mem-size', '64K'], { PSTORE_SIM_RUN_DIR: rootsRunDir })
  t.equal(format.code, 0, 'format needs no run directory')
  fs.mkdirSync(path.join(dir, 'umnt'))
  fs.chownSync(path.join(dir, 'umnt'), uid, uid)
  const foreign = await asUser([process.execPath, cliJs, 'mount', userImage, path.join(dir, 'umnt')], { PSTORE_SIM_RUN_DIR: rootsRunDir })
  t.equal(foreign.code, 2, 'a mount with a run directory of another uid exits 2')
  t.match(foreign.stderr, /belongs to uid 0, not to you/, `it names the owner: ${foreign.stderr.trim()}`)
  t.equal(foreign.stderr.trim().split('\n').length, 1, 'in one line')
  // A symlink of the user's own pointing at root's directory is not followed.
  const link = path.join(dir, 'run-link')
  fs.symlinkSync(rootsRunDir, link)
  fs.lchownSync(link, uid, uid)
  const viaLink = await asUser([process.execPath, cliJs, 'mount', userImage, path.join(dir, 'umnt')], { PSTORE_SIM_RUN_DIR: link })
  t.equal(viaLink.code, 2, 'a symlinked run directory exits 2')
  t.match(viaLink.stderr, /symlink/, `it says so: ${viaLink.stderr.trim()}`)
  t.same(fs.readdirSync(rootsRunDir), [], "nothing was created in root's run directory")

  // Root's live mount: its control socket is out of the user's reach, and the user's CLI never finds it.
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const before = sha256(fs.readFileSync(image))
  const record = readMountRecord(mnt)
  t.ok(record?.socket, "root's daemon has a control socket")
  const connect = `require('node:net').connect(process.argv[1]).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(1) })`
  const probe = await asUser([process.execPath, '-e', connect, record?.socket ?? ''])
  t.equal(probe.stdout.toString().trim(), 'EACCES', "the user cannot connect to root's control socket")
  const reboot = await asUser([process.execPath, cliJs, 'panic', mnt])
  t.not(reboot.code, 0, "the user's panic on root's mount fails")
  t.equal(sha256(fs.readFileSync(image)), before, "root's image is unchanged")
})

t.test("FUSE refusals give libfuse's reason, exit 2 and change nothing", { skip }, async (t) => {
  const uid = uidOrWhy as number
  const dir = tempDir(t)
  const asUser = await userRunner(uid, dir)
  const image = path.join(dir, 'u.img')
  t.equal((await asUser([process.execPath, cliJs, 'format', image, '--mem-size', '64K', '--pmsg-size', '4K'])).code, 0, 'format as the user')
  t.equal((await asUser([process.execPath, cliJs, 'console', image, 'the previous boot'])).code, 0, 'a console line for the next boot')
  const before = sha256(fs.readFileSync(image))
  const mnt = path.join(dir, 'mnt')
  fs.mkdirSync(mnt)
  fs.chownSync(mnt, uid, uid)
  const conf = fs.existsSync('/etc/fuse.conf') ? fs.readFileSync('/etc/fuse.conf', 'utf8') : ''
  if (/^\s*user_allow_other/m.test(conf)) t.comment('skipped allow_other: /etc/fuse.conf has user_allow_other')
  else {
    const r = await asUser([process.execPath, cliJs, 'mount', image, mnt, '-o', 'allow_other'])
    t.equal(r.code, 2, 'allow_other refused by fusermount3: exit 2 (the environment)')
    t.match(
      r.stderr,
      /fusermount3: option allow_other only allowed if 'user_allow_other' is set in \/etc\/fuse\.conf/,
      `fusermount3's reason: ${r.stderr.trim()}`,
    )
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line')
  }
  // Without the 0666 node: the host's root-only /dev/fuse.
  const [setpriv, ...privArgs] = asUserArgs(uid, dir, [process.execPath, cliJs, 'mount', image, mnt])
  const plain = await run(setpriv, privArgs)
  if (fs.statSync('/dev/fuse').mode & 0o006) t.comment('skipped: /dev/fuse is open to everyone here')
  else {
    t.equal(plain.code, 2, 'no access to /dev/fuse: exit 2')
    t.match(plain.stderr, /\/dev\/fuse: no permission to open it/, `says so: ${plain.stderr.trim()}`)
  }
  // A machine that kept FUSE 2's package has no fusermount3: root mounts, an ordinary user is told what to install.
  const noHelper = fs.mkdtempSync(path.join(dir, 'path-without-fusermount3-'))
  fs.chmodSync(noHelper, 0o755)
  const m = await asUser([process.execPath, cliJs, 'mount', image, mnt], { PATH: noHelper })
  t.equal(m.code, 2, 'no fusermount3 in PATH: exit 2 (the environment)')
  t.match(m.stderr, /no fusermount3 in PATH: an ordinary user's mount needs FUSE 3's fusermount3 \(Debian\/Ubuntu: apt-get install fuse3/, m.stderr.trim())
  t.equal(m.stderr.trim().split('\n').length, 1, 'in one line')
  t.equal(sha256(fs.readFileSync(image)), before, 'the image is unchanged (no boot was written)')
  t.same(fs.readdirSync(mnt), [], 'nothing mounted')
})
