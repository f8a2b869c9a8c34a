/**
 * native-setup/packages.sh never removes a package. Debian's legacy `fuse` and `fuse3` exclude
 * each other, and sshfs, rclone, flatpak… depend on fuse3: a setup that installs the wrong one
 * uninstalls them (issue 27). Two kinds of check:
 *   - the real machine: every package the script would ever install here, handed to the real
 *     apt-get in simulation, removes nothing;
 *   - the decisions on machines we are not (legacy fuse, no FUSE at all, a plan apt says would
 *     remove something, Fedora/Arch without dpkg, an ordinary user): the script runs for real
 *     with dpkg-query, apt-get, id and pkg-config replaced by small recorders on PATH, since
 *     those machines cannot be made here without installing and removing packages.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { tempDir } from '../helpers/mount.js'

const script = path.join(repoRoot, 'native-setup', 'packages.sh')
const bash = fs.existsSync('/bin/bash') ? '/bin/bash' : 'bash'

interface Machine {
  /** Debian packages the stand-in dpkg-query reports installed. */
  installed?: string[]
  /** Packages apt-get's simulation says it would remove. */
  removes?: string[]
  /** Without dpkg at all: the contents of os-release. */
  osRelease?: string
  /** Whether pkg-config finds fuse3. */
  fuse3Headers?: boolean
  uid?: number
}

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
  /** Every apt-get call, one line of arguments each. */
  aptCalls: string[]
  installedAfter: string[]
}

const exe = (file: string, body: string): void => {
  fs.writeFileSync(file, `#!${bash}\n${body}\n`, { mode: 0o755 })
}

/** Runs packages.sh ARGS on a machine described by `machine`, with real bash, sed and coreutils. */
function runOn(t: Test, machine: Machine, args: string[] = []): Outcome {
  const dir = tempDir(t, 'pstore-sim-packages-')
  const bin = path.join(dir, 'bin')
  fs.mkdirSync(bin)
  const state = path.join(dir, 'installed')
  const log = path.join(dir, 'apt.log')
  fs.writeFileSync(state, (machine.installed ?? []).map((p) => `${p}\n`).join(''))
  fs.writeFileSync(log, '')
  // Only what the script may use: the real tools it needs, linked by name, and stand-ins.
  for (const tool of ['env', 'sed', 'tr', 'mktemp', 'rm', 'tail', 'grep', 'cat', 'make', 'g++', 'cc', 'python3', 'unshare']) {
    const real = spawnSync(bash, ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim()
    if (real) fs.symlinkSync(real, path.join(bin, tool))
  }
  exe(path.join(bin, 'id'), `echo ${machine.uid ?? 0}`)
  exe(path.join(bin, 'sudo'), 'exit 1')
  exe(path.join(bin, 'pkg-config'), machine.fuse3Headers === false ? 'exit 1' : 'exit 0')
  if (machine.osRelease === undefined) {
    exe(path.join(bin, 'dpkg-query'), `p="\${@: -1}"; grep -qx -- "$p" '${state}' && { printf installed; exit 0; }; exit 1`)
    const removes = (machine.removes ?? []).map((p) => `echo "Remv ${p} [1.0]"`).join('; ')
    exe(
      path.join(bin, 'apt-get'),
      `echo "$*" >> '${log}'
case " $* " in *" -s "*) ${removes || ':'}; exit 0 ;; esac
case " $* " in *" install "*) for a in "$@"; do case "$a" in -*|install|DPkg::*) ;; *) echo "$a" >> '${state}' ;; esac; done ;; esac
exit 0`,
    )
  }
  const osRelease = path.join(dir, 'os-release')
  fs.writeFileSync(osRelease, machine.osRelease ?? '')
  const r = spawnSync(bash, [script, ...args], {
    encoding: 'utf8',
    env: { PATH: bin, HOME: dir, TMPDIR: dir, PSTORE_SIM_OS_RELEASE: osRelease },
  })
  const lines = (f: string): string[] => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean)
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, aptCalls: lines(log), installedAfter: lines(state) }
}

const hasApt = spawnSync(bash, ['-c', 'command -v apt-get && command -v dpkg-query']).status === 0
t.test(
  'this machine: apt-get removes nothing for any package the setup would install',
  { skip: hasApt ? false : 'no apt-get/dpkg-query on this machine: the distribution check below covers it' },
  (t) => {
    const wanted = spawnSync(bash, [script, '--wanted'], { encoding: 'utf8' })
    t.equal(wanted.status, 0, wanted.stderr)
    const packages = wanted.stdout.trim().split(/\s+/).filter(Boolean)
    t.ok(packages.includes('libfuse3-dev'), `the build's headers are wanted: ${packages.join(' ')}`)
    t.notOk(packages.includes('fuse'), 'the legacy fuse package is never wanted')
    const sim = spawnSync('apt-get', ['-s', 'install', '--no-install-recommends', ...packages], {
      encoding: 'utf8',
      env: { ...process.env, LC_ALL: 'C' },
    })
    t.equal(sim.status, 0, `apt-get -s install ${packages.join(' ')}: ${sim.stderr}`)
    t.same(
      sim.stdout.split('\n').filter((l) => l.startsWith('Remv ')),
      [],
      'the simulation removes no package',
    )
    t.end()
  },
)

