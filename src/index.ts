/**
 * The JS API: create, mount, crash, reboot and unmount a simulated pstore from a Node test
 * suite. The daemon always runs in its own process; this module talks to it.
 *
 *   import { formatImage, mount } from 'pstore-sim'
 *   await formatImage('demo.img', { params: { mem_size: 0x100000, record_size: 0x8000 } })
 *   const pstore = await mount('demo.img', '/tmp/pstore')
 *   await pstore.panic({ reason: 'oops' })
 *   await pstore.reboot()
 *   await pstore.unmount()
 *
 * pstore/blk: `{ backend: 'blk', cmdline: 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y', diskSize: 256 * 1024 }`.
 */
import fs from 'node:fs'
import path from 'node:path'
import { type BlkSetup, BlkSetupError, blkSetup } from './backend/blk/blkSetup.js'
import type { EfiSetup } from './backend/efi/efiSetup.js'
import type { ErstSetup } from './backend/erst/erstSetup.js'
import type { CorruptSpec, FlipReport } from './backend/faults.js'
import type { RamoopsSetup } from './backend/ramoops/ramoopsSetup.js'
import type { BackendSetup } from './backend/setup.js'
import { sendEventTo, startDaemon, unmount as unmountDaemon } from './daemon/client.js'
import { asSentClass } from './daemon/errorClasses.js'
import { defaultFifoPath } from './daemon/pmsgFifo.js'
import type { FtraceCall } from './machine/events.js'
import { formatImage as createImage, ImageSession } from './machine/imageSession.js'
import type { SetupOverrides } from './machine/imageSetup.js'
import type { CrashResult } from './machine/machine.js'
import type { DumpReason } from './pstore/kmsgDumper.js'
import { PstoreSimError } from './util/errors.js'

export { BlkBackend } from './backend/blk/backend.js'
export { PstoreBlk } from './backend/blk/blk.js'
export { type BlkSetup, BlkSetupError, blkSetup, parseBlkCmdline, parseModuleOptions as parseBlkModuleOptions } from './backend/blk/blkSetup.js'
export { computeBlkLayout } from './backend/blk/layout.js'
export { EfiBackend } from './backend/efi/efi.js'
export { type EfiParams, type EfiSetup, EfiSetupError } from './backend/efi/efiSetup.js'
export { emptyOvmfStore } from './backend/efi/emptyStore.js'
export { VariableStore } from './backend/efi/varstore.js'
export { type ErstSetup, ErstSetupError } from './backend/erst/erstSetup.js'
export { CorruptError } from './backend/faults.js'
export { computeLayout, type RegionLayout, type ZoneLayout } from './backend/ramoops/layout.js'
export { Ramoops } from './backend/ramoops/ramoops.js'
// The engine as a library (README, "JS API"), listed on purpose: each backend's setup from what
// a kernel is given, its layout and the backend itself; parsers' internals stay private.
export { fromCmdline, fromDts, fromModuleParams, type ModuleParams, ProbeError, type RamoopsSetup, type TargetOptions } from './backend/ramoops/ramoopsSetup.js'
export type { BackendSetup, SetupJson, SetupSource } from './backend/setup.js'
export { MountError } from './daemon/mountpoint.js'
export { FifoError } from './daemon/pmsgFifo.js'
export { ReedSolomon, reedSolomon } from './format/reedSolomon.js'
export { ImageError, RegionImage } from './format/region.js'
export type { EventResult, KernelEvent } from './machine/events.js'
export { ReadOnlyError } from './machine/events.js'
export { ImageLockedError, ImageSession } from './machine/imageSession.js'
export { SetupError } from './machine/imageSetup.js'
export { inspectImage } from './machine/inspect.js'
export { FtraceCallError, MachineHaltedError, MachineSetupError, SimulatedMachine } from './machine/machine.js'
export type { PstoreRecord } from './pstore/record.js'
export { KMSG_DUMP } from './pstore/record.js'
export { SymbolTable } from './pstore/symbols.js'
export type { ErrorFacts } from './util/errors.js'
export { EnvironmentError, PstoreSimError } from './util/errors.js'
export type { CorruptSpec, CrashResult, DumpReason, FlipReport, FtraceCall }

