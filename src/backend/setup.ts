/**
 * A backend's setup, whichever backend: one type per backend (`RamoopsConfig`, `BlkConfig`,
 * `ErstConfig`), told apart by `backend`, and what code above the backends needs of any of them
 * (the target half, the image's size, the dmesg units, the boot log, the JSON form). Everything
 * here switches on the tag; what a setup holds beyond this stays in its backend's folder.
 */
import { type BlkConfig, type BlkSetupJson, blkBootLines, blkSetupJson } from './blk/config.js'
import { computeBlkLayout } from './blk/layout.js'
import { type ErstConfig, type ErstSetupJson, erstBootLines, erstSetupJson } from './erst/config.js'
import { headerBytes } from './erst/storage.js'
import { configToJson, type RamoopsConfig, type RamoopsConfigJson, ramoopsBootLines } from './ramoops/config.js'
import { computeLayout } from './ramoops/layout.js'
import type { TargetSetup } from './target.js'

export type BackendConfig = RamoopsConfig | BlkConfig | ErstConfig

export type BackendName = BackendConfig['backend']

/**
 * A setup as JSON (the sidecar's `resolved`, `inspect --json`): the shape pstore-sim has always
 * written, with ramoops' field names for every backend (erst and blk fill them from their own:
 * zone sizes, `memSize` the image's size), erst's `backend` and `erstRecordSize`, blk's `blk`.
 */
export type SetupJson = RamoopsConfigJson | ErstSetupJson | BlkSetupJson

/** The target kernel and machine the setup runs on. */
export function targetOf(config: BackendConfig): TargetSetup {
  const { kernel, cpus, compress, quirks } = config
  switch (config.backend) {
    case 'blk':
      // No frontend: the kernels pstore/blk was checked against (Debian's) have none, and the
      // backend writes no console, pmsg or ftrace zone; the 64-bit word is the only one checked.
      return { kernel, cpus, wordBits: 64, frontends: { console: false, pmsg: false, ftrace: false }, compress, quirks }
    case 'erst':
    case 'ramoops':
      return { kernel, cpus, wordBits: config.wordBits, frontends: config.frontends, compress, quirks }
  }
}

/** The image's size in bytes: ramoops' region, pstore/blk's disk, ERST's backing file. */
export function imageSize(config: BackendConfig): number {
  return config.backend === 'blk' ? config.diskSize : config.memSize
}

/** How many dmesg records the setup holds (zones, or ERST slots); throws the backend's error if it cannot be laid out. */
export function dmesgUnits(config: BackendConfig): number {
  switch (config.backend) {
    case 'ramoops':
      return computeLayout(config).dmesg.length
    case 'blk':
      return computeBlkLayout(config).dmesg.length
    case 'erst':
      return (config.memSize - headerBytes(config.memSize, config.erstRecordSize)) / config.erstRecordSize
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
  }
}
