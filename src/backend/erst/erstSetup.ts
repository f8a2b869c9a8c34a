/**
 * An ERST setup: QEMU's acpi-erst device (docs/specs/acpi_erst.rst, hw/acpi/erst.c) over a
 * memory-backend-file of `size` bytes, split into `record_size` slots. The image is the file
 * QEMU maps; the target kernel's half is every backend's (backend/target.ts).
 */

import { PstoreSimError } from '../../util/errors.js'
import { fieldProblem, type TargetOptions, type TargetSetup, target, targetProblem, targetSetupJson } from '../target.js'

/** QEMU's names: `size=` of the memory backend, `record_size=` of the acpi-erst device. */
export interface ErstParams {
  size?: number
  record_size?: number
}

/** The size the QEMU documentation gives its memory backend (acpi-erst has no default of its own). */
export const DEFAULT_ERST_SIZE = 0x10000
/** ERST_RECORD_SIZE in hw/acpi/erst.c. */
export const DEFAULT_ERST_RECORD_SIZE = 8192

export interface ErstSetup extends TargetSetup {
  backend: 'erst'
  /** The slot size (the exchange buffer, erst_erange.size to the kernel). */
  erstRecordSize: number
  /** The backing file's size (QEMU's size=): the image's. */
  memSize: number
  /** erst sets no max_reason: kmsg_dump() then dumps panics and oopses (0). */
  maxReason: number
}

/** Where an ERST setup comes from, as the sidecar keeps it: QEMU's size and record_size (absent: the file's, or the defaults). */
export interface ErstSource {
  backend: 'erst'
  erst: ErstParams
  target: TargetOptions
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

/** QEMU's checks at realize (check_erst_backend_storage) plus the page-multiple size of a memory backend. */
export function fromErstParams(params: ErstParams, options: TargetOptions = {}): ErstSetup {
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
  return { backend: 'erst', erstRecordSize: recordSize, memSize: size, maxReason: 0, ...target(options) }
}

export function fromErstSource(source: ErstSource): ErstSetup {
  return fromErstParams(source.erst, source.target)
}

/** Why an object read from a sidecar is not an ErstSource (the values are checked when it is resolved). */
export function erstSourceProblem(o: Record<string, unknown>): string | undefined {
  return (
    fieldProblem('setup', o, { erst: 'object' }, ['erst']) ??
    fieldProblem('setup.erst', o.erst as Record<string, unknown>, { size: 'number', record_size: 'number' }) ??
    targetProblem(o)
  )
}

/** An ERST setup as JSON (the sidecar's `resolved`, `inspect --json`): QEMU's size and record_size, the target. */
export function erstSetupJson(setup: ErstSetup) {
  return { backend: setup.backend, size: setup.memSize, record_size: setup.erstRecordSize, ...targetSetupJson(setup) }
}

export type ErstSetupJson = ReturnType<typeof erstSetupJson>

/** What a boot logs after the version line, as Debian's 6.1/6.12 print it (the params.json of test/fixtures/erst-6.x): ERST is built in, no parameters. */
export function erstBootLines(setup: ErstSetup): string[] {
  return [
    'Command line: console=ttyS0,115200',
    'ERST: Error Record Serialization Table (ERST) support is initialized.',
    `pstore: Using crash dump compression: ${setup.compress ? setup.compressAlgorithm : 'none'}`,
    'pstore: Registered erst as persistent store backend',
  ]
}
