/**
 * What the CLI (and a background daemon, whose words the CLI prints) tells the user about an
 * error the engine reports with data only: one line naming the file and the fix, and the
 * exit code (1: the user's mistake, 2: the environment).
 */
// Types only, the classes known by name: the CLI's start-up file (cli/entry.ts) holds this
// module but not the engine.
import type { MachineHaltedError } from '../machine/machine.js'
import type { ImageLockedError } from '../machine/simulation.js'
import { ExitCode, PstoreSimError } from '../util/errors.js'
import { FileWriteError } from '../util/files.js'
import { FifoError } from './pmsgFifo.js'
import { daemonByPid } from './registry.js'

function isNamed<E extends PstoreSimError>(err: Error, name: string): err is E {
  return err instanceof PstoreSimError && err.name === name
}

export function advise(err: Error): { message: string; exitCode: number } | undefined {
  if (isNamed<ImageLockedError>(err, 'ImageLockedError')) {
    const daemon = daemonByPid(err.holderPid)
    const holder = daemon
      ? `pstore-sim pid ${daemon.pid}, mounted ${daemon.readOnly ? 'read-only ' : ''}at ${daemon.mountpoint}: unmount it first (pstore-sim umount ${daemon.mountpoint}), or run the command on that mountpoint`
      : `${err.holderPid ? `pid ${err.holderPid}` : 'another process'} holds its lock: wait until it has finished`
    return { message: `${err.image}: the image is in use (${holder})`, exitCode: ExitCode.user }
  }
  if (isNamed<MachineHaltedError>(err, 'MachineHaltedError'))
    return { message: `${err.message} (pstore-sim reboot MOUNTPOINT, pstore-sim mount, or panic --reboot)`, exitCode: ExitCode.user }
  if (err instanceof FifoError) return { message: `${err.message}: remove it or choose another --pmsg-fifo`, exitCode: ExitCode.user }
  if (err instanceof FileWriteError) {
    const fix = err.code === 'ENOSPC' ? ': the disk is full; free space and retry (nothing was changed)' : ''
    return { message: err.message + fix, exitCode: ExitCode.environment }
  }
  if (err instanceof PstoreSimError) return { message: err.message, exitCode: err.exitCode }
  return undefined
}

/**
 * The one line and exit code a user gets for any error: the CLI, a background daemon and the
 * control socket all report through this. Our own errors and the system's (ENOENT…) speak for
 * themselves; anything else is a bug: its stack shows where.
 */
export function failureReport(err: unknown): { message: string; exitCode: number } {
  const advice = err instanceof Error ? advise(err) : undefined
  if (advice) return advice
  const systemError = (err as NodeJS.ErrnoException)?.code !== undefined
  return { message: systemError ? (err as Error).message : String((err as Error)?.stack ?? err), exitCode: ExitCode.user }
}
