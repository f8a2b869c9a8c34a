/**
 * A real second user for the tests: created with useradd when missing (no home, no shell), and
 * commands run as that user in a private mount namespace where a 0666 /dev/fuse node is bound
 * over the host's root-only one (the machine's /dev/fuse is crw-------). The user runs the built
 * package from a world-readable copy (`userPackage()`), never from the checkout: a clone in a
 * 0700 folder (any checkout under /root or a private home) is out of its reach.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { repoRoot } from './fixtures.js'
import { type RunResult, run } from './mount.js'

export const TEST_USER = 'pstoresim-test'

/** The uid of the test user, or why there is none. */
export async function testUser(): Promise<number | string> {
  if (process.getuid?.() !== 0) return 'needs root to create the test user'
  let id = await run('id', ['-u', TEST_USER])
  if (id.code !== 0) {
    const add = await run('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', TEST_USER])
    if (add.code !== 0) return `cannot create the test user: useradd ${TEST_USER} failed: ${add.stderr.trim() || `exit ${add.code} (is useradd installed?)`}`
    id = await run('id', ['-u', TEST_USER])
  }
  return Number(id.stdout.toString().trim())
}

/** `command` as `uid` (gid = uid, no supplementary groups), with only HOME, PATH and `env`. */
export function asUserArgs(uid: number, home: string, command: string[], env: Record<string, string> = {}): string[] {
  return [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--',
    'env',
    '-i',
    `HOME=${home}`,
    `PATH=${process.env.PATH}`,
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...command,
  ]
}

/**
 * A runner of commands as `uid` in a private mount namespace with a 0666 /dev/fuse made in `dir`
 * (which the user then owns).
 */
export async function userRunner(uid: number, dir: string): Promise<(command: string[], env?: Record<string, string>) => Promise<RunResult>> {
  fs.chownSync(dir, uid, uid)
  const fuseNode = path.join(dir, 'fuse')
  if (!fs.existsSync(fuseNode)) {
    const mknod = await run('mknod', ['-m', '666', fuseNode, 'c', '10', '229'])
    if (mknod.code !== 0) throw new Error(`mknod ${fuseNode}: ${mknod.stderr}`)
  }
  return (command, env = {}) =>
    run('unshare', [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount --bind "$1" /dev/fuse && shift && exec "$@"',
      'sh',
      fuseNode,
      ...asUserArgs(uid, dir, command, env),
    ])
}

/**
 * The built package as `npm pack` would ship it (package.json's `files`: bin/, dist/src/, …) and
 * the runtime dependencies it loads (package.json's `dependencies`, with theirs), and the native
 * addons `npm run setup` built in native/build/Release (a package ships native/'s sources and
 * builds them where it is installed), copied once per test process into a temporary directory
 * every user can read, removed when the process ends. `cli` is its dist/src/cli/main.js.
 */
export function userPackage(): Promise<{ dir: string; cli: string }> {
  packageCopy ??= copyPackage()
  return packageCopy
}
let packageCopy: Promise<{ dir: string; cli: string }> | undefined

async function copyPackage(): Promise<{ dir: string; cli: string }> {
  const pack = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot })
  if (pack.code !== 0) throw new Error(`npm pack --dry-run in ${repoRoot}: ${pack.stderr.trim()}`)
  const files = (JSON.parse(pack.stdout.toString())[0].files as Array<{ path: string }>).map((f) => f.path)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-user-package-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  for (const file of files) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.copyFileSync(path.join(repoRoot, file), path.join(dir, file))
  }
  const addons = path.join(repoRoot, 'native', 'build', 'Release')
  for (const addon of fs.readdirSync(addons).filter((f) => f.endsWith('.node'))) {
    fs.mkdirSync(path.join(dir, 'native', 'build', 'Release'), { recursive: true })
    fs.copyFileSync(path.join(addons, addon), path.join(dir, 'native', 'build', 'Release', addon))
  }
  for (const name of runtimeDependencies()) {
    fs.cpSync(path.join(repoRoot, 'node_modules', name), path.join(dir, 'node_modules', name), { recursive: true, dereference: true })
  }
  openToEveryone(dir)
  return { dir, cli: path.join(dir, 'dist', 'src', 'cli', 'main.js') }
}

/**
 * package.json's dependencies and theirs, as installed at the top of node_modules (one nested
 * below a package is copied with it).
 */
function runtimeDependencies(): string[] {
  const seen = new Set<string>()
  const visit = (pkgDir: string): void => {
    const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
    }
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      const top = path.join(repoRoot, 'node_modules', name)
      if (seen.has(name) || !fs.existsSync(path.join(top, 'package.json'))) continue
      seen.add(name)
      visit(top)
    }
  }
  visit(repoRoot)
  return [...seen]
}

/** Read (and, where the owner may, execute) for everyone on every file and folder below `dir`, whatever the umask was. */
function openToEveryone(dir: string): void {
  fs.chmodSync(dir, 0o755)
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) openToEveryone(full)
    else if (entry.isFile()) {
      const mode = fs.statSync(full).mode & 0o777
      fs.chmodSync(full, mode | 0o444 | (mode & 0o100 ? 0o111 : 0))
    }
  }
}
