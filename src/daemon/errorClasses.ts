/**
 * A daemon's error as the class it was thrown as, for the JS API: over IPC or the control socket
 * an error arrives as a plain PstoreSimError carrying its class name (WireError.kind), and a
 * test suite's `err instanceof SetupError` should hold as it does for an error thrown in its
 * own process. Only the JS API (index.ts) loads this: control.ts and client.ts are in the CLI's
 * start-up file, which must not load the engine these classes come from.
 */
import { BlkError } from '../backend/blk/blk.js'
import { BlkSetupError } from '../backend/blk/blkSetup.js'
import { ErstError } from '../backend/erst/erst.js'
import { ErstSetupError } from '../backend/erst/erstSetup.js'
import { CorruptError } from '../backend/faults.js'
import { EraseError } from '../backend/ramoops/erase.js'
import { RamoopsError } from '../backend/ramoops/ramoops.js'
import { ProbeError } from '../backend/ramoops/ramoopsSetup.js'
import { ZoneWriteRefused } from '../backend/ramoops/zone.js'
import { ImageError } from '../format/region.js'
import { ReadOnlyError } from '../machine/events.js'
import { ImageLockedError } from '../machine/imageSession.js'
import { SetupError } from '../machine/imageSetup.js'
import { FtraceCallError, MachineHaltedError, MachineSetupError } from '../machine/machine.js'
import { SymbolMapError } from '../pstore/symbols.js'
import { EnvironmentError, PstoreSimError, WIRE_KIND } from '../util/errors.js'
import { MountError } from './mountpoint.js'
import { FifoError } from './pmsgFifo.js'

// biome-ignore lint/suspicious/noExplicitAny: the classes' constructors differ; only the prototype is used
type ErrorClass = abstract new (...args: any[]) => PstoreSimError

/** Every PstoreSimError class a daemon may send, by its name (each class sets its own). */
const CLASSES: Record<string, ErrorClass> = Object.fromEntries(
  [
    BlkError,
    BlkSetupError,
    ErstSetupError,
    ErstError,
    CorruptError,
    ProbeError,
    EraseError,
    RamoopsError,
    ZoneWriteRefused,
    ImageError,
    SetupError,
    FtraceCallError,
    MachineHaltedError,
    MachineSetupError,
    ImageLockedError,
    SymbolMapError,
    MountError,
    ReadOnlyError,
    FifoError,
    EnvironmentError,
  ].map((cls) => [cls.name, cls as ErrorClass]),
)

/**
 * The error as its sender's class: same message, name, facts, exit code and stack. Built through
 * PstoreSimError's constructor with the class's prototype, since the classes' own constructors
 * take what the wire does not carry (ImageLockedError's pid, FtraceCallError's field…); those
 * fields stay unset (their facts say the same where they matter). Any other error is as it was.
 */
export function asSentClass(err: unknown): unknown {
  if (!(err instanceof PstoreSimError)) return err
  const kind = (err as { [WIRE_KIND]?: string })[WIRE_KIND]
  const cls = kind === undefined ? undefined : CLASSES[kind]
  if (!cls || Object.prototype.isPrototypeOf.call(cls.prototype, err)) return err
  const rebuilt = Reflect.construct(PstoreSimError, [err.message, err.facts], cls) as PstoreSimError
  Object.defineProperty(rebuilt, 'name', { value: kind, writable: true, configurable: true })
  Object.defineProperty(rebuilt, 'exitCode', { value: err.exitCode, writable: true, configurable: true, enumerable: true })
  rebuilt.stack = err.stack
  return rebuilt
}
