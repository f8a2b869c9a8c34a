/**
 * Talking to daemons from another process: start one in the background and wait until its
 * mount is usable, send it events, unmount it and wait for its last write. Used by the CLI and
 * by the JS API (a daemon never runs inside the caller's process: FUSE handlers run on the
 * daemon's event loop, so a synchronous `fs` call on the mount from that process would deadlock).
 */

import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { EventResult, KernelEvent } from '../machine/events.js'
import { EnvironmentError, ExitCode, errorWithExitCode, PstoreSimError, type WireError } from '../util/errors.js'
import { createExclusive } from '../util/files.js'
import { childProcess } from '../util/lazyBuiltins.js'
import { type ControlRequest, sendControl, sendEvent } from './control.js'
import type { MountOptions } from './daemon.js'
import { removeStaleEfivars } from './efivarsDir.js'
import { detachMount } from './mountpoint.js'
import { defaultFifoPath, removeStaleFifo } from './pmsgFifo.js'
import { isMounted, liveDaemon, logPath, processAlive, readMountRecord, removeMountRecord, runDir } from './registry.js'

// dist/src/daemon/main.cjs (the daemon's bundle, scripts/bundle.mjs), from this module
// (dist/src/daemon/client.js) or from the CLI's bundle (dist/src/cli/main.js), which holds this
// module: both are one level below dist/src.
const daemonMainPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'daemon', 'main.cjs')

/**
 * A daemon process started before its options are known: Node's start-up and the daemon's
 * modules load while the CLI is still parsing its arguments (two cores, half the wait).
 * `startDaemon(options, early)` hands it the options; if the CLI never does (a parse error, a
 * crash), the daemon sees the IPC channel close and exits, removing its log: the daemon alone
 * owns that file until it is renamed to the mount's log.
 */
export interface EarlyDaemon {
  child: ChildProcess
  logFile: string
}

/**
 * The daemon's environment: glibc's malloc asks for transparent huge pages for its big blocks
 * (the region, inflated records, the pmsg ring). Fresh memory costs a page fault per 4 KiB page
 * otherwise: on these VMs ~2.7 ms per MiB touched, the largest part of booting a 256 MiB region.
 */
