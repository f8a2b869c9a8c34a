/**
 * A pstore/blk setup (fs/pstore/blk.c): the module parameters with the kernel's names and units
 * (sizes in KiB), from `name=value` words or a kernel command line (`pstore_blk.NAME=VALUE`),
 * normalised as __register_pstore_device() and register_pstore_zone() do. The disk itself is
 * the image: its size is the device size the kernel reads with bdev_nr_bytes().
 */
import { type CompressAlgorithm, DEFAULT_KERNEL, type KernelQuirks, type KernelVersion, parseKernelVersion, quirksFor } from '../../format/kernelVersion.js'
import { PstoreSimError } from '../../util/errors.js'
import { compression, fieldProblem, parseKernelInteger, type TargetOptions, type TargetSetup, targetProblem, targetSetupJson } from '../target.js'

/** pstore_blk's module parameters as given; absent = the module's default. */
export interface BlkModuleParams {
  blkdev?: string
  /** KiB; <= 0 means no zone of that type */
  kmsg_size?: number
  pmsg_size?: number
  console_size?: number
  ftrace_size?: number
  max_reason?: number
  best_effort?: boolean
}

export const BLK_PARAM_NAMES = ['blkdev', 'kmsg_size', 'pmsg_size', 'console_size', 'ftrace_size', 'max_reason', 'best_effort'] as const

/** Which frontends the kernel has (CONFIG_PSTORE_PMSG, _CONSOLE, _FTRACE); Debian's have none. */
export interface BlkFrontends {
  console: boolean
  pmsg: boolean
  ftrace: boolean
}

export interface BlkTargetOptions {
  kernel?: string
  /** nr_cpu_ids: the ftrace zones are split per CPU */
  cpus?: number
  frontends?: Partial<BlkFrontends>
  /** pstore.compress: deflate (default), another algorithm (4.19–6.5) or none; true/false: deflate/none */
  compress?: boolean | string
}

export interface BlkSetup {
  backend: 'blk'
  blkdev: string
  /** the image (the block device) in bytes */
  diskSize: number
  /** what pstore/zone uses: the device size capped at 128 MiB */
  totalSize: number
  /** zone sizes in bytes after check_size() */
  kmsgSize: number
  pmsgSize: number
  consoleSize: number
  ftraceSize: number
  maxReason: number
  kernel: KernelVersion
  cpus: number
  frontends: BlkFrontends
  compress: boolean
  compressAlgorithm: CompressAlgorithm
  quirks: KernelQuirks
}

/** Where a pstore/blk setup comes from, as the sidecar keeps it: the `pstore_blk.*` command line over a disk of `diskSize` bytes. */
export interface BlkSource {
  backend: 'blk'
  cmdline: string
  /** the image's size (its disk's): an existing image's own size wins over it */
  diskSize: number
  target: TargetOptions
}

/** The kernel would refuse the setup (pstore_blk.ko fails to load); the message says why. */
export class BlkSetupError extends PstoreSimError {
  override name = 'BlkSetupError'
}

/** CONFIG_PSTORE_BLK_KMSG_SIZE and CONFIG_PSTORE_BLK_MAX_REASON as Debian (and upstream's Kconfig) set them. */
export const DEFAULT_KMSG_SIZE_KIB = 64
export const DEFAULT_MAX_REASON = 2
/** upstream's Kconfig default for the pmsg/console/ftrace sizes when that frontend is built in */
const DEFAULT_FRONTEND_SIZE_KIB = 64
const SZ_128M = 128 * 1024 * 1024

/** param_set_bool() (kstrtobool): y/Y/1/on and n/N/0/off. */
function parseBool(text: string, what: string): boolean {
  if (/^([yY1]|[oO][nN])/.test(text) && !/^[oO][fF]/.test(text)) return true
  if (/^([nN0]|[oO][fF][fF]?)/.test(text)) return false
  throw new BlkSetupError(`${what}: "${text}" is not a boolean (use y or n)`)
}

