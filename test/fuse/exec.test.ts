/**
 * `pstore-sim exec`: real collectors in a private mount namespace (systemd-pstore with no
 * arguments, a shell writing /dev/pmsg0), and the host left as it was.
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { liveMounts } from '../../src/daemon/registry.js'
import { describeDiff } from '../helpers/fixtures.js'
import { cat, cliJs, demoImage, ls, mountBReboot, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'
import { testUser, userPackage, userRunner } from '../helpers/user.js'

const SYSTEMD_PSTORE = '/lib/systemd/systemd-pstore'

/** What the host shows of pstore and pmsg: must not change through an exec. */
function hostView(): { pstore: string[]; pmsg0: boolean; mounts: string[] } {
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && !m.startsWith('/tmp/')) // other tests' mounts come and go in /tmp
  return { pstore: fs.readdirSync('/sys/fs/pstore').sort(), pmsg0: fs.existsSync('/dev/pmsg0'), mounts: mounts.sort() }
}

t.test(
  "systemd-pstore, run as its unit runs it (no arguments), archives and erases: the image equals the kernel's erase",
  { skip: !fs.existsSync(SYSTEMD_PSTORE) && `${SYSTEMD_PSTORE} missing: npm run setup installs Debian's systemd` },
  async (t) => {
    const dir = tempDir(t)
    const { fixture: c, image, mnt } = await mountBReboot(t, dir)
    const archive = path.join(dir, 'archive')
    fs.mkdirSync(archive)
    const hostBefore = hostView()
    const hostArchive = fs.existsSync('/var/lib/systemd/pstore') ? fs.readdirSync('/var/lib/systemd/pstore') : undefined
    const r = await run(process.execPath, [cliJs, 'exec', mnt, '--bind', `${archive}:/var/lib/systemd/pstore`, '--', SYSTEMD_PSTORE])
    t.equal(r.code, 0, `systemd-pstore exits 0: ${r.stderr}`)
    const kernelFile = c.listing().files.find((f) => f.name === 'dmesg-ramoops-0')!
    const archived = fs.readFileSync(path.join(archive, 'dmesg-ramoops-0'))
    t.ok(archived.equals(Buffer.from(kernelFile.content_b64, 'base64')), "the archived dmesg-ramoops-0 holds the kernel's bytes")
    t.match(fs.readFileSync(path.join(archive, 'dmesg.txt'), 'latin1'), /Kernel panic|Oops|panic/i, 'and dmesg.txt, rebuilt from it')
    t.same(await ls(mnt), [], 'every record erased')
    const erased = c.read('region-after-erase.bin')
    const now = fs.readFileSync(image)
    t.ok(now.equals(erased), `image = b-reboot/region-after-erase.bin (${describeDiff(now, erased)})`)
    t.same(hostView(), hostBefore, "the host's /sys/fs/pstore, /dev/pmsg0 and mounts are as before")
    t.same(
      fs.existsSync('/var/lib/systemd/pstore') ? fs.readdirSync('/var/lib/systemd/pstore') : undefined,
      hostArchive,
      "the host's /var/lib/systemd/pstore untouched",
    )
  },
)

t.test('a shell inside exec writes /dev/pmsg0: after reboot the text is pmsg-ramoops-0; status and stdio pass through', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountImage(t, image, mnt)
  const hostBefore = hostView()
  const w = await run(
    process.execPath,
    [cliJs, 'exec', mnt, 'sh', '-c', 'test -p /dev/pmsg0 && printf "boot 1: ok\\n" > /dev/pmsg0 && cat && echo to-stderr >&2; exit 7'],
    { input: 'from stdin' },
  )
  t.equal(w.code, 7, "exit status = the command's")
  t.equal(w.stdout.toString(), 'from stdin', 'stdin reaches the command, its stdout comes back')
  t.equal(w.stderr, 'to-stderr\n', 'stderr passes through, nothing of ours added')
  t.same(hostView(), hostBefore, 'no /dev/pmsg0 and no new mount on the host')
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'boot 1: ok\n', 'pmsg-ramoops-0 holds what was written')
  const ro = await run(process.execPath, [cliJs, 'exec', mnt, '--', 'sh', '-c', 'ls /sys/fs/pstore; ls /dev | grep -c pmsg0; exit 0'])
  t.equal(ro.stdout.toString(), 'console-ramoops-0\npmsg-ramoops-0\n1\n', "the command sees the mount's files on /sys/fs/pstore")
})

