/**
 * An ERST setup: QEMU's acpi-erst device (docs/specs/acpi_erst.rst, hw/acpi/erst.c) over a
 * memory-backend-file of `size` bytes, split into `record_size` slots. The machine's config is a
 * RamoopsConfig whose zone sizes are 0 (the target kernel's side is shared); `memSize` is the
 * backing file's size, so the image is the file QEMU maps.
 */

import { PstoreSimError } from '../../util/errors.js'
import type { RamoopsConfig } from '../ramoops/config.js'
import { type TargetOptions, target } from '../target.js'

/** QEMU's names: `size=` of the memory backend, `record_size=` of the acpi-erst device. */
export interface ErstParams {
  size?: number
  record_size?: number
}

/** The size the QEMU documentation gives its memory backend (acpi-erst has no default of its own). */
export const DEFAULT_ERST_SIZE = 0x10000
/** ERST_RECORD_SIZE in hw/acpi/erst.c. */
export const DEFAULT_ERST_RECORD_SIZE = 8192

export interface ErstConfig extends RamoopsConfig {
  backend: 'erst'
  /** The slot size (the exchange buffer, erst_erange.size to the kernel). */
  erstRecordSize: number
}

/** A setup QEMU would refuse to start with; `param` names the QEMU property at fault. */
export class ErstSetupError extends PstoreSimError {
  override name = 'ErstSetupError'
  constructor(
    message: string,
    readonly param: 'size' | 'record_size',
  ) {
    super(message)
  }
}

export function isErst(config: RamoopsConfig): config is ErstConfig {
  return (config as Partial<ErstConfig>).backend === 'erst'
}

/** QEMU's checks at realize (check_erst_backend_storage) plus the page-multiple size of a memory backend. */
export function fromErstParams(params: ErstParams, options: TargetOptions = {}): ErstConfig {
  const size = params.size ?? DEFAULT_ERST_SIZE
  const recordSize = params.record_size ?? DEFAULT_ERST_RECORD_SIZE
  if (!Number.isSafeInteger(recordSize) || recordSize < 4096 || recordSize > 0xffffffff || (recordSize & (recordSize - 1)) !== 0) {
    throw new ErstSetupError(`record_size ${recordSize} is invalid: QEMU takes a power of two of at least 4096 (default 8192)`, 'record_size')
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size > 0xffffffff) {
    throw new ErstSetupError(`size ${size} is invalid: the backing file is 1 byte to 4 GiB - 1 (QEMU keeps it in 32 bits)`, 'size')
  }
  if (size % recordSize !== 0 || recordSize > size) {
    throw new ErstSetupError(`size ${size} is not a multiple of record_size ${recordSize}: QEMU requires it (e.g. 0x10000 with 8K records)`, 'size')
  }
  return {
    backend: 'erst',
    erstRecordSize: recordSize,
    source: 'module',
    memAddress: 0,
    memSize: size,
    recordSize,
    consoleSize: 0,
    ftraceSize: 0,
    pmsgSize: 0,
    eccSize: 0,
    eccBlockSize: 128,
    maxReason: 0, // erst sets no max_reason: kmsg_dump() then dumps panics and oopses
    ftracePerCpu: false,
    ...target(options),
  }
}