function setParam(params: BlkModuleParams, name: string, value: string, what: string): void {
  switch (name) {
    case 'blkdev':
      if (value.length >= 80) throw new BlkSetupError(`${what}: longer than the kernel's 80-byte blkdev buffer`)
      params.blkdev = value
      return
    case 'best_effort':
      params.best_effort = parseBool(value, what)
      return
    case 'kmsg_size':
    case 'pmsg_size':
    case 'console_size':
    case 'ftrace_size':
    case 'max_reason':
      params[name] = parseKernelInteger(value, what, (message) => new BlkSetupError(message))
      return
    default:
      throw new BlkSetupError(`unknown pstore_blk parameter "${what}" (known: ${BLK_PARAM_NAMES.join(', ')})`)
  }
}

/** `blkdev=/dev/vda kmsg_size=64 best_effort=y` (insmod's form; commas also separate). */
export function parseModuleOptions(text: string): BlkModuleParams {
  const params: BlkModuleParams = {}
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const eq = word.indexOf('=')
    // a bare boolean parameter means y, as for insmod
    if (eq < 0) setParam(params, word.replace(/-/g, '_'), 'y', word)
    else setParam(params, word.slice(0, eq).replace(/-/g, '_'), word.slice(eq + 1).replace(/^"(.*)"$/, '$1'), word)
  }
  return params
}

/** A kernel command line: the `pstore_blk.*` words, plus `pstore.compress=`; other words are ignored. */
export function parseBlkCmdline(cmdline: string): { params: BlkModuleParams; compress?: string } {
  const params: BlkModuleParams = {}
  let compress: string | undefined
  for (const word of cmdline.trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=')
    const key = eq < 0 ? word : word.slice(0, eq)
    const value = eq < 0 ? 'y' : word.slice(eq + 1).replace(/^"(.*)"$/, '$1')
    if (key.startsWith('pstore_blk.')) setParam(params, key.slice('pstore_blk.'.length).replace(/-/g, '_'), value, key)
    else if (key === 'pstore.compress') compress = value
  }
  return { params, compress }
}

/**
 * check_size(): KiB → bytes, <= 0 → 0. A value that is not a multiple of 4 KiB is "aligned" the
 * kernel's way: ALIGN() is applied to the KiB number, not to the bytes, so kmsg_size=6 gives
 * 4096 bytes and kmsg_size=4097 gives 8192 (the kernel logs "must align to 4096").
 */
export function checkSize(kib: number): number {
  if (kib <= 0) return 0
  const bytes = kib * 1024
  if (bytes % 4096 === 0) return bytes
  return Math.ceil(kib / 4096) * 4096
}

/** The setup the kernel ends up with for a disk of `diskSize` bytes, or why the module fails to load. */
export function blkSetup(params: BlkModuleParams, diskSize: number, options: BlkTargetOptions = {}): BlkSetup {
  for (const name of ['kmsg_size', 'pmsg_size', 'console_size', 'ftrace_size', 'max_reason'] as const) {
    const value = params[name]
    if (value !== undefined && !Number.isSafeInteger(value)) throw new BlkSetupError(`pstore_blk.${name} ${value} is not a whole number`)
  }
  if (!params.best_effort) {
    throw new BlkSetupError('pstore_blk.best_effort is off: without a driver of its own for the disk, pstore/blk registers nothing (give best_effort=y)')
  }
  const blkdev = params.blkdev ?? ''
  if (!blkdev) throw new BlkSetupError('pstore_blk.blkdev is empty: best_effort needs the block device (e.g. blkdev=/dev/vda)')
  const kernel = parseKernelVersion(options.kernel ?? DEFAULT_KERNEL)
  const cpus = options.cpus ?? 1
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 8192) throw new BlkSetupError(`cpus must be a whole number from 1 to 8192, not ${options.cpus}`)
  const frontends: BlkFrontends = { console: false, pmsg: false, ftrace: false, ...options.frontends }
  // Without the frontend the module's default is -1 (no zone); the parameter still makes one.
  const size = (given: number | undefined, frontend: boolean): number => checkSize(given ?? (frontend ? DEFAULT_FRONTEND_SIZE_KIB : -1))
  const setup: BlkSetup = {
    backend: 'blk',
    blkdev,
    diskSize,
    totalSize: Math.min(diskSize, SZ_128M),
    kmsgSize: checkSize(params.kmsg_size ?? DEFAULT_KMSG_SIZE_KIB),
    pmsgSize: size(params.pmsg_size, frontends.pmsg),
    consoleSize: size(params.console_size, frontends.console),
    ftraceSize: size(params.ftrace_size, frontends.ftrace),
    maxReason: params.max_reason ?? DEFAULT_MAX_REASON,
    kernel,
    cpus,
    frontends,
    ...compression(kernel, options.compress),
    quirks: quirksFor(kernel),
  }
  // register_pstore_zone()'s checks, in its order
  if (diskSize < 4096) throw new BlkSetupError(`the disk is ${diskSize} bytes: pstore/zone needs at least 4096`)
  if (setup.totalSize % 4096 !== 0) throw new BlkSetupError(`the disk is ${diskSize} bytes: pstore/zone needs a multiple of 4096`)
  if (!setup.kmsgSize && !setup.pmsgSize && !setup.consoleSize && !setup.ftraceSize) {
    throw new BlkSetupError('every zone size is 0: pstore/zone needs at least one (e.g. kmsg_size=64)')
  }
  return setup
}

