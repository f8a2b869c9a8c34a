/**
 * What the CLI (and a background daemon, whose words the CLI prints) tells the user about an
 * error the engine reports with data only: one line naming the file and the fix, and the
 * exit code (1: the user's mistake, 2: the environment).
 */
// Types only, the classes known by name: the CLI's start-up file (cli/main.ts) holds this
// module but not the engine.
import type { CorruptError } from '../backend/faults.js'
import type { ImageError } from '../format/region.js'
import type { ReadOnlyError } from '../machine/events.js'
import type { ImageLockedError } from '../machine/imageSession.js'
import type { SetupError } from '../machine/imageSetup.js'
import type { MachineHaltedError } from '../machine/machine.js'
import { SETUP_WORDS, type SetupFacts } from '../machine/setupProblems.js'
import { ExitCode, PstoreSimError, type WireError } from '../util/errors.js'
import { FileWriteError } from '../util/files.js'
import type { MountError } from './mountpoint.js'
import type { FifoError } from './pmsgFifo.js'
import { daemonByPid } from './registry.js'

function isNamed<E extends PstoreSimError>(err: Error, name: string): err is E {
  return err instanceof PstoreSimError && err.name === name
}

/** The CLI's flag for a setting the engine names in the JS API's spelling (ErrorFacts.param). */
const FLAG_OF: Record<string, string> = {
  force: '--force',
  cmdline: '--cmdline',
  dtsFile: '--dts',
  diskSize: '--disk-size',
  backend: '--backend',
  'target.kernel': '--kernel',
  'erst.size': '--erst-size',
  'erst.record_size': '--erst-record-size',
  'efi.record_size': '--efi-record-size',
  'efi.varsTemplate': '--efi-vars-template',
  // corrupt(spec): the spec's keys
  flips: '--flip',
  zones: '--zone',
  random: '--random',
  maxPerBlock: '--max-per-block',
  seed: '--seed',
  area: '--area',
}

/** `params.record_size` → `--record-size`: the module parameters' flags are their names. */
export function flagOf(param: string): string {
  return FLAG_OF[param] ?? `--${param.replace(/^params\./, '').replace(/_/g, '-')}`
}

/** An engine error that carries facts, in the CLI's words; undefined for one whose message stands. */
function phraseFacts(err: PstoreSimError): string | undefined {
  if (!err.facts) return undefined
  if (isNamed<SetupError>(err, 'SetupError') && err.facts) return `${err.facts.subject}: ${SETUP_WORDS[err.facts.problem].cli(err.facts as SetupFacts, flagOf)}`
  if (isNamed<ImageError>(err, 'ImageError') && err.facts) {
    const f = err.facts
    if (f.problem === 'missing') return `${f.subject}: no such image (create one with pstore-sim format)`
    return `${f.subject}: ${f.detail}: give the setup the region was dumped with (--mem-size, --cmdline or --dts)`
  }
  if (isNamed<CorruptError>(err, 'CorruptError') && err.facts) return `${flagOf(err.facts.param)}: ${err.facts.detail}`
  if (isNamed<MountError>(err, 'MountError') && err.facts)
    return `${err.facts.subject}: something is already mounted there (pstore-sim umount ${err.facts.subject})`
  if (isNamed<FifoError>(err, 'FifoError')) return `${err.facts.subject}: ${err.facts.detail}: remove it or choose another --pmsg-fifo`
  if (isNamed<ReadOnlyError>(err, 'ReadOnlyError')) return `${err.facts.subject} is mounted read-only (-o ro): the image is never written`
  return undefined
}

export function advise(err: Error): { message: string; exitCode: number } | undefined {
  if (isNamed<ImageLockedError>(err, 'ImageLockedError') && err.facts) {
    // from the facts: a daemon may have sent the error (a rebuilt error has no holderPid field)
    const holderPid = typeof err.facts.value === 'number' ? err.facts.value : undefined
    const daemon = daemonByPid(holderPid)
    const holder = daemon
      ? `pstore-sim pid ${daemon.pid}, mounted ${daemon.readOnly ? 'read-only ' : ''}at ${daemon.mountpoint}: unmount it first (pstore-sim umount ${daemon.mountpoint}), or run the command on that mountpoint`
      : `${holderPid ? `pid ${holderPid}` : 'another process'} holds its lock: wait until it has finished`
    return { message: `${err.facts.subject}: the image is in use (${holder})`, exitCode: ExitCode.user }
  }
  if (isNamed<MachineHaltedError>(err, 'MachineHaltedError'))
    return { message: `${err.message} (pstore-sim reboot MOUNTPOINT, pstore-sim mount, or panic --reboot)`, exitCode: ExitCode.user }
  if (err instanceof FileWriteError) {
    const fix = err.code === 'ENOSPC' ? ': the disk is full; free space and retry (nothing was changed)' : ''
    return { message: err.message + fix, exitCode: ExitCode.environment }
  }
  if (err instanceof PstoreSimError) return { message: phraseFacts(err) ?? err.message, exitCode: err.exitCode }
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

/**
 * An error as a daemon sends it to whoever asked (the CLI or the JS API): one with facts goes
 * as the engine's words with its name and facts, so the receiver phrases it (the CLI with its
 * flags, through failureReport; the JS API keeps the engine's words); any other as its line.
 */
export function wireError(err: unknown): WireError {
  if (err instanceof PstoreSimError && err.facts) return { error: err.message, exitCode: err.exitCode, name: err.name, facts: err.facts, kind: err.name }
  const { message, exitCode } = failureReport(err)
  return { error: message.split('\n')[0], exitCode, ...(err instanceof PstoreSimError ? { kind: err.name } : {}) }
}
