/**
 * `pstore-sim exec TARGET [--] COMMAND [ARGS...]`: runs a crash collector as it runs on a
 * device, against a simulated pstore, without touching the host: in a private mount namespace
 * (`unshare --mount`, with a user namespace for an ordinary user) /sys/fs/pstore is TARGET's
 * mount, /dev/pmsg0 its pmsg FIFO and, for an efi TARGET, /sys/firmware/efi/efivars its
 * variables (its daemon's second mount). The namespace is built by execNamespace.ts, inside it.
 */

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDaemon, unmount } from '../daemon/client.js'
import { findDaemon } from '../daemon/registry.js'
import { EnvironmentError, PstoreSimError } from '../util/errors.js'
import type { NamespaceSpec } from './execNamespace.js'
import { parseMountOptionList } from './mountOptions.js'

const insidePath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'execNamespace.js')

export interface ExecArgs {
  target: string
  tmpfs: string[]
  binds: Array<{ src: string; dst: string }>
  mountOptions?: string
  command: string[]
}

const USAGE = 'pstore-sim exec TARGET [--tmpfs DIR] [--bind SRC:DST] [-o OPTIONS] [--] COMMAND [ARGS...]'

function usage(why: string): PstoreSimError {
  return new PstoreSimError(`exec: ${why} (usage: ${USAGE})`)
}

/**
 * Options come before COMMAND; everything from COMMAND on is the command's own (as with env(1)
 * and unshare(1)), so a command's `--help` is never ours. Undefined: `--help` for exec itself.
 */
export function parseExecArgs(args: string[]): ExecArgs | undefined {
  const out: ExecArgs = { target: '', tmpfs: [], binds: [], command: [] }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--') {
      out.command = args.slice(i + 1)
      break
    }
    if (a === '--help' || a === '-h') return undefined
    if (!a.startsWith('-') || a === '-') {
      if (!out.target) {
        out.target = a
        continue
      }
      out.command = args.slice(i)
      break
    }
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const value = () => {
      const v = inline ?? args[++i]
      if (v === undefined || v === '') throw usage(`${flag} needs a value`)
      return v
    }
    if (flag === '--tmpfs') out.tmpfs.push(path.resolve(value()))
    else if (flag === '--bind') {
      const v = value()
      const colon = v.indexOf(':')
      if (colon <= 0 || colon === v.length - 1) throw usage(`--bind ${v}: expected SRC:DST, e.g. --bind /etc/hosts:/etc/hosts`)
      out.binds.push({ src: path.resolve(v.slice(0, colon)), dst: path.resolve(v.slice(colon + 1)) })
    } else if (flag === '-o') out.mountOptions = value()
    else throw usage(`unknown option ${a}; put -- before a command that starts with -`)
  }
  if (!out.target) throw usage('give TARGET, an image or a pstore-sim mountpoint')
  if (!out.command.length) throw usage('give the COMMAND to run')
  return out
}

/** Whether `p` lies below a tmpfs the namespace mounts (so creating it there leaves no trace). */
function underPrivateTmpfs(p: string, tmpfs: string[]): boolean {
  return ['/dev', ...tmpfs].some((dir) => p.startsWith(dir + '/'))
}

/** Refuses, before anything changes, what would need the host's tree changed. */
function checkPaths(a: ExecArgs): void {
  a.tmpfs.forEach((dir, i) => {
    const earlier = a.tmpfs.slice(0, i)
    if (fs.existsSync(dir) ? !fs.statSync(dir).isDirectory() : !underPrivateTmpfs(dir, earlier)) {
      throw new PstoreSimError(`--tmpfs ${dir}: not an existing directory; create it first (exec never creates anything outside its namespace)`)
    }
  })
  for (const { src, dst } of a.binds) {
    if (!fs.existsSync(src)) throw new PstoreSimError(`--bind ${src}:${dst}: ${src} does not exist`)
    if (!fs.existsSync(dst) && !underPrivateTmpfs(dst, a.tmpfs)) {
      throw new PstoreSimError(`--bind ${src}:${dst}: ${dst} does not exist; create it first, or put it under /dev or a --tmpfs directory`)
    }
  }
}

function inPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, program)))
}

