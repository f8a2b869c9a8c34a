/**
 * A daemon's process from start to exit: what a killed predecessor left is cleaned up, the
 * daemon starts, signals and `umount` stop it, and the process ends with its stop.
 */

import path from 'node:path'
import { loadFuse } from '../util/fuseNative.js'
import { type MountOptions, PstoreDaemon } from './daemon.js'
import { removeStaleFifo } from './pmsgFifo.js'
import { liveDaemon, readMountRecord, removeMountRecord } from './registry.js'

/**
 * Ends the process once its stop has written and closed everything: the 'exit' listeners run,
 * then _exit (Fuse.exitNow). Node's own exit tears its platform and threads down first, which
 * every `umount` would wait for; stdio writes to files and pipes are synchronous here, so
 * nothing is left unwritten. Under NODE_V8_COVERAGE (a test run) Node's exit writes the
 * coverage, so it ends as usual.
 */
function exitAfterStop(code: number): void {
  if (process.env.NODE_V8_COVERAGE) process.exit(code)
  process.exitCode = code
  process.emit('exit', code)
  loadFuse().exitNow(code)
}

/** What a daemon killed at this mountpoint left: its record, socket, log and FIFO. */
function cleanUpAfterKilledDaemon(mountpoint: string): void {
  const record = readMountRecord(mountpoint)
  if (!record || liveDaemon(mountpoint)) return
  if (record.fifo) removeStaleFifo(record.fifo)
  removeMountRecord(mountpoint)
}

/**
 * Runs a daemon in this process until SIGINT/SIGTERM/SIGHUP or `umount`, and resolves once the
 * mount is usable with the words to tell the user.
 */
export async function serveForeground(options: MountOptions): Promise<string> {
  cleanUpAfterKilledDaemon(path.resolve(options.mountpoint))
  const daemon = new PstoreDaemon(options)
  await daemon.start()
  // Whatever stopped it, the process ends with the stop: a handle FUSE or a child left open must
  // not keep a daemon alive after its umount (one did, for 27 min, and its umount exited 2).
  void daemon.stopBegun.then(() => daemon.stop().then(() => exitAfterStop(0)))
  const stop = () => void daemon.stop()
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  process.on('SIGHUP', stop)
  return (
    `mounted ${daemon.image} at ${daemon.mountpoint}${options.readOnly ? ' (read-only)' : ''}\n` +
    (daemon.fifoPath && daemon.hasFifo ? `pmsg FIFO: ${daemon.fifoPath}\n` : '')
  )
}
