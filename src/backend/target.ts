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

/**
 * kstrtol()/kstrtoul() with base 0, as module parameters and the command line are parsed: 0x hex,
 * leading-0 octal, decimal, a sign. `refuse` makes the backend's error (ramoops' ProbeError by
 * default, pstore/blk's BlkSetupError).
 */
export function parseKernelInteger(text: string, what: string, refuse: (message: string) => Error = (m) => new ProbeError(m)): number {
  const match = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)\n?$/.exec(text.trim())
  if (!match) throw refuse(`${what}: "${text}" is not a number (use decimal, 0x hex or 0 octal)`)
  const body = match[2]
  const magnitude = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10)
  const value = match[1] === '-' ? -magnitude : magnitude
  if (!Number.isSafeInteger(value)) throw refuse(`${what}: "${text}" is too large`)
  return value
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
 * The target's half of every backend's setup as JSON (the sidecar's `resolved`, `inspect --json`'s
 * `setup`), beside the backend's own fields: scripts read `kernel` or `cpus` the same way for any
 * backend. `compressAlgorithm` is there when `compress` is on.
 */
export interface TargetSetupJson {
  kernel: string
  cpus: number
  wordBits: 64 | 32
  frontends: Frontends
  compress: boolean
  compressAlgorithm?: CompressAlgorithm
  quirks: KernelQuirks
}

export function targetSetupJson(t: TargetSetup): TargetSetupJson {
  const { cpus, wordBits, frontends, compress, compressAlgorithm, quirks } = t
  return { kernel: formatKernelVersion(t.kernel), cpus, wordBits, frontends, compress, ...(compress ? { compressAlgorithm } : {}), quirks }
}

type JsonType = 'number' | 'string' | 'boolean' | 'object'

/**
 * Why an object read from JSON (a sidecar's setup) does not have the fields it must: the first
 * field `required` lacks or any field of the wrong type, named by its path under `where`.
 */
export function fieldProblem(where: string, o: Record<string, unknown>, types: Record<string, JsonType>, required: readonly string[] = []): string | undefined {
  for (const key of required) if (o[key] === undefined) return `${where}.${key} is missing`
  for (const [key, type] of Object.entries(types)) {
    const value = o[key]
    if (value === undefined) continue
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
    if (actual !== type) return `${where}.${key} is ${JSON.stringify(value).slice(0, 40)}, not ${type === 'object' ? 'an object' : `a ${type}`}`
  }
  return undefined
}

/** Why a sidecar's `target` is not TargetOptions (its values are checked where the setup is resolved). */
export function targetProblem(o: Record<string, unknown>): string | undefined {
  if (typeof o.target !== 'object' || o.target === null || Array.isArray(o.target)) return 'setup.target is not an object'
  const types = { kernel: 'string', cpus: 'number', wordBits: 'number', frontends: 'object', quirks: 'object' } as const
  return fieldProblem('setup.target', o.target as Record<string, unknown>, types)
}
