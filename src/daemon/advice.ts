/**
 * What the CLI (and a background daemon, whose words the CLI prints) tells the user about an
 * error the engine reports with data only: one line naming the file and the fix, and the
 * exit code (1: the user's mistake, 2: the environment).
 */
// A type only: the CLI's start-up file (cli/entry.ts) holds this module but not the engine.
import type { ImageLockedError } from '../machine/simulation.js'
import { PstoreSimError } from '../util/errors.js'
import { FileWriteError } from '../util/files.js'
import { FifoError } from './pmsgFifo.js'
import { daemonByPid } from './registry.js'

export function advise(err: Error): { message: string; exitCode: number } | undefined {
  if (err instanceof PstoreSimError && err.name === 'ImageLockedError') {
    const locked = err as ImageLockedError
    const daemon = daemonByPid(locked.holderPid)
    const holder = daemon
      ? `pstore-sim pid ${daemon.pid}, mounted ${daemon.readOnly ? 'read-only ' : ''}at ${daemon.mountpoint}: unmount it first (pstore-sim umount ${daemon.mountpoint}), or run the command on that mountpoint`
      : `${locked.holderPid ? `pid ${locked.holderPid}` : 'another process'} holds its lock: wait until it has finished`
    return { message: `${locked.image}: the image is in use (${holder})`, exitCode: 1 }
  }
  if (err instanceof FifoError) return { message: `${err.message}: remove it or choose another --pmsg-fifo`, exitCode: 1 }
  if (err instanceof FileWriteError) {
    const fix = err.code === 'ENOSPC' ? ': the disk is full; free space and retry (nothing was changed)' : ''
    return { message: err.message + fix, exitCode: 2 }
  }
  if (err instanceof PstoreSimError) return { message: err.message, exitCode: err.exitCode }
  return undefined
}