/** unshare's arguments for this user; an ordinary user needs a user namespace, checked first. */
function unshareArgs(): string[] {
  for (const p of ['unshare', 'mount', 'umount']) {
    if (!inPath(p)) throw new EnvironmentError(`exec needs ${p} (util-linux) in PATH: apt-get install util-linux mount`)
  }
  const args = ['--mount', '--propagation', 'private']
  if (process.getuid?.() === 0) return args
  args.push('--map-root-user')
  const probe = spawnSync('unshare', [...args, 'true'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    const why =
      (probe.stderr || '')
        .trim()
        .split('\n')
        .pop()
        ?.replace(/^unshare: /, '') || `exit ${probe.status}`
    throw new EnvironmentError(
      `exec: this kernel gives uid ${process.getuid?.()} no user namespace (${why}): run it as root, or allow them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0, kernel.apparmor_restrict_unprivileged_userns=0)`,
    )
  }
  return args
}

interface Target {
  mountpoint: string
  fifo?: string
  /** An efi target's efivarfs view (its daemon's second mount). */
  efivars?: string
  /** Set when exec mounted an image itself: unmount after the command. */
  ownMount: boolean
}

async function resolveTarget(a: ExecArgs, work: string): Promise<Target> {
  const daemon = findDaemon(a.target)
  if (daemon) {
    if (a.mountOptions !== undefined) throw new PstoreSimError(`exec -o: ${a.target} is already mounted; -o applies to an image exec mounts itself`)
    return { mountpoint: daemon.mountpoint, fifo: daemon.fifo, efivars: daemon.efivars, ownMount: false }
  }
  if (!fs.existsSync(a.target)) throw new PstoreSimError(`exec: ${a.target}: no such image or mountpoint`)
  if (fs.statSync(a.target).isDirectory())
    throw new PstoreSimError(`exec: ${a.target}: no pstore-sim daemon serves this directory; give a mounted mountpoint or an image`)
  const mountpoint = path.join(work, 'pstore')
  const options = { ...parseMountOptionList(a.mountOptions), image: path.resolve(a.target), mountpoint }
  await startDaemon(options)
  const record = findDaemon(mountpoint)
  return { mountpoint, fifo: record?.fifo, efivars: record?.efivars, ownMount: true }
}

/** Runs unshare + the inside; resolves with the command's status, or fails as the setup did. */
function runInNamespace(args: string[], spec: NamespaceSpec): Promise<number> {
  const child = spawn('unshare', [...args, process.execPath, insidePath, JSON.stringify(spec)], { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] })
  let said = ''
  child.stdio[3]!.on('data', (d: Buffer) => (said += d.toString()))
  // ^C at a terminal reaches the whole process group; this process waits to clean up.
  const forward = (s: NodeJS.Signals) => () => child.kill(s)
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const)
  for (const [s, h] of handlers) process.on(s, h)
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new EnvironmentError(`exec: cannot run unshare: ${err.message}`)))
    child.on('close', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h)
      if (said.startsWith('error ')) return reject(new EnvironmentError(`exec: cannot set up the namespace: ${said.slice(6).trim()}`))
      if (!said.startsWith('ready')) return reject(new EnvironmentError(`exec: unshare failed (exit ${code ?? signal}) before the namespace was ready`))
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0))
    })
  })
}

export async function runExec(rawArgs: string[]): Promise<void> {
  const a = parseExecArgs(rawArgs)
  if (!a) throw new PstoreSimError('exec: --help is handled by the parser')
  checkPaths(a)
  const args = unshareArgs()
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-exec-'))
  let target: Target | undefined
  try {
    fs.mkdirSync(path.join(work, 'stage'))
    target = await resolveTarget(a, work)
    const spec: NamespaceSpec = {
      pstore: target.mountpoint,
      fifo: target.fifo,
      efivars: target.efivars,
      stage: path.join(work, 'stage'),
      tmpfs: a.tmpfs,
      binds: a.binds,
      command: a.command,
    }
    process.exitCode = await runInNamespace(args, spec)
  } finally {
    if (target?.ownMount) await unmount(target.mountpoint)
    fs.rmSync(work, { recursive: true, force: true })
  }
}
