/**
 * Where a command's setup comes from, whichever backend: the sidecar `IMAGE.json` written by
 * `format`, overridden by setup flags, a kernel command line or a device-tree file. The sidecar
 * keeps the *inputs* (module parameters, cmdline or dts text, a backend's own parameters) so
 * that flags override them the way a kernel would combine them, and `--cmdline` and flags give
 * the same layout.
 */
import fs from 'node:fs'
import { BlkSetupError, type BlkSource } from '../backend/blk/blkSetup.js'
import { DetectError, type Detection, detectSetup } from '../backend/detect.js'
import { type EfiParams, EfiSetupError, type EfiSource } from '../backend/efi/efiSetup.js'
import { type ErstParams, ErstSetupError, type ErstSource } from '../backend/erst/erstSetup.js'
import { ERST_MAGIC } from '../backend/erst/storage.js'
import type { ModuleParams, RamoopsSource } from '../backend/ramoops/ramoopsSetup.js'
import {
  type BackendChoice,
  type BackendSetup,
  dmesgUnits,
  type FtraceVersion,
  ftraceVersionIn,
  hasFtraceZone,
  resolveSetup,
  type SetupSource,
  signsKernelVersion,
} from '../backend/setup.js'
import { ProbeError, type TargetOptions } from '../backend/target.js'
import { formatKernelVersion } from '../format/kernelVersion.js'
import { BLK_CMDLINE_EXAMPLE, SetupError, settingError } from './setupProblems.js'
import { readSidecar, sidecarPath } from './sidecar.js'

export { BACKEND_CHOICES, type BackendChoice, resolveSetup, type SetupSource } from '../backend/setup.js'
export { COMPRESS_CHOICES, type CompressChoice } from '../format/kernelVersion.js'
export type { SetupFacts, SetupProblem } from './setupProblems.js'
// Defined with the setup types (backend/setup.ts) and the problems' words (setupProblems.ts); the CLI and the API import them from here.
export { SetupError, settingError } from './setupProblems.js'
export { readSidecar, sidecarPath, writeSidecar } from './sidecar.js'

/** Overrides given on the command line, all optional. */
export interface SetupOverrides {
  backend?: BackendChoice
  erst?: ErstParams
  /** efi: record_size (6.2+) and, for format, the empty store's file (varsTemplate) */
  efi?: EfiParams
  params?: ModuleParams
  cmdline?: string
  dtsFile?: string
  target?: TargetOptions
  /** --disk-size (blk, format only: an existing image's size is its disk's) */
  diskSize?: number
  /** --detect: the setup from the image's own bytes (backend/detect.ts); the target given still wins */
  detect?: boolean
}

/** The blk setup: the sidecar's, with a new command line and disk size where given. */
function blkSource(image: string, base: SetupSource | undefined, overrides: SetupOverrides, target: TargetOptions): BlkSource {
  const given = Object.entries(overrides.params ?? {}).find(([, v]) => v !== undefined)
  if (given) throw settingError({ problem: 'ramoopsParamOnBlk', subject: image, param: `params.${given[0]}`, value: given[1], detail: BLK_CMDLINE_EXAMPLE })
  if (overrides.dtsFile !== undefined)
    throw settingError({ problem: 'dtsOnBlk', subject: image, param: 'dtsFile', value: overrides.dtsFile, detail: BLK_CMDLINE_EXAMPLE })
  if (hasKeys(overrides.erst)) throw settingError({ problem: 'erstOnBlk', subject: image, param: 'erst' })
  const cmdline = overrides.cmdline ?? (base?.backend === 'blk' ? base.cmdline : undefined)
  if (cmdline === undefined) throw settingError({ problem: 'blkNeedsCmdline', subject: image, param: 'cmdline', detail: BLK_CMDLINE_EXAMPLE })
  let diskSize = overrides.diskSize
  if (diskSize === undefined && fs.existsSync(image)) diskSize = fs.statSync(image).size
  if (diskSize === undefined && base?.backend === 'blk') diskSize = base.diskSize
  if (diskSize === undefined) throw settingError({ problem: 'blkNeedsDiskSize', subject: image, param: 'diskSize' })
  return { backend: 'blk', cmdline, diskSize, target }
}

/**
 * The efi setup: the sidecar's, with the overrides; the store's size is the image's own when it
 * exists, else the template's (format), else OVMF's 4 MiB store.
 */
