/**
 * Every kernel-side event, one code path: the CLI on an unmounted image, the daemon of a mount
 * (its control socket, `rm` on its files, its pmsg FIFO, its boot) and the JS API all describe
 * an event as a `KernelEvent` or `MountEvent` and run it with `applyEvent`, so an event means the
 * same wherever it comes from (the machine's state saved after it, kmsg_bytes honoured, a
 * read-only mount refused, the view reloaded after a boot by whoever owns it). The caller
 * decides when an event runs (locks, the FIFO's hold); this module decides what it does.
 */

import type { CorruptSpec, FlipReport, LentRing } from '../backend/backend.js'
import { makeFiles, nowTimespec } from '../pstore/filesystem.js'
import type { DumpReason } from '../pstore/kmsgDumper.js'
import type { PstoreRecord, PstoreType } from '../pstore/record.js'
import { type ErrorFacts, PstoreSimError } from '../util/errors.js'
import { logger } from '../util/log.js'
import type { ImageSession } from './imageSession.js'
import { type CrashResult, MachineSetupError } from './machine.js'

const debug = logger('event')

export interface FtraceCall {
  cpu: number
  ip: bigint
  parentIp: bigint
}

export interface PanicEvent {
  op: 'panic'
  reason: DumpReason
  /** Replaces this boot's log for the dump. */
  logText?: string
  /** Wall-clock seconds for the record header (default now). */
  time?: number
  compress?: boolean
  /** Boot again after the crash. */
  reboot?: boolean
}

/** What any caller may ask of a machine: the CLI, the JS API, a mount's control socket. */
export type KernelEvent =
  | PanicEvent
  | { op: 'console'; text: string }
  | { op: 'pmsg'; data: Uint8Array }
  | { op: 'ftrace'; calls: FtraceCall[] }
  | { op: 'corrupt'; spec: CorruptSpec }
  | { op: 'reboot' }

/**
 * What only the process serving a mount's files runs: `rm` of a file (pstore's erase, or in
 * an efi machine's efivars a variable's delete), and the
 * pmsg ring handed to the FIFO's native writer and taken back (its header then says what the
 * writer stored). `take` gets the ring while the event runs: the writer starts before
 * applyEvent returns, and nothing else touches the ring until `pmsgReclaim`.
 */
export type MountEvent =
  | { op: 'erase'; type: PstoreType; id: number | bigint }
  /** efivarfs' unlink of a variable (an efi machine's store in `exec`): SetVariable with size 0 */
  | { op: 'deleteVariable'; name: string; guid: Buffer }
  | { op: 'pmsgLend'; take(ring: LentRing | 'drop'): void }
  | { op: 'pmsgReclaim' }

export type AnyEvent = KernelEvent | MountEvent

/** What each event answers. */
export interface EventResults {
  panic: CrashResult
  console: { lines: number }
  pmsg: { bytes: number }
  ftrace: { records: number }
  corrupt: FlipReport[]
  reboot: { files: string[] }
  erase: { erased: true }
  deleteVariable: { deleted: boolean }
  pmsgLend: { lent: boolean }
  pmsgReclaim: { reclaimed: true }
}

export type EventResult<E extends AnyEvent> = EventResults[E['op']]

/** How the owner of the image takes part. */
export interface EventContext {
  /** pstore's kmsg_bytes mount option (default 10240). */
  kmsgBytes?: number
  /** A read-only mount: every event but a boot is refused (the boot stays in memory). */
  readOnly?: { mountpoint: string }
  /** Shows a boot's records (a mount reloads its view); answers the names the boot shows. */
  showBoot(records: PstoreRecord[]): Promise<string[]>
}

/** An event a read-only mount cannot take (facts: for the CLI's words). */
export class ReadOnlyError extends PstoreSimError {
  override name = 'ReadOnlyError'
  declare readonly facts: ErrorFacts<'readOnly'>
  constructor(mountpoint: string, op: string) {
    super(`${mountpoint} is mounted read-only (readOnly: true): the image is never written`, {
      problem: 'readOnly',
      subject: mountpoint,
      param: 'readOnly',
      value: op,
    })
  }
}

/**
 * Events that change only the backend's storage, never what the state file keeps (the machine's
 * counters, its log, the backend's memory): nothing to save after them. The FIFO runs one a chunk.
 */