t.test('an image TARGET is mounted for the command and unmounted after; --tmpfs gives a private directory', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  t.equal((await pstoreSim(['panic', image])).code, 0)
  // its own TMPDIR: other suites' exec runs (tap runs two files at once) make theirs in /tmp
  const tmp = path.join(dir, 'tmp')
  fs.mkdirSync(tmp)
  const workDirs = () => fs.readdirSync(tmp).filter((n) => n.startsWith('pstore-sim-exec-'))
  const r = await run(
    process.execPath,
    [
      cliJs,
      'exec',
      image,
      '--tmpfs',
      '/var/lib/systemd/pstore',
      '--',
      'sh',
      '-c',
      'ls /sys/fs/pstore; touch /var/lib/systemd/pstore/mine; ls /var/lib/systemd/pstore; ls "$TMPDIR" >&2',
    ],
    { env: { ...process.env, TMPDIR: tmp } },
  )
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout.toString(), 'console-ramoops-0\ndmesg-ramoops-0\nmine\n')
  t.match(r.stderr, /^pstore-sim-exec-/m, 'the mount was in a work directory of its own under $TMPDIR while the command ran')
  t.notOk(fs.existsSync('/var/lib/systemd/pstore/mine'), 'the tmpfs stayed inside')
  t.same(
    liveMounts().filter((m) => m.image === image),
    [],
    'no daemon left serving the image',
  )
  t.same(workDirs(), [], 'its work directory removed')
  const missing = await run(process.execPath, [cliJs, 'exec', image, 'no-such-command-xyz'])
  t.equal(missing.code, 127, 'a command that does not exist: 127, as a shell')
})

t.test('bad input: one line naming the argument, exit 1, nothing run', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const cases: Array<[string[], RegExp]> = [
    [['exec', image], /give the COMMAND/],
    [['exec'], /give TARGET/],
    [['exec', path.join(dir, 'missing.img'), 'true'], /missing\.img: no such image or mountpoint/],
    [['exec', dir, 'true'], /no pstore-sim daemon serves this directory/],
    [['exec', image, '--bind', 'nocolon', 'true'], /--bind nocolon: expected SRC:DST/],
    [['exec', image, '--bind', `${dir}:/nonexistent-dir-xyz`, 'true'], /\/nonexistent-dir-xyz does not exist; create it first/],
    [['exec', image, '--tmpfs', '/nonexistent-dir-xyz', 'true'], /--tmpfs \/nonexistent-dir-xyz: not an existing directory/],
    [['exec', image, '--frobnicate', 'true'], /unknown option --frobnicate/],
    [['exec', image, '-o', 'bogus', 'true'], /-o bogus: unknown mount option/],
  ]
  for (const [args, message] of cases) {
    const r = await pstoreSim(args)
    t.equal(r.code, 1, `${args.slice(1).join(' ')}: exit 1`)
    t.match(r.stderr, message, `${args.slice(1).join(' ')}: says why`)
    t.equal(r.stderr.trim().split('\n').length, 1, 'in one line')
  }
  t.notOk(fs.existsSync('/nonexistent-dir-xyz'), 'nothing created')
})

const testUid = await testUser()
t.test('an ordinary user: exec mounts its image and runs the command in a user namespace', { skip: typeof testUid === 'string' && testUid }, async (t) => {
  const uid = testUid as number
  const dir = tempDir(t)
  // /dev/fuse is root-only here: a 0666 node bound over it in a private namespace of the test's.
  const runAsUser = await userRunner(uid, dir)
  // the user runs the package from a copy it can read, not from the checkout (helpers/user.ts)
  const userCli = (await userPackage()).cli
  const asUser = (args: string[]) => runAsUser([process.execPath, userCli, ...args])
  const image = path.join(dir, 'demo.img')
  t.equal((await asUser(['format', image, '--mem-size', '1M', '--pmsg-size', '4K'])).code, 0, 'format as the user')
  const r = await asUser(['exec', image, '--', 'sh', '-c', 'ls /sys/fs/pstore; printf user-pmsg > /dev/pmsg0; exit 3'])
  t.equal(r.code, 3, `the command's status: ${r.stderr}`)
  t.equal(r.stderr, '', 'nothing on stderr')
  t.equal(r.stdout.toString(), 'console-ramoops-0\n', "it sees the image's pstore")
  const inspect = await pstoreSim(['inspect', image, '--json', '--content'])
  const pmsg = (JSON.parse(inspect.stdout.toString()).records as Array<{ name: string; contentBase64?: string }>).find((f) => f.name === 'pmsg-ramoops-0')
  t.equal(Buffer.from(pmsg?.contentBase64 ?? '', 'base64').toString(), 'user-pmsg', 'its /dev/pmsg0 write is in the image')
  t.notOk(fs.existsSync('/dev/pmsg0'), 'no /dev/pmsg0 on the host')
})
