/**
 * An efi-pstore setup (drivers/firmware/efi/efi-pstore.c): the firmware's variable store file
 * (OVMF's pflash unit 1) and efi-pstore.ko's one size parameter. 6.1 writes 1024-byte records
 * and calls its backend "efi"; 6.2 took `efi_pstore.record_size` (minimum and default 1024) and
 * the module's name, "efi_pstore", for its file names.
 */
import { atLeast, formatKernelVersion, type KernelVersion } from '../../format/kernelVersion.js'
import { PstoreSimError } from '../../util/errors.js'
import { fieldProblem, type TargetOptions, type TargetSetup, target, targetProblem, targetSetupJson } from '../target.js'
import { OVMF_4M_SIZE } from './varstore.js'

/** The kernel's names: efi_pstore.record_size (6.2+); the store file's size and the empty store it was made from. */
export interface EfiParams {
  record_size?: number
  /** The store file's size in bytes (an existing store's own size; a new one the template's). */
  size?: number
  /** `--efi-vars-template`: the empty store `format` copied (a firmware's VARS file); absent: OVMF's 4M store. */
  varsTemplate?: string
  /**
   * printk.always_kmsg_dump=1: efi-pstore sets no max_reason, so kmsg_dump() then dumps every
   * reason (shutdowns, emergency restarts) instead of panics and oopses only.
   */
  always_kmsg_dump?: boolean
}

/** Where an efi setup comes from, as the sidecar keeps it: efi-pstore's parameter and the store file's. */
export interface EfiSource {
  backend: 'efi'
  efi: EfiParams
  target: TargetOptions
}

/** KMSG_DUMP_MAX: every reason. */
const KMSG_DUMP_MAX = 5

/** EFIVARS_DATA_SIZE_MAX (6.1), record_size's default and minimum (6.2+). */
export const EFI_RECORD_SIZE_MIN = 1024

export interface EfiSetup extends TargetSetup {
  backend: 'efi'
  /** psinfo->bufsize: the largest record the kernel writes and reads. */
  efiRecordSize: number
  /** The store file's size: the image's. */
  memSize: number
  /** efi-pstore sets no max_reason: panics and oopses are dumped (shutdown only with printk.always_kmsg_dump). */
  maxReason: number
  varsTemplate?: string
}

export class EfiSetupError extends PstoreSimError {
  override name = 'EfiSetupError'
  constructor(
    message: string,
    readonly param: 'record_size' | 'size' | 'varsTemplate',
  ) {
    super(message)
  }
}

/** Whether the target kernel has the 6.2 efi-pstore: record_size and the "efi_pstore" name. */
export function hasRecordSizeParam(kernel: KernelVersion): boolean {
  return atLeast(kernel, 6, 2)
}

/** psinfo->name on this kernel: the middle of every file name. */
export function efiBackendName(kernel: KernelVersion): 'efi' | 'efi_pstore' {
  return hasRecordSizeParam(kernel) ? 'efi_pstore' : 'efi'
}

export function fromEfiParams(params: EfiParams, options: TargetOptions = {}): EfiSetup {
  const t = target(options)
  let recordSize = EFI_RECORD_SIZE_MIN
  if (params.record_size !== undefined) {
    if (!hasRecordSizeParam(t.kernel))
      throw new EfiSetupError(
        `record_size is efi_pstore.record_size, a parameter of 6.2 and later; ${formatKernelVersion(t.kernel)} writes ${EFI_RECORD_SIZE_MIN}-byte records`,
        'record_size',
      )
    if (!Number.isSafeInteger(params.record_size) || params.record_size < 0 || params.record_size > 0xffffffff)
      throw new EfiSetupError(`record_size ${params.record_size} is not an unsigned int (the module parameter's type)`, 'record_size')
    // efivars_pstore_init(): smaller values are raised to the minimum, silently
    recordSize = Math.max(EFI_RECORD_SIZE_MIN, params.record_size)
  }
  const size = params.size ?? OVMF_4M_SIZE
  if (!Number.isSafeInteger(size) || size <= 0) throw new EfiSetupError(`size ${size} is not a file size`, 'size')
  return {
    backend: 'efi',
    efiRecordSize: recordSize,
    memSize: size,
    maxReason: params.always_kmsg_dump ? KMSG_DUMP_MAX : 0,
    ...(params.varsTemplate !== undefined ? { varsTemplate: params.varsTemplate } : {}),
    ...t,
  }
}

export function fromEfiSource(source: EfiSource): EfiSetup {
  return fromEfiParams(source.efi, source.target)
}

/** Why an object read from a sidecar is not an EfiSource (the values are checked when it is resolved). */
export function efiSourceProblem(o: Record<string, unknown>): string | undefined {
  const types = { record_size: 'number', size: 'number', varsTemplate: 'string', always_kmsg_dump: 'boolean' } as const
  return fieldProblem('setup', o, { efi: 'object' }, ['efi']) ?? fieldProblem('setup.efi', o.efi as Record<string, unknown>, types) ?? targetProblem(o)
}

/**
 * An efi setup as JSON (the sidecar's `resolved`, `inspect --json`): the store file's size,
 * efi-pstore's record size (efi_pstore.record_size; 6.1's fixed 1024), the backend's name in the
 * file names (6.1's `efi`, 6.2's `efi_pstore`), printk.always_kmsg_dump, the template, the target.
 */
export function efiSetupJson(setup: EfiSetup) {
  return {
    backend: setup.backend,
    size: setup.memSize,
    record_size: setup.efiRecordSize,
    backendName: efiBackendName(setup.kernel),
    always_kmsg_dump: setup.maxReason === KMSG_DUMP_MAX,
    ...(setup.varsTemplate !== undefined ? { varsTemplate: setup.varsTemplate } : {}),
    ...targetSetupJson(setup),
  }
}

export type EfiSetupJson = ReturnType<typeof efiSetupJson>

/** What a boot logs after the version line (efi-pstore.ko loaded without options). */
export function efiBootLines(setup: EfiSetup): string[] {
  const name = efiBackendName(setup.kernel)
  return [
    'Command line: console=ttyS0,115200',
    'efi: EFI v2.7 by EDK II',
    `pstore: Using crash dump compression: ${setup.compress ? 'deflate' : 'none'}`,
    `pstore: Registered ${name} as persistent store backend`,
  ]
}
