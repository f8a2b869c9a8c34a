/**
 * Talking to daemons from another process: start one in the background and wait until its
 * mount is usable, send it events, unmount it and wait for its last write. Used by the CLI and
 * by the JS API (a daemon never runs inside the caller's process: FUSE handlers run on the
 * daemon's event loop, so a synchronous `fs` call on the mount from that process would deadlock).
 */
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ControlRequest, sendControl } from './control.js'
import { isMounted, liveDaemon, mountKey, processAlive, runDir } from './runtime.js'
import { EnvironmentError, PstoreSimError } from './errors.js'
import type { MountOptions } from './daemon.js'

const daemonMainPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'daemonMain.js')

export class ClientError extends PstoreSimError {
  constructor(
    message: string,
    override readonly exitCode = 1,
  ) {
    super(message)
  }
}

/** Starts a daemon detached and resolves with its first words once the mount is usable. */
export async function startDaemon(options: MountOptions): Promise<string> {
  const mountpoint = path.resolve(options.mountpoint)
  fs.mkdirSync(runDir(), { recursive: true, mode: 0o700 })
  const logFile = path.join(runDir(), `${mountKey(mountpoint)}.log`)
  const log = fs.openSync(logFile, 'w')
  const json = JSON.stringify({ ...options, mountpoint, image: path.resolve(options.image) })
  const child = spawn(process.execPath, [daemonMainPath, json], { detached: true, stdio: ['ignore', log, log, 'ipc'] })
  fs.closeSync(log)
  const message = await new Promise<{ text?: string; error?: string; exitCode?: number }>((resolve) => {
    child.once('message', (m) => resolve(m as { text?: string }))
    child.once('exit', (code) =>
      resolve({ error: `the daemon exited with code ${code}: ${fs.readFileSync(logFile, 'utf8').trim()}`, exitCode: code === 2 ? 2 : 1 }),
    )
  })
  child.removeAllListeners()
  if (child.connected) child.disconnect()
  child.unref()
  if (message.error !== undefined) throw new ClientError(message.error, message.exitCode ?? 1)
  return message.text ?? ''
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (!processAlive(pid)) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return !processAlive(pid)
}


/** Unmounts and waits until the daemon has flushed and exited. */
export async function unmount(mountpoint: string): Promise<void> {
  const abs = path.resolve(mountpoint)
  const daemon = liveDaemon(abs)
  if (daemon) {
    await sendControl(daemon.socket, { op: 'umount' })
    if (!(await waitForExit(daemon.pid, 15000))) throw new EnvironmentError(`the daemon (pid ${daemon.pid}) did not exit after unmounting ${abs}`)
    return
  }
  if (!isMounted(abs)) throw new ClientError(`${abs}: not mounted`)
  await new Promise<void>((resolve, reject) =>
    spawn('fusermount', ['-uz', abs], { stdio: 'ignore' }).on('exit', (c) => (c === 0 ? resolve() : reject(new EnvironmentError(`fusermount -uz ${abs} failed`)))),
  )
}

export async function send(mountpoint: string, request: ControlRequest): Promise<unknown> {
  const daemon = liveDaemon(path.resolve(mountpoint))
  if (!daemon) throw new ClientError(`${mountpoint}: not a pstore-sim mount`)
  return sendControl(daemon.socket, request)
}
