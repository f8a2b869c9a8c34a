/**
 * Every kernel-side event, one code path: the CLI on an unmounted image, the daemon of a mount
 * and the JS API all describe an event as a `KernelEvent` and run it with `applyEvent`, so an
 * event means the same wherever it comes from (state saved after it, kmsg_bytes honoured, a
 * reboot after a crash done by whoever owns the view).
 */

import type { CorruptSpec, FlipReport } from '../backend/backend.js'
import { makeFiles, nowTimespec } from '../pstore/filesystem.js'
import type { DumpReason } from '../pstore/kmsgDumper.js'
import { type CrashResult, MachineSetupError } from './machine.js'
import type { Simulation } from './simulation.js'

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

export type KernelEvent =
  | PanicEvent
  | { op: 'console'; text: string }
  | { op: 'pmsg'; data: Uint8Array }
  | { op: 'ftrace'; calls: FtraceCall[] }
  | { op: 'corrupt'; spec: CorruptSpec }
  | { op: 'reboot' }

/** What each event answers. */
export interface EventResults {
  panic: CrashResult
  console: { lines: number }
  pmsg: { bytes: number }
  ftrace: { records: number }
  corrupt: FlipReport[]
  reboot: { files: string[] }
}

export type EventResult<E extends KernelEvent> = EventResults[E['op']]

/** How the owner of the image takes part: a mount's daemon reloads its view on a boot. */
export interface EventContext {
  /** pstore's kmsg_bytes mount option (default 10240). */
  kmsgBytes?: number
  /** Boots the machine; answers the names the boot shows. */
  boot(): Promise<string[]>
}

/** Runs one event on an open, writable simulation and saves the machine's state after it. */
export async function applyEvent<E extends KernelEvent>(sim: Simulation, event: E, context: EventContext): Promise<EventResult<E>> {
  try {
    return (await dispatch(sim, event, context)) as EventResult<E>
  } finally {
    sim.saveState()
  }
}

async function dispatch(sim: Simulation, event: KernelEvent, context: EventContext): Promise<EventResults[KernelEvent['op']]> {
  const machine = sim.machine
  switch (event.op) {
    case 'panic': {
      const result = machine.crash({ reason: event.reason, logText: event.logText, time: event.time, compress: event.compress, kmsgBytes: context.kmsgBytes })
      // A crash is state a reboot must not lose if the reboot fails.
      sim.saveState()
      if (event.reboot) await context.boot()
      return result
    }
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
    case 'reboot':
      return { files: await context.boot() }
  }
}

/** The boot of an image no daemon serves: nobody holds a view, only the names are answered. */
export function bootUnmounted(sim: Simulation): () => Promise<string[]> {
  return async () => {
    const { records } = sim.machine.boot()
    return makeFiles(records, { now: nowTimespec(), wordBits: sim.machine.target.wordBits, backend: sim.machine.backend.name }).map((file) => file.name)
  }
}