// The names of before "setup" became the one word for a backend's resolved setup and an image
// opened for a command became an ImageSession: kept so that users' code compiles.
/** @deprecated use ImageSession */
export const Simulation = ImageSession
/** @deprecated use ImageSession */
export type Simulation = ImageSession
/** @deprecated use BackendSetup */
export type BackendConfig = BackendSetup
/** @deprecated use RamoopsSetup */
export type RamoopsConfig = RamoopsSetup
/** @deprecated use BlkSetup */
export type BlkConfig = BlkSetup
/** @deprecated use ErstSetup */
export type ErstConfig = ErstSetup
/** @deprecated use EfiSetup */
export type EfiConfig = EfiSetup
/** @deprecated use BlkSetupError */
export const BlkConfigError = BlkSetupError
/** @deprecated use BlkSetupError */
export type BlkConfigError = BlkSetupError
/** @deprecated use blkSetup */
export const blkConfig = blkSetup

/** A setup as the CLI's setup flags give it: module parameters, a command line or a .dts file, and the target. */
export type ImageSetup = SetupOverrides

/** The JS API's own errors: an option it does not know, a value of the wrong type. */
export class ApiError extends PstoreSimError {
  override name = 'ApiError'
}

const SETUP_KEYS = ['params', 'cmdline', 'dtsFile', 'target', 'backend', 'erst', 'efi', 'diskSize'] as const
const ERST_KEYS = ['size', 'record_size'] as const
const EFI_KEYS = ['record_size', 'varsTemplate', 'always_kmsg_dump'] as const
const PARAM_KEYS = ['mem_address', 'mem_size', 'record_size', 'console_size', 'ftrace_size', 'pmsg_size', 'ecc', 'max_reason', 'dump_oops'] as const
const TARGET_KEYS = ['kernel', 'cpus', 'wordBits', 'frontends', 'compress', 'quirks'] as const
const MOUNT_KEYS = ['readOnly', 'kmsgBytes', 'allowOther', 'cacheTimeout', 'pmsgFifo', 'exactNames', 'systemMap'] as const

/** A misspelt option would otherwise be ignored silently and the test would run on defaults. */
function rejectUnknownKeys(what: string, value: object | undefined, known: readonly string[]): void {
  if (value === undefined) return
  if (typeof value !== 'object' || value === null) throw new ApiError(`${what}: expected an object`)
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new ApiError(`${what}.${key}: unknown option (known: ${known.join(', ')})`)
  }
}

function checkSetup(what: string, setup: ImageSetup): void {
  rejectUnknownKeys(`${what}.params`, setup.params, PARAM_KEYS)
  rejectUnknownKeys(`${what}.target`, setup.target, TARGET_KEYS)
  rejectUnknownKeys(`${what}.erst`, setup.erst, ERST_KEYS)
  rejectUnknownKeys(`${what}.efi`, setup.efi, EFI_KEYS)
  if (setup.backend !== undefined && !['ramoops', 'erst', 'blk', 'efi'].includes(setup.backend))
    throw new ApiError(`${what}.backend: "${setup.backend}" is not ramoops, erst, blk or efi`)
}

export async function formatImage(image: string, setup: ImageSetup, options: { force?: boolean } = {}): Promise<void> {
  rejectUnknownKeys('formatImage setup', setup, SETUP_KEYS)
  checkSetup('formatImage setup', setup)
  rejectUnknownKeys('formatImage options', options, ['force'])
  createImage(image, setup, options)
}

export interface PanicOptions {
  reason?: DumpReason
  /** Dump this text instead of this boot's log (the CLI's --log). */
  log?: string
  /** Wall-clock seconds for the record header (default now). */
  time?: number
  /** false: store the text uncompressed (--no-compress). */
  compress?: boolean
  /** Boot again after the crash (--reboot). */
  reboot?: boolean
}

