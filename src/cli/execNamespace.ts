/**
 * The inside of `pstore-sim exec`: runs as `unshare --mount … node execNamespace.js SPEC`, in a
 * private mount namespace, so every mount below is seen by this process and its children only.
 * It builds the namespace (a /dev of its own holding pmsg0, the pstore mount on /sys/fs/pstore,
 * an efi target's variables on /sys/firmware/efi/efivars, the caller's --tmpfs and --bind), tells the outer process over fd 3, then runs the command and
 * exits with its status. Every program is run with an argument array, never through a shell.
 */

import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface NamespaceSpec {
  /** The pstore-sim mountpoint to show on /sys/fs/pstore. */
  pstore: string
  /** The mount's pmsg FIFO, bound on /dev/pmsg0 (none for a read-only mount). */
  fifo?: string
  /** An efi mount's efivarfs view, bound on /sys/firmware/efi/efivars. */
  efivars?: string
  /** An empty directory of the outer process's, where the host's /dev is reached while copying. */
  stage: string
  tmpfs: string[]
  binds: Array<{ src: string; dst: string }>
  command: string[]
}

/**
 * The host /dev entries a program expects (the set container runtimes provide, plus kmsg and
 * console for loggers); anything else is given with --bind /dev/X:/dev/X. Binding every entry
 * would cost one mount(8) per node: seconds on a loaded machine.
 */
const DEV_ENTRIES = [
  'null',
  'zero',
  'full',
  'random',
  'urandom',
  'tty',
  'console',
  'kmsg',
  'ptmx',
  'pts',
  'shm',
  'mqueue',
  'hugepages',
  'fd',
  'stdin',
  'stdout',
  'stderr',
  'core',
  'log',
]

export const PSTORE_DIR = '/sys/fs/pstore'

class SetupFailure extends Error {}

function mount(args: string[]): void {
  try {
    execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim()
    throw new SetupFailure(`mount ${args.join(' ')}: ${stderr || (err as Error).message}`)
  }
}

/** Creates `dst` as the kind of thing `src` is (a directory, or an empty file to bind over). */
function createLike(src: string, dst: string): void {
  fs.mkdirSync(path.dirname(dst), { recursive: true })
  if (fs.statSync(src).isDirectory()) fs.mkdirSync(dst)
  else fs.writeFileSync(dst, '')
}

/** Binds the entries `names` of `stage` (the host's directory, reached there) into `dir` (a fresh tmpfs). */
function bindEntries(stage: string, dir: string, names: string[]): void {
  for (const name of names) {
    const src = path.join(stage, name)
    const dst = path.join(dir, name)
    let st: fs.Stats
    try {
      st = fs.lstatSync(src)
    } catch {
      continue
    }
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst)
    else {
      createLike(src, dst)
      mount([st.isDirectory() ? '--rbind' : '--bind', src, dst])
    }
  }
}

/** The stage's view of the host's directory let go (it stays bound where bindEntries put its entries). */
function releaseStage(stage: string): void {
  mount(['--make-rprivate', stage])
  execFileSync('umount', ['-l', stage], { stdio: 'ignore' })
}

/** The host's /dev is reached through `stage` while a tmpfs takes /dev's place. */
function privateDev(spec: NamespaceSpec): void {
  mount(['--rbind', '/dev', spec.stage])
  mount(['-t', 'tmpfs', '-o', 'mode=0755,nosuid,size=1m', 'pstore-sim-dev', '/dev'])
  bindEntries(spec.stage, '/dev', DEV_ENTRIES)
  if (spec.fifo) {
    fs.writeFileSync('/dev/pmsg0', '')
    mount(['--bind', spec.fifo, '/dev/pmsg0'])
  }
  releaseStage(spec.stage)
}

export const EFIVARS_DIR = '/sys/firmware/efi/efivars'

/**
 * An efi target's variables on /sys/firmware/efi/efivars (any other target: an empty read-only
 * directory there, if the host has one). On a host booted without EFI the path
 * is missing and sysfs takes no mkdir: the deepest directory of it that exists (/sys/firmware) is
 * covered by a tmpfs holding the host's entries again, and the missing directories.
 */
function efivars(spec: NamespaceSpec): void {
  if (!spec.efivars) {
    // a target without a variable store: an EFI host's own NVRAM stays out of the command's reach
    if (fs.existsSync(EFIVARS_DIR)) mount(['-t', 'tmpfs', '-o', 'ro,mode=0755,size=4k', 'pstore-sim-no-efivars', EFIVARS_DIR])
    return
  }
  let existing = EFIVARS_DIR
  while (!fs.existsSync(existing)) existing = path.dirname(existing)
  if (existing !== EFIVARS_DIR) {
    if (!existing.startsWith('/sys/firmware')) throw new SetupFailure(`${EFIVARS_DIR}: this host has no /sys/firmware to put it in`)
    mount(['--rbind', existing, spec.stage])
    mount(['-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'pstore-sim-firmware', existing])
    bindEntries(spec.stage, existing, fs.readdirSync(spec.stage))
    releaseStage(spec.stage)
    fs.mkdirSync(EFIVARS_DIR, { recursive: true })
  }
  mount(['--bind', spec.efivars, EFIVARS_DIR])
}

function build(spec: NamespaceSpec): void {
  privateDev(spec)
  mount(['--bind', spec.pstore, PSTORE_DIR])
  efivars(spec)
  for (const dir of spec.tmpfs) {
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true }) // only under a private tmpfs (checked outside)
    mount(['-t', 'tmpfs', '-o', 'mode=0755', 'pstore-sim-tmpfs', dir])
  }
  for (const { src, dst } of spec.binds) {
    if (!fs.existsSync(dst)) createLike(src, dst) // only under a private tmpfs (checked outside)
    mount([fs.statSync(src).isDirectory() ? '--rbind' : '--bind', src, dst])
  }
}

function report(message: string): void {
  try {
    fs.writeSync(3, message + '\n')
    fs.closeSync(3) // not for the command
  } catch {
    /* the outer process is gone: nothing to tell */
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

function runCommand(command: string[]): void {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit' })
  // A terminal's ^C reaches the command itself (same process group); a kill of this process is passed on.
  for (const s of SIGNALS) process.on(s, () => child.kill(s))
  child.on('error', (err) => {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    process.stderr.write(`pstore-sim exec: ${command[0]}: ${missing ? 'command not found' : err.message}\n`)
    process.exit(missing ? 127 : 126)
  })
  child.on('exit', (code, signal) => {
    // as a shell reports it: 128 + the signal's number
    process.exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 0)
  })
}

const spec = JSON.parse(process.argv[2] ?? '{}') as NamespaceSpec
try {
  build(spec)
} catch (err) {
  report(`error ${(err as Error).message.replace(/\n/g, ' ')}`)
  process.exit(2)
}
report('ready')
runCommand(spec.command)