/** The module parameters as the kernel shows them afterwards in /sys/module/pstore_blk/parameters (KiB). */
export function effectiveParams(setup: BlkSetup): Required<BlkModuleParams> {
  return {
    blkdev: setup.blkdev,
    kmsg_size: setup.kmsgSize / 1024,
    pmsg_size: setup.pmsgSize / 1024,
    console_size: setup.consoleSize / 1024,
    ftrace_size: setup.ftraceSize / 1024,
    max_reason: setup.maxReason,
    best_effort: true,
  }
}

/** A pstore/blk setup from its source: the command line's `pstore.compress=` unless the target gives one. */
export function fromBlkSource(source: BlkSource): BlkSetup {
  const { params, compress } = parseBlkCmdline(source.cmdline)
  const t = source.target
  return blkSetup(params, source.diskSize, { kernel: t.kernel, cpus: t.cpus, compress: t.compress ?? compress })
}

/** Why an object read from a sidecar is not a BlkSource (the command line is parsed when it is resolved). */
export function blkSourceProblem(o: Record<string, unknown>): string | undefined {
  return fieldProblem('setup', o, { cmdline: 'string', diskSize: 'number' }, ['cmdline', 'diskSize']) ?? targetProblem(o)
}

/**
 * The target the setup runs on. No frontend: the kernels pstore/blk was checked against
 * (Debian's) have none, and the backend writes no console, pmsg or ftrace zone; the 64-bit word
 * is the only one checked.
 */
export function blkTarget(setup: BlkSetup): TargetSetup {
  const { kernel, cpus, compress, compressAlgorithm, quirks } = setup
  return { kernel, cpus, wordBits: 64, frontends: { console: false, pmsg: false, ftrace: false }, compress, compressAlgorithm, quirks }
}

/** A pstore/blk setup as JSON (the sidecar's `resolved`, `inspect --json`): the module's parameters as sysfs shows them (sizes in KiB), the disk's size, the target. */
export function blkSetupJson(setup: BlkSetup) {
  return { backend: setup.backend, ...effectiveParams(setup), diskSize: setup.diskSize, ...targetSetupJson(blkTarget(setup)) }
}

export type BlkSetupJson = ReturnType<typeof blkSetupJson>

/** What a boot with this setup logs after the version line: its command line, then pstore/blk's registration. */
export function blkBootLines(setup: BlkSetup): string[] {
  const kib = (n: number) => n / 1024
  const reason = ['Unknown', 'Panic', 'Oops', 'Emergency', 'Shutdown'][setup.maxReason] ?? 'Unknown'
  return [
    `Command line: console=ttyS0,115200 pstore_blk.blkdev=${setup.blkdev} pstore_blk.kmsg_size=${kib(setup.kmsgSize)} pstore_blk.best_effort=y`,
    `pstore_zone: registered pstore_blk as backend for kmsg(${reason})${setup.pmsgSize ? ' pmsg' : ''}${setup.consoleSize ? ' console' : ''}${setup.ftraceSize ? ' ftrace' : ''}`,
    `pstore: Using crash dump compression: ${setup.compress ? setup.compressAlgorithm : 'none'}`,
    'pstore: Registered pstore_blk as persistent store backend',
    `pstore_blk: attached ${setup.blkdev} (${setup.diskSize}) (no dedicated panic_write!)`,
  ]
}
