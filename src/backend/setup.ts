/**
 * A backend's setup, whichever backend: one type per backend (`RamoopsConfig`, `BlkConfig`,
 * `ErstConfig`), told apart by `backend`, and what code above the backends needs of any of them:
 * the source a sidecar keeps and its resolution, the target half, the image's size, the dmesg
 * units, the boot log, the JSON form. Everything here switches on the tag; what a setup holds
 * beyond this stays in its backend's folder.
 */
import { type BlkConfig, type BlkSetupJson, blkBootLines, blkConfig, blkSetupJson, parseBlkCmdline } from './blk/config.js'
import { computeBlkLayout } from './blk/layout.js'
import { type EfiConfig, type EfiParams, type EfiSetupJson, efiBootLines, efiSetupJson, fromEfiParams } from './efi/config.js'
import { type ErstConfig, type ErstParams, type ErstSetupJson, erstBootLines, erstSetupJson, fromErstParams } from './erst/config.js'
import { headerBytes } from './erst/storage.js'
import {
  configToJson,
  fromCmdline,
  fromDts,
  fromModuleParams,
  type ModuleParams,
  type RamoopsConfig,
  type RamoopsConfigJson,
  ramoopsBootLines,
} from './ramoops/config.js'
import { computeLayout } from './ramoops/layout.js'
import { type FtraceVersion, probeFtraceVersion } from './ramoops/versionProbe.js'
import type { TargetOptions, TargetSetup } from './target.js'

export type { FtraceVersion }

export type BackendConfig = RamoopsConfig | BlkConfig | ErstConfig | EfiConfig

/**
 * A setup as JSON (the sidecar's `resolved`, `inspect --json`): the shape pstore-sim has always
 * written, with ramoops' field names for every backend (erst and blk fill them from their own:
 * zone sizes, `memSize` the image's size), erst's `backend` and `erstRecordSize`, blk's `blk`.
 */
export type SetupJson = RamoopsConfigJson | ErstSetupJson | BlkSetupJson | EfiSetupJson

/** The pstore backend an image is laid out for (`--backend`); absent means ramoops. */
export type BackendChoice = BackendConfig['backend']

export const BACKEND_CHOICES: readonly BackendChoice[] = ['ramoops', 'blk', 'erst', 'efi']

export interface SetupSource {
  backend?: BackendChoice
  /** erst: QEMU's memory-backend size and acpi-erst record_size. */
  erst?: ErstParams
  /** efi: efi_pstore.record_size, the store file's size and the template it was made from. */
  efi?: EfiParams
  /** ramoops module parameters (the `--mem-size …` flags mean exactly these). */
  params?: ModuleParams
  cmdline?: string
  dts?: string
  dtsFile?: string
  target: TargetOptions
  /** blk: `cmdline` holds the pstore_blk.* words, the image is the disk; its size in bytes (the image's size) */
  diskSize?: number
}

/** The setup a source gives (the sidecar's `setup`, with overrides): its backend's own resolution. */
export function resolveSetup(source: SetupSource): BackendConfig {
  if (source.backend === 'blk') return blkSetup(source)
  if (source.backend === 'erst') return fromErstParams(source.erst ?? {}, source.target)
  if (source.backend === 'efi') return fromEfiParams(source.efi ?? {}, source.target)
  return resolveRamoops(source)
}

/** A pstore/blk setup: its `pstore_blk.*` command line over the disk. */
export function blkSetup(source: SetupSource): BlkConfig {
  const { params, compress } = parseBlkCmdline(source.cmdline ?? '')
  const t = source.target
  return blkConfig(params, source.diskSize ?? 0, { kernel: t.kernel, cpus: t.cpus, compress: t.compress ?? compress })
}

/** A ramoops setup (no `backend`, or 'ramoops'): from its device tree, command line or module parameters. */
function resolveRamoops(source: SetupSource): RamoopsConfig {
  if (source.dts !== undefined) return fromDts(source.dts, source.target, source.dtsFile ?? 'device tree')
  if (source.cmdline !== undefined) return fromCmdline(source.cmdline, source.target)
  return fromModuleParams(source.params ?? {}, source.target)
}

/** Whether the image's ftrace zones sign the kernel version: ramoops' only (pstore/blk's zones and ERST's records hold none). */
export function signsKernelVersion(source: SetupSource): boolean {
  return source.backend === undefined || source.backend === 'ramoops'
}

/** The kernel version a ramoops image's ftrace zones show under this source (any version's layout). */
export function ftraceVersionIn(source: SetupSource, readU32: (offset: number) => number | undefined): FtraceVersion | undefined {
  if (!signsKernelVersion(source)) return undefined
  return probeFtraceVersion((kernel) => resolveRamoops({ ...source, target: { ...source.target, kernel } }), readU32)
}

/** The target kernel and machine the setup runs on. */
export function targetOf(config: BackendConfig): TargetSetup {
  const { kernel, cpus, compress, compressAlgorithm, quirks } = config
  switch (config.backend) {
    case 'blk':
      // No frontend: the kernels pstore/blk was checked against (Debian's) have none, and the
      // backend writes no console, pmsg or ftrace zone; the 64-bit word is the only one checked.
      return { kernel, cpus, wordBits: 64, frontends: { console: false, pmsg: false, ftrace: false }, compress, compressAlgorithm, quirks }
    case 'erst':
    case 'efi':
    case 'ramoops':
      return { kernel, cpus, wordBits: config.wordBits, frontends: config.frontends, compress, compressAlgorithm, quirks }
  }
}

/** The image's size in bytes: ramoops' region, pstore/blk's disk, ERST's backing file. */
export function imageSize(config: BackendConfig): number {
  return config.backend === 'blk' ? config.diskSize : config.memSize
}

/** How many dmesg records the setup holds (zones, or ERST slots; efi: 0, no fixed units); throws the backend's error if it cannot be laid out. */
export function dmesgUnits(config: BackendConfig): number {
  switch (config.backend) {
    case 'ramoops':
      return computeLayout(config).dmesg.length
    case 'blk':
      return computeBlkLayout(config).dmesg.length
    case 'erst':
      return (config.memSize - headerBytes(config.memSize, config.erstRecordSize)) / config.erstRecordSize
    case 'efi':
      // no fixed units: one variable a part, as many as the firmware's store has room for
      return 0
  }
}

/** Whether the target has a /dev/pmsg0 to serve: the frontend and a pmsg zone for it. */
export function hasPmsgDevice(config: BackendConfig): boolean {
  return config.backend === 'ramoops' && config.pmsgSize > 0 && config.frontends.pmsg
}

/** What a boot logs after its version line: the command line, then the backend's probe and registration. */
export function backendBootLines(config: BackendConfig): string[] {
  switch (config.backend) {
    case 'ramoops':
      return ramoopsBootLines(config)
    case 'blk':
      return blkBootLines(config)
    case 'erst':
      return erstBootLines(config)
    case 'efi':
      return efiBootLines(config)
  }
}

export function setupJson(config: BackendConfig): SetupJson {
  switch (config.backend) {
    case 'ramoops':
      return configToJson(config)
    case 'blk':
      return blkSetupJson(config)
    case 'erst':
      return erstSetupJson(config)
    case 'efi':
      return efiSetupJson(config)
  }
}

/** Whether the setup has an ftrace zone (ERST stores dmesg records only). */
export function hasFtraceZone(config: BackendConfig): boolean {
  return config.backend !== 'erst' && config.backend !== 'efi' && config.ftraceSize > 0
}