function daemonEnv(): NodeJS.ProcessEnv {
  const tunables = [process.env.GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1'].filter(Boolean).join(':')
  return { ...process.env, GLIBC_TUNABLES: tunables }
}

/** A detached daemon process writing to `logFile`, with an IPC channel for its first words. */
function spawnDaemon(args: string[], logFile: string): ChildProcess {
  fs.rmSync(logFile, { force: true }) // a killed daemon's (the run directory is ours alone)
  const log = createExclusive(logFile)
  try {
    return childProcess().spawn(process.execPath, [daemonMainPath, ...args], { detached: true, stdio: ['ignore', log, log, 'ipc'], env: daemonEnv() })
  } finally {
    fs.closeSync(log)
  }
}

export function spawnEarlyDaemon(): EarlyDaemon {
  const logFile = path.join(runDir(), `starting-${process.pid}.log`)
  return { child: spawnDaemon(['--await-options', logFile], logFile), logFile }
}

/** An early daemon that will not be needed: it sees its channel close and exits (with its log). */
export function cancelEarlyDaemon(early: EarlyDaemon): void {
  if (early.child.connected) early.child.disconnect()
  early.child.unref()
}

/**
 * The options of a plain `pstore-sim mount IMAGE DIR` (no flags): what the parser's
 * overridesFrom() and flag defaults make of none. The CLI's fast path and the daemon started by
 * bin/pstore-sim (daemon/plainMount.ts) both mount with these.
 */
export function plainMountOptions(image: string, mountpoint: string): MountOptions {
  return {
    image: path.resolve(image),
    mountpoint: path.resolve(mountpoint),
    overrides: { params: {}, target: {} },
    readOnly: false,
    allowOther: false,
    exactNames: false,
  }
}

/**
 * Starts a daemon detached (or hands `early` its options) and resolves with its first words once
 * the mount is usable.
 */
export async function startDaemon(options: MountOptions, early?: EarlyDaemon): Promise<string> {
  const mountpoint = path.resolve(options.mountpoint)
  const logFile = logPath(mountpoint)
  const resolved: MountOptions = { ...options, mountpoint, image: path.resolve(options.image) }
  let child: ChildProcess
  if (early?.child.connected) {
    fs.renameSync(early.logFile, logFile) // the daemon keeps writing to it under its mount's name
    child = early.child
    // A daemon that died meanwhile is reported by the exit handler below, with its log.
    child.send({ options: resolved }, () => undefined)
  } else {
    if (early) cancelEarlyDaemon(early)
    child = spawnDaemon([JSON.stringify(resolved)], logFile)
  }
  const message = await new Promise<{ text?: string } & Partial<WireError>>((resolve) => {
    child.once('message', (m) => resolve(m as { text?: string }))
    child.once('exit', (code) =>
      resolve({
        error: `the daemon exited with code ${code}: ${fs.readFileSync(logFile, 'utf8').trim()}`,
        exitCode: code === ExitCode.environment ? ExitCode.environment : ExitCode.user,
      }),
    )
  })
  child.removeAllListeners()
  if (child.connected) child.disconnect()
  child.unref()
  if (message.error !== undefined) {
    fs.rmSync(logFile, { force: true }) // its words are in the error: nothing left behind
    throw errorWithExitCode(message.error, message.exitCode ?? ExitCode.user, message.name, message.facts, message.kind)
  }
  return message.text ?? ''
}

async function waitForExit(pid: number, until: number): Promise<boolean> {
  while (Date.now() < until) {
    if (!processAlive(pid)) return true
    // its socket closed as it exited: it is a zombie or gone within microseconds (a check is
    // a kill(2) and a /proc read)
    await new Promise((r) => setTimeout(r, 1))
  }
  return !processAlive(pid)
}

/** How long a daemon may take from a `umount` request to its exit. */
const UNMOUNT_TIMEOUT_MS = 15000

/** Unmounts and waits until the daemon has flushed and exited. */
export async function unmount(mountpoint: string): Promise<void> {
  const abs = path.resolve(mountpoint)
  const record = readMountRecord(abs)
  if (record && processAlive(record.pid)) {
    // The answer comes at once; the connection ends when the daemon's process does (after its
    // last write): no polling while it unmounts and flushes.
    const until = Date.now() + UNMOUNT_TIMEOUT_MS
    await sendControl(record.socket, { op: 'umount' }, { untilClosedMs: UNMOUNT_TIMEOUT_MS })
    if (!(await waitForExit(record.pid, until))) throw new EnvironmentError(`the daemon (pid ${record.pid}) did not exit after unmounting ${abs}`)
    return
  }
  // A dead daemon (kill -9): its mount, FIFO, record, socket and log are cleaned up here.
  const mounted = isMounted(abs)
  if (mounted) await detachMount(abs)
  if (record?.efivars) await removeStaleEfivars(record.efivars)
  const fifo = removeStaleFifo(record?.fifo ?? defaultFifoPath(abs))
  removeMountRecord(abs, { log: true })
  if (!mounted && !record && !fifo) throw new PstoreSimError(`${abs}: not mounted`)
}

function daemonAt(mountpoint: string): { socket: string } {
  const daemon = liveDaemon(path.resolve(mountpoint))
  if (!daemon) throw new PstoreSimError(`${mountpoint}: not a pstore-sim mount`)
  return daemon
}

/** A raw control request (`status`, for tests and tools). */
export async function send(mountpoint: string, request: ControlRequest): Promise<unknown> {
  return sendControl(daemonAt(mountpoint).socket, request)
}

/** A kernel event for the machine mounted at `mountpoint`, with its typed result. */
export async function sendEventTo<E extends KernelEvent>(mountpoint: string, event: E): Promise<EventResult<E>> {
  return sendEvent(daemonAt(mountpoint).socket, event)
}
