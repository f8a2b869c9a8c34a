/**
 * The target kernel and machine a setup runs on, shared by every backend's setup (ramoops,
 * pstore/blk, ERST): none of it is stored in the image.
 */
import {
  type CompressAlgorithm,
  type CompressChoice,
  compressChoiceRefusal,
  DEFAULT_KERNEL,
  formatKernelVersion,
  type KernelQuirks,
  type KernelVersion,
  parseKernelVersion,
  quirksFor,
} from '../format/kernelVersion.js'
import { PstoreSimError } from '../util/errors.js'

/** Raised when the kernel's probe would refuse the setup; the message says why in plain words. */
export class ProbeError extends PstoreSimError {
  override name = 'ProbeError'
}

/** What the machine running the kernel is like; none of it is stored in the region. */
export interface TargetOptions {
  /** `major.minor.patch`, default 6.12.0. */
  kernel?: string
  /** nr_cpu_ids: number of per-CPU ftrace zones in module-parameter setups. */
  cpus?: number
  /** 64 or 32: the ftrace record is 24 or 16 bytes. */
  wordBits?: 64 | 32
  /** CONFIG_PSTORE_CONSOLE / _PMSG / _FTRACE. A kernel without the ftrace frontend cannot merge per-CPU zones and shows no ftrace file. */
  frontends?: Partial<Frontends>
  /**
   * pstore.compress: deflate (the default), lzo, lz4, lz4hc, 842 or zstd (4.19–6.5), or none;
   * true means the default, false none.
   */
  compress?: boolean | CompressChoice | string
  /** Overrides of single version-derived behaviours (vendor or stable backports). */
  quirks?: Partial<KernelQuirks>
}

export interface Frontends {
  console: boolean
  pmsg: boolean
  ftrace: boolean
}

/** The target kernel and machine resolved: the half every backend's setup shares (the machine reads it, backend/setup.ts gives it). */
export interface TargetSetup {
  kernel: KernelVersion
  cpus: number
  wordBits: 64 | 32
  frontends: Frontends
  compress: boolean
  /** The algorithm pstore compresses dmesg records with when `compress` is on. */
  compressAlgorithm: CompressAlgorithm
  quirks: KernelQuirks
}

/** pstore.compress for kernel `kernel`: whether records are compressed and with what; a ProbeError when the kernel cannot. */
export function compression(kernel: KernelVersion, option: boolean | string | undefined): { compress: boolean; compressAlgorithm: CompressAlgorithm } {
  const choice = option === undefined || option === true ? 'deflate' : option === false ? 'none' : option
  const refusal = compressChoiceRefusal(kernel, choice)
  if (refusal) throw new ProbeError(refusal)
  return choice === 'none' ? { compress: false, compressAlgorithm: 'deflate' } : { compress: true, compressAlgorithm: choice as CompressAlgorithm }
}

/** The target kernel and machine from options (shared by every backend's setup). */
export function target(options: TargetOptions): TargetSetup {
  const kernel = parseKernelVersion(options.kernel ?? DEFAULT_KERNEL)
  const cpus = options.cpus ?? 1
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 8192) throw new ProbeError(`cpus must be a whole number from 1 to 8192, not ${options.cpus}`)
  const wordBits = options.wordBits ?? 64
  if (wordBits !== 64 && wordBits !== 32) throw new ProbeError(`word size must be 64 or 32, not ${String(wordBits)}`)
  return {
    kernel,
    cpus,
    wordBits,
    frontends: { console: true, pmsg: true, ftrace: true, ...options.frontends },
    ...compression(kernel, options.compress),
    quirks: { ...quirksFor(kernel), ...options.quirks },
  }
}

/**
 * The JSON form (sidecar, `inspect --json`) of a backend without zones, ERST's and efi's: the
 * target's half under ramoops' field names, every zone size 0, `recordSize` the backend's own.
 */
export function zonelessSetupJson(config: TargetSetup & { memSize: number; maxReason: number }, recordSize: number) {
  const { memSize, maxReason, kernel, cpus, wordBits, frontends, compress, compressAlgorithm, quirks } = config
  return {
    source: 'module' as const,
    memAddress: 0,
    memSize,
    recordSize,
    consoleSize: 0,
    ftraceSize: 0,
    pmsgSize: 0,
    eccSize: 0,
    eccBlockSize: 128,
    maxReason,
    ftracePerCpu: false,
    kernel: formatKernelVersion(kernel),
    cpus,
    wordBits,
    frontends,
    compress,
    ...(compress && compressAlgorithm !== 'deflate' ? { compressAlgorithm } : {}),
    quirks,
  }
}