export interface MountHandle {
  mountpoint: string
  image: string
  /** The /dev/pmsg0-like FIFO, when the mount has one. */
  fifo: string | undefined
  /** Boots again; answers the files the new boot shows. */
  reboot(): Promise<{ files: string[] }>
  panic(options?: PanicOptions): Promise<CrashResult>
  /** Printk lines; answers how many. */
  console(text: string): Promise<{ lines: number }>
  /** One write to /dev/pmsg0; answers the bytes stored. */
  pmsg(data: string | Uint8Array): Promise<{ bytes: number }>
  ftrace(calls: FtraceCall[]): Promise<{ records: number }>
  corrupt(spec: CorruptSpec): Promise<FlipReport[]>
  unmount(): Promise<void>
}

/** The CLI's mount options: setup flags (as for formatImage), `-o` options and the other flags. */
export interface MountApiOptions extends ImageSetup {
  /** -o ro: the image is never written. */
  readOnly?: boolean
  /** -o kmsg_bytes=N (default 10240). */
  kmsgBytes?: number
  /** -o allow_other. */
  allowOther?: boolean
  /** -o cache_timeout=SECONDS (default 10; 0: every stat asks the daemon). */
  cacheTimeout?: number
  /** --pmsg-fifo PATH; false for none. Default `<mountpoint>.pmsg0`. */
  pmsgFifo?: string | false
  /** --exact-names: the kernel's own `ftrace-ramoops-0`. */
  exactNames?: boolean
  /** --system-map FILE: ftrace symbols. */
  systemMap?: string
}

/** A daemon's answer, its refusal rethrown as the class the daemon threw (`instanceof` holds). */
function fromDaemon<T>(answer: Promise<T>): Promise<T> {
  return answer.catch((err: unknown) => {
    throw asSentClass(err)
  })
}

export async function mount(image: string, mountpoint: string, options: MountApiOptions = {}): Promise<MountHandle> {
  rejectUnknownKeys('mount options', options, [...SETUP_KEYS, ...MOUNT_KEYS])
  checkSetup('mount options', options)
  const abs = path.resolve(mountpoint)
  const { readOnly, kmsgBytes, allowOther, cacheTimeout, pmsgFifo, exactNames, systemMap, ...setup } = options
  await fromDaemon(
    startDaemon({
      image: path.resolve(image),
      mountpoint: abs,
      overrides: setup,
      readOnly,
      kmsgBytes,
      allowOther,
      cacheTimeout,
      pmsgFifo,
      exactNames,
      systemMap,
    }),
  )
  const fifo = typeof pmsgFifo === 'string' ? path.resolve(pmsgFifo) : defaultFifoPath(abs)
  return {
    mountpoint: abs,
    image: path.resolve(image),
    fifo: pmsgFifo !== false && !readOnly && fs.existsSync(fifo) ? fifo : undefined,
    reboot: () => fromDaemon(sendEventTo(abs, { op: 'reboot' })),
    panic: (p = {}) =>
      fromDaemon(sendEventTo(abs, { op: 'panic', reason: p.reason ?? 'panic', logText: p.log, time: p.time, compress: p.compress, reboot: p.reboot })),
    console: (text) => fromDaemon(sendEventTo(abs, { op: 'console', text })),
    pmsg: (data) => fromDaemon(sendEventTo(abs, { op: 'pmsg', data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data })),
    ftrace: (calls) => fromDaemon(sendEventTo(abs, { op: 'ftrace', calls })),
    corrupt: (spec) => fromDaemon(sendEventTo(abs, { op: 'corrupt', spec })),
    unmount: () => unmount(abs),
  }
}

/** Unmounts MOUNTPOINT (stops its daemon); a refusal as the class it was thrown as. */
export function unmount(mountpoint: string): Promise<void> {
  return fromDaemon(unmountDaemon(mountpoint))
}