t.test('a machine with the legacy fuse: libfuse 3 beside it, fuse3 never, --no-remove', (t) => {
  const r = runOn(t, { installed: ['fuse', 'libfuse2', 'pkg-config'] })
  t.equal(r.status, 0, r.stderr)
  const install = r.aptCalls.filter((c) => / install /.test(` ${c} `) && !c.includes(' -s '))
  t.equal(install.length, 1, `one real install: ${r.aptCalls.join(' | ')}`)
  t.match(install[0], /--no-remove/)
  t.match(install[0], /libfuse3-3 libfuse3-dev$/)
  t.notMatch(install[0], /\bfuse3\b(?!-)/, 'fuse3 would replace the legacy fuse')
  t.ok(
    r.aptCalls.some((c) => c.includes(' -s ')),
    'apt was asked first what it would do',
  )
  t.match(r.stdout, /legacy fuse package is installed: root mounts work; an ordinary user's mount needs fusermount3/)
  t.end()
})

t.test('a machine without any FUSE package gets fuse3 for ordinary users', (t) => {
  const plan = runOn(t, { installed: [] }, ['--plan'])
  t.equal(plan.status, 0, plan.stderr)
  t.same(plan.stdout.trim().split(' '), ['libfuse3-3', 'libfuse3-dev', 'pkg-config', 'fuse3'])
  t.same(plan.aptCalls, [], '--plan changes nothing')
  t.end()
})

t.test('a machine with fuse3 and sshfs: nothing to install, nothing touched', (t) => {
  const r = runOn(t, { installed: ['fuse3', 'sshfs', 'rclone', 'libfuse3-3', 'libfuse3-dev', 'pkg-config'] })
  t.equal(r.status, 0, r.stderr)
  t.same(r.aptCalls, [], 'apt-get never runs')
  t.equal(r.stdout, '', 'quiet when there is nothing to do')
  t.end()
})

t.test('a plan apt says would remove a package fails before any change, naming it', (t) => {
  const r = runOn(t, { installed: ['fuse3'], removes: ['sshfs', 'rclone'] })
  t.equal(r.status, 2)
  t.match(r.stderr, /^setup: ERROR: installing libfuse3-3 libfuse3-dev pkg-config would remove sshfs rclone \(pstore-sim never removes a package\)\n/)
  t.notOk(
    r.aptCalls.some((c) => / install /.test(` ${c} `) && !c.includes(' -s ')),
    `no real install ran: ${r.aptCalls.join(' | ')}`,
  )
  t.same(r.installedAfter, ['fuse3'])
  t.end()
})

t.test('an ordinary user without sudo is told the one command to run', (t) => {
  const r = runOn(t, { installed: [], uid: 1000 })
  t.equal(r.status, 2)
  t.match(r.stderr, /^setup: ERROR: missing Debian packages: libfuse3-3 libfuse3-dev pkg-config fuse3 \(not root/)
  t.match(r.stderr, /run: sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends --no-remove /)
  t.same(r.aptCalls, [])
  t.end()
})

t.test("without dpkg, the distribution's own packages are named", (t) => {
  const cases: Array<[string, RegExp]> = [
    ['ID=fedora\n', /run: sudo dnf install fuse3 fuse3-devel /],
    ['ID=arch\n', /run: sudo pacman -S --needed fuse3 /],
    ['ID=alpine\n', /run: sudo apk add fuse3 fuse3-dev /],
    ['ID=rocky\nID_LIKE="rhel centos fedora"\n', /run: sudo dnf install fuse3 fuse3-devel /],
  ]
  for (const [osRelease, advice] of cases) {
    const r = runOn(t, { osRelease, fuse3Headers: false })
    t.equal(r.status, 2, osRelease)
    t.match(r.stderr, /^setup: ERROR: missing: the libfuse 3 headers \(pkg-config fuse3\)/)
    t.match(r.stderr, advice, osRelease)
    t.notMatch(r.stderr, /apt/, 'no apt words where there is no apt')
  }
  const ok = runOn(t, { osRelease: 'ID=fedora\n', fuse3Headers: true })
  t.equal(ok.status, 0, 'headers found: nothing asked')
  t.end()
})