const STORAGE_ONLY: ReadonlySet<AnyEvent['op']> = new Set(['pmsg', 'pmsgLend', 'pmsgReclaim', 'erase', 'deleteVariable'])

/**
 * The events that never boot the machine: their kernel side runs to its answer at once. A FUSE
 * handler (`rm`) and the FIFO run them with `applyImmediateEvent` and reply in the same turn, with
 * no promise between the kernel's request and its answer (an unlink is answered as soon as the
 * backend has erased).
 */
export type ImmediateEvent = Exclude<AnyEvent, PanicEvent | { op: 'reboot' }>

const isImmediate = (event: AnyEvent): event is ImmediateEvent => event.op !== 'panic' && event.op !== 'reboot'

/**
 * Runs one event on an open image session and saves the machine's state after it (when it can have changed). The event's
 * kernel side runs synchronously up to its boot, if it has one: an event started from a
 * synchronous caller has changed the machine when this returns its promise.
 */
export async function applyEvent<E extends AnyEvent>(session: ImageSession, event: E, context: EventContext): Promise<EventResult<E>> {
  if (isImmediate(event)) return applyImmediateEvent(session, event, context) as EventResult<E>
  debug('%s', event.op)
  try {
    if (context.readOnly && event.op !== 'reboot') throw new ReadOnlyError(context.readOnly.mountpoint, event.op)
    return (await bootingEvent(session, event, context)) as EventResult<E>
  } finally {
    session.saveState()
  }
}

/** An event that never boots (the same rules as applyEvent): it has run when this returns, or thrown. */
export function applyImmediateEvent<E extends ImmediateEvent>(session: ImageSession, event: E, context: EventContext): EventResult<E> {
  debug('%s', event.op)
  try {
    if (context.readOnly) throw new ReadOnlyError(context.readOnly.mountpoint, event.op)
    return immediateEvent(session, event) as EventResult<E>
  } finally {
    if (!STORAGE_ONLY.has(event.op)) session.saveState()
  }
}

async function bootingEvent(session: ImageSession, event: PanicEvent | { op: 'reboot' }, context: EventContext): Promise<EventResults['panic' | 'reboot']> {
  if (event.op === 'reboot') return { files: await boot(session, context) }
  const result = session.machine.crash({
    reason: event.reason,
    logText: event.logText,
    time: event.time,
    compress: event.compress,
    kmsgBytes: context.kmsgBytes,
  })
  // A crash is state a reboot must not lose if the reboot fails.
  session.saveState()
  if (event.reboot) await boot(session, context)
  return result
}

function immediateEvent(session: ImageSession, event: ImmediateEvent): EventResults[ImmediateEvent['op']] {
  const machine = session.machine
  switch (event.op) {
    case 'console':
      return { lines: machine.console(event.text) }
    case 'pmsg':
      return { bytes: machine.pmsg(event.data) }
    case 'ftrace':
      return { records: machine.ftrace(event.calls) }
    case 'corrupt': {
      if (!machine.backend.corrupt) throw new MachineSetupError(`${machine.backend.name} has no fault injection`)
      return machine.backend.corrupt(event.spec)
    }
    case 'erase':
      machine.backend.erase(event.type, event.id)
      return { erased: true }
    case 'deleteVariable': {
      if (!machine.backend.deleteVariable) throw new MachineSetupError(`${machine.backend.name} keeps no UEFI variables`)
      return { deleted: machine.backend.deleteVariable(event.name, event.guid) }
    }
    case 'pmsgLend': {
      const ring = machine.lendPmsgRing()
      event.take(ring)
      return { lent: ring !== 'drop' }
    }
    case 'pmsgReclaim':
      machine.reclaimPmsgRing()
      return { reclaimed: true }
  }
}

/** The machine boots (the backend's probe, a read pass), its state is saved, and the owner shows the records. */
async function boot(session: ImageSession, context: EventContext): Promise<string[]> {
  const { records } = session.machine.boot()
  session.saveState()
  return context.showBoot(records)
}

/** The boot of an image no daemon serves: nobody holds a view, only the names are answered. */
export function namesOfBoot(session: ImageSession): EventContext['showBoot'] {
  return async (records) =>
    makeFiles(records, { now: nowTimespec(), wordBits: session.machine.target.wordBits, backend: session.machine.backend.name }).map((file) => file.name)
}