function efiSource(image: string, base: SetupSource | undefined, overrides: SetupOverrides, target: TargetOptions, formatting: boolean): EfiSource {
  const ramoopsGiven = ramoopsInputGiven(overrides)
  if (ramoopsGiven) throw settingError({ problem: 'ramoopsOnOther', subject: image, param: ramoopsGiven, value: 'efi' })
  if (hasKeys(overrides.erst)) throw settingError({ problem: 'erstOnBlk', subject: image, param: 'erst' })
  const efi: EfiParams = { ...(base?.backend === 'efi' ? base.efi : {}), ...stripUndefined(overrides.efi ?? {}) }
  let size: number | undefined
  try {
    // format replaces an existing image: the new store's size is the template's
    size = formatting ? undefined : fs.statSync(image).size
  } catch {
    size = undefined
  }
  if (size === undefined && efi.varsTemplate !== undefined) {
    try {
      size = fs.statSync(efi.varsTemplate).size
    } catch (err) {
      const detail = `${efi.varsTemplate}: cannot read the variable store template (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
      throw settingError({ problem: 'efiRefused', subject: image, param: 'efi.varsTemplate', detail })
    }
  }
  if (formatting && efi.varsTemplate === undefined) delete efi.size
  return { backend: 'efi', efi: { ...efi, ...(size !== undefined ? { size } : {}) }, target }
}

/** An existing image's size, which for ramoops is mem_size (RegionImage refuses any other); undefined for format or no file. */
function existingSize(image: string, formatting: boolean): number | undefined {
  if (formatting) return undefined
  try {
    const st = fs.statSync(image)
    return st.isFile() && st.size > 0 ? st.size : undefined
  } catch {
    return undefined
  }
}

/** Module parameters without mem_size on an existing dump: its size is the file's, never asked for. */
function paramsWithFileSize(image: string, source: RamoopsInputs, formatting: boolean): RamoopsInputs {
  if (source.cmdline !== undefined) return { cmdline: cmdlineWithFileSize(image, source.cmdline, formatting) }
  const size = source.params?.mem_size === undefined ? existingSize(image, formatting) : undefined
  return size === undefined ? source : { params: { ...source.params, mem_size: size } }
}

/** A command line without ramoops.mem_size on an existing dump gets the file's size. */
function cmdlineWithFileSize(image: string, cmdline: string, formatting: boolean): string {
  if (/(^|\s)ramoops\.mem[-_]size=/.test(cmdline)) return cmdline
  const size = existingSize(image, formatting)
  return size === undefined ? cmdline : `${cmdline.trim()} ramoops.mem_size=0x${size.toString(16)}`
}

/** A ramoops source's module parameters or command line. */
type RamoopsInputs = Pick<RamoopsSource, 'params' | 'cmdline'>

/** The first ramoops input given (a device tree, a command line, module parameters), which other backends refuse. */
function ramoopsInputGiven(overrides: SetupOverrides): 'dtsFile' | 'cmdline' | 'params' | undefined {
  return overrides.dtsFile !== undefined ? 'dtsFile' : overrides.cmdline !== undefined ? 'cmdline' : hasKeys(overrides.params) ? 'params' : undefined
}

function hasKeys(o: object | undefined): boolean {
  return !!o && Object.values(o).some((v) => v !== undefined)
}

/** The ERST setup: the file's own size and header, then the sidecar's, then the overrides. */
function erstSource(
  image: string,
  base: SetupSource | undefined,
  overrides: SetupOverrides,
  target: TargetOptions,
  options: { ignoreSidecar?: boolean },
): ErstSource {
  const ramoopsGiven = ramoopsInputGiven(overrides)
  if (ramoopsGiven) throw settingError({ problem: 'ramoopsOnOther', subject: image, param: ramoopsGiven, value: 'erst' })
  const erst = {
    ...(options.ignoreSidecar ? {} : erstFromFile(image)),
    ...(base?.backend === 'erst' ? base.erst : {}),
    ...stripUndefined(overrides.erst ?? {}),
  }
  return { backend: 'erst', erst, target }
}

/** The ramoops setup: a device tree, a command line or module parameters given, else the sidecar's. */
function ramoopsSource(image: string, base: SetupSource | undefined, overrides: SetupOverrides, target: TargetOptions, formatting: boolean): RamoopsSource {
  if (hasKeys(overrides.erst)) throw settingError({ problem: 'erstOnRamoops', subject: image, param: 'erst' })
  if (overrides.dtsFile !== undefined) {
    let dts: string
    try {
      dts = fs.readFileSync(overrides.dtsFile, 'utf8')
    } catch (err) {
      throw new SetupError(`${overrides.dtsFile}: cannot read the device tree: ${(err as Error).message}`)
    }
    return { backend: 'ramoops', dts, dtsFile: overrides.dtsFile, target }
  }
  if (overrides.cmdline !== undefined) return { backend: 'ramoops', cmdline: cmdlineWithFileSize(image, overrides.cmdline, formatting), target }
  if (hasKeys(overrides.params)) {
    const params = overrideParams(image, base, stripUndefined(overrides.params ?? {}))
    return { backend: 'ramoops', ...paramsWithFileSize(image, params, formatting), target }
  }
  if (base?.backend === 'ramoops') return { ...base, target }
  if (base) throw new SetupError(`${image}: its sidecar sets up the ${base.backend} backend; give the ramoops setup (params, cmdline or dtsFile)`)
  throw settingError({ problem: 'noSetup', subject: image, param: 'setup', detail: sidecarPath(image) })
}

/**
 * The setup for an image: sidecar, then overrides. A dump with neither gets a clear error
 * saying what to pass.
 */
export function setupForImage(
  image: string,
  overrides: SetupOverrides,
  options: { ignoreSidecar?: boolean; formatting?: boolean } = {},
): { source: SetupSource; setup: BackendSetup; fromSidecar: boolean; detection?: Detection } {
  if (overrides.detect) return detectedSetup(image, overrides)
  const sidecar = options.ignoreSidecar ? undefined : readSidecar(image)
  const base = sidecar?.setup
  const target = { ...base?.target, ...stripUndefined(overrides.target ?? {}) }
  const backend = overrides.backend ?? base?.backend ?? 'ramoops'
  let source: SetupSource
  if (backend === 'blk') {
    source = blkSource(image, base, overrides, target)
    if (isAuto(target.kernel)) throw settingError({ problem: 'autoOnBlk', subject: image, param: 'target.kernel', value: 'auto' })
    try {
      const setup = resolveSetup(source)
      dmesgUnits(setup) // lays the disk out: "no room for …" before anything opens it
      return { source, setup, fromSidecar: !!sidecar }
    } catch (err) {
      if (err instanceof BlkSetupError) throw new SetupError(`${image}: the kernel would refuse this setup: ${err.message}`)
      throw err
    }
  }
  if (backend === 'efi') {
    source = efiSource(image, base, overrides, target, options.formatting === true)
    if (isAuto(target.kernel)) throw settingError({ problem: 'autoOnEfi', subject: image, param: 'target.kernel', value: 'auto' })
    try {
      return { source, setup: resolveSetup(source), fromSidecar: !!sidecar }
    } catch (err) {
      if (err instanceof EfiSetupError) throw settingError({ problem: 'efiRefused', subject: image, param: `efi.${err.param}`, detail: err.message })
      if (err instanceof RangeError) throw new SetupError(`${image}: the kernel would refuse this setup: ${err.message}`)
      throw err
    }
  }
  if (hasKeys(overrides.efi)) throw settingError({ problem: 'efiOnOther', subject: image, param: 'efi' })
  if (overrides.diskSize !== undefined) throw settingError({ problem: 'diskSizeNotBlk', subject: image, param: 'diskSize', value: overrides.diskSize })
  source = backend === 'erst' ? erstSource(image, base, overrides, target, options) : ramoopsSource(image, base, overrides, target, options.formatting === true)
  try {
    if (isAuto(source.target.kernel)) {
      if (source.backend === 'erst') throw settingError({ problem: 'autoOnErst', subject: image, param: 'target.kernel', value: 'auto' })
      source = { ...source, target: { ...source.target, kernel: autoKernel(image, source) } }
    }
    return { source, setup: resolveSetup(source), fromSidecar: !!sidecar }
  } catch (err) {
    if (err instanceof ErstSetupError) {
      throw settingError({ problem: 'erstRefused', subject: image, param: `erst.${err.param}`, detail: err.message })
    }
    if (err instanceof ProbeError || err instanceof RangeError) throw new SetupError(`${image}: the kernel would refuse this setup: ${err.message}`)
    throw err
  }
}

/**
 * What an existing ERST file tells by itself: its size is QEMU's size=, and a header QEMU wrote
 * holds record_size; neither is asked for again (the sidecar or a flag still wins).
 */
function erstFromFile(image: string): ErstParams {
  let fd: number
  try {
    fd = fs.openSync(image, 'r')
  } catch {
    return {}
  }
  try {
    const size = fs.fstatSync(fd).size
    const header = Buffer.alloc(12)
    const magic = fs.readSync(fd, header, 0, 12, 0) === 12 && header.readBigUInt64LE(0) === ERST_MAGIC
    return { ...(size > 0 ? { size } : {}), ...(magic ? { record_size: header.readUInt32LE(8) } : {}) }
  } finally {
    fs.closeSync(fd)
  }
}

/** `--detect`: the setup the image's bytes tell, with the user's target (kernel, CPUs, frontends) over it. */
function detectedSetup(image: string, overrides: SetupOverrides): { source: SetupSource; setup: BackendSetup; fromSidecar: false; detection: Detection } {
  const given =
    ramoopsInputGiven(overrides) ??
    (hasKeys(overrides.erst)
      ? 'erst'
      : hasKeys(overrides.efi)
        ? 'efi'
        : overrides.diskSize !== undefined
          ? 'diskSize'
          : overrides.backend
            ? 'backend'
            : undefined)
  if (given) throw new SetupError(`${image}: detect reads the setup from the image; ${given} cannot be given with it (give the target kernel and CPUs only)`)
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(image)
  } catch (err) {
    throw new SetupError(`${image}: cannot read the image to detect its setup: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const target = stripUndefined(overrides.target ?? {})
  if (isAuto(target.kernel)) delete target.kernel // the detection reads the ftrace signature itself
  let detection: Detection
  try {
    detection = detectSetup(bytes, target)
  } catch (err) {
    if (err instanceof DetectError || err instanceof RangeError) throw new SetupError(`${image}: detect: ${err.message}`)
    throw err
  }
  try {
    return { source: detection.source, setup: resolveSetup(detection.source), fromSidecar: false, detection }
  } catch (err) {
    if (err instanceof ProbeError || err instanceof RangeError || err instanceof BlkSetupError || err instanceof ErstSetupError || err instanceof EfiSetupError)
      throw new SetupError(`${image}: the kernel would refuse the detected setup: ${err.message}`)
    throw err
  }
}

/** `--kernel auto`: take the version from the dump's ftrace signatures. */
export const isAuto = (kernel: string | undefined): boolean => kernel?.trim().toLowerCase() === 'auto'

/** Reads little-endian u32s from an image file without loading it (a dump may be large). */
function u32Reader(image: string): { read: (offset: number) => number | undefined; close: () => void } {
  let fd: number
  try {
    fd = fs.openSync(image, 'r')
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw settingError({ problem: 'autoUnreadable', subject: image, param: 'target.kernel', value: 'auto', detail })
  }
  const buf = Buffer.alloc(4)
  return {
    read: (offset) => (fs.readSync(fd, buf, 0, 4, offset) === 4 ? buf.readUInt32LE(0) : undefined),
    close: () => fs.closeSync(fd),
  }
}

/** The kernel version the image's ftrace zones show under this setup (any version's layout), if any. */
export function ftraceVersionOf(image: string, source: SetupSource): FtraceVersion | undefined {
  if (!signsKernelVersion(source)) return undefined // before the image is opened
  const reader = u32Reader(image)
  try {
    return ftraceVersionIn(source, reader.read)
  } finally {
    reader.close()
  }
}

function autoKernel(image: string, source: SetupSource): string {
  const found = ftraceVersionOf(image, source)
  if (found) return formatKernelVersion(found.version)
  const probe = resolveSetup({ ...source, target: { ...source.target, kernel: undefined } })
  const why = !hasFtraceZone(probe)
    ? 'this setup has no ftrace zone'
    : 'no ftrace zone holds a kernel-version signature (a region no kernel with these ftrace zones has booted on, or another setup)'
  throw settingError({ problem: 'autoNotFound', subject: image, param: 'target.kernel', value: 'auto', detail: why })
}

/**
 * Module parameters given on top of a sidecar's setup, combined as the kernel combines them:
 * over module parameters one by one; after a command line's `ramoops.*` words (the last of
 * two equal words wins, as parse_args() goes left to right). A device tree takes no module
 * parameters (its node's properties are the setup), so none are accepted on top of one.
 */
function overrideParams(image: string, base: SetupSource | undefined, params: ModuleParams): RamoopsInputs {
  if (base?.backend !== 'ramoops') return { params }
  if (base.dts !== undefined) {
    throw new SetupError(
      `${image}: its setup is a device tree (${sidecarPath(image)}); module parameters do not change a device-tree setup: give a changed device tree instead`,
    )
  }
  if (base.cmdline !== undefined) {
    const words = Object.entries(params).map(([name, value]) => `ramoops.${name}=${value}`)
    return { cmdline: [base.cmdline.trim(), ...words].join(' ') }
  }
  return { params: { ...base.params, ...params } }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** `0x8000`, `32768`, `32K`, `1M`, `1G`: sizes as users type them (CLI flags only). */
export function parseSize(text: string | number, what: string): number {
  if (typeof text === 'number') return text
  const m = /^\s*(0x[0-9a-fA-F]+|\d+)\s*([kKmMgG]i?[bB]?)?\s*$/.exec(text)
  if (!m) throw new SetupError(`${what}: "${text}" is not a size (use 32768, 0x8000 or 32K)`)
  const base = m[1].toLowerCase().startsWith('0x') ? parseInt(m[1], 16) : parseInt(m[1], 10)
  const unit = (m[2] ?? '').charAt(0).toLowerCase()
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1
  const value = base * factor
  if (!Number.isSafeInteger(value)) throw new SetupError(`${what}: "${text}" is too large`)
  return value
}
