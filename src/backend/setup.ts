/**
 * A backend's setup, whichever backend: one type per backend (`RamoopsSetup`, `BlkSetup`,
 * `ErstSetup`, `EfiSetup`), told apart by `backend`, and what code above the backends needs of
 * any of them: the source a sidecar keeps (one type per backend too), its check and resolution,
 * the target half, the image's size, the dmesg units, the boot log, the JSON form. Everything
 * here switches on the tag; what a setup holds beyond this stays in its backend's folder.
 */
import { type BlkSetup, type BlkSetupJson, type BlkSource, blkBootLines, blkSetupJson, blkSourceProblem, blkTarget, fromBlkSource } from './blk/blkSetup.js'
import { computeBlkLayout } from './blk/layout.js'
import { type EfiSetup, type EfiSetupJson, type EfiSource, efiBootLines, efiSetupJson, efiSourceProblem, fromEfiSource } from './efi/efiSetup.js'
import { type ErstSetup, type ErstSetupJson, type ErstSource, erstBootLines, erstSetupJson, erstSourceProblem, fromErstSource } from './erst/erstSetup.js'
import { headerBytes } from './erst/storage.js'
import { computeLayout } from './ramoops/layout.js'
import {
  fromRamoopsSource,
  type RamoopsSetup,
  type RamoopsSetupJson,
  type RamoopsSource,
  ramoopsBootLines,
  ramoopsSetupJson,
  ramoopsSourceProblem,
} from './ramoops/ramoopsSetup.js'
import { type FtraceVersion, probeFtraceVersion } from './ramoops/versionProbe.js'
import type { TargetSetup } from './target.js'

export type { FtraceVersion }

export type BackendSetup = RamoopsSetup | BlkSetup | ErstSetup | EfiSetup

/**
 * A setup as JSON (the sidecar's `resolved`, `inspect --json`'s `setup`): each backend's own
 * fields under its own names, told apart by `backend`, with the target's half
 * (backend/target.ts TargetSetupJson: kernel, cpus, …) in every one.
 */
export type SetupJson = RamoopsSetupJson | BlkSetupJson | ErstSetupJson | EfiSetupJson

/** The pstore backend an image is laid out for (`--backend`). */
export type BackendChoice = BackendSetup['backend']

export const BACKEND_CHOICES: readonly BackendChoice[] = ['ramoops', 'blk', 'erst', 'efi']

/** Where a setup comes from, as the sidecar keeps it (its `setup`): each backend's inputs, told apart by `backend`. */
export type SetupSource = RamoopsSource | BlkSource | ErstSource | EfiSource

/** The setup a source gives (the sidecar's `setup`, with overrides): its backend's own resolution. */
export function resolveSetup(source: SetupSource): BackendSetup {
  switch (source.backend) {
    case 'ramoops':
      return fromRamoopsSource(source)
    case 'blk':
      return fromBlkSource(source)
    case 'erst':
      return fromErstSource(source)
    case 'efi':
      return fromEfiSource(source)
  }
}

/**
 * Why a setup read from a sidecar (JSON, so anything) is not a SetupSource: its backend's own
 * check of its fields. The values themselves are checked when the setup is resolved.
 */
export function sourceProblem(setup: unknown): string | undefined {
  if (typeof setup !== 'object' || setup === null || Array.isArray(setup)) return 'its "setup" is not an object'
  const o = setup as Record<string, unknown>
  switch (o.backend) {
    case 'ramoops':
      return ramoopsSourceProblem(o)
    case 'blk':
      return blkSourceProblem(o)
    case 'erst':
      return erstSourceProblem(o)
    case 'efi':
      return efiSourceProblem(o)
    default:
      return `setup.backend is ${JSON.stringify(o.backend)?.slice(0, 40)}, not one of ${BACKEND_CHOICES.join(', ')}`
  }
}

/** Whether the image's ftrace zones sign the kernel version: ramoops' only (pstore/blk's zones and ERST's records hold none). */
export function signsKernelVersion(source: SetupSource): source is RamoopsSource {
  return source.backend === 'ramoops'
}

/** The kernel version a ramoops image's ftrace zones show under this source (any version's layout). */
export function ftraceVersionIn(source: SetupSource, readU32: (offset: number) => number | undefined): FtraceVersion | undefined {
  if (!signsKernelVersion(source)) return undefined
  return probeFtraceVersion((kernel) => fromRamoopsSource({ ...source, target: { ...source.target, kernel } }), readU32)
}

/** The target kernel and machine the setup runs on. */
export function targetOf(setup: BackendSetup): TargetSetup {
  if (setup.backend === 'blk') return blkTarget(setup)
  const { kernel, cpus, wordBits, frontends, compress, compressAlgorithm, quirks } = setup
  return { kernel, cpus, wordBits, frontends, compress, compressAlgorithm, quirks }
}

/** The image's size in bytes: ramoops' region, pstore/blk's disk, ERST's backing file. */
export function imageSize(setup: BackendSetup): number {
  return setup.backend === 'blk' ? setup.diskSize : setup.memSize
}

/** The image's size as a setup's JSON gives it (inspect's readers): ramoops' mem_size, pstore/blk's disk, ERST's and efi's file. */
export function imageSizeInJson(json: SetupJson): number {
  switch (json.backend) {
    case 'ramoops':
      return json.memSize
    case 'blk':
      return json.diskSize
    case 'erst':
    case 'efi':
      return json.size
  }
}

/** How many dmesg records the setup holds (zones, or ERST slots; efi: 0, no fixed units); throws the backend's error if it cannot be laid out. */
export function dmesgUnits(setup: BackendSetup): number {
  switch (setup.backend) {
    case 'ramoops':
      return computeLayout(setup).dmesg.length
    case 'blk':
      return computeBlkLayout(setup).dmesg.length
    case 'erst':
      return (setup.memSize - headerBytes(setup.memSize, setup.erstRecordSize)) / setup.erstRecordSize
    case 'efi':
      // no fixed units: one variable a part, as many as the firmware's store has room for
      return 0
  }
}

/** Whether the target has a /dev/pmsg0 to serve: the frontend and a pmsg zone for it. */
export function hasPmsgDevice(setup: BackendSetup): boolean {
  return setup.backend === 'ramoops' && setup.pmsgSize > 0 && setup.frontends.pmsg
}

/** What a boot logs after its version line: the command line, then the backend's probe and registration. */
export function backendBootLines(setup: BackendSetup): string[] {
  switch (setup.backend) {
    case 'ramoops':
      return ramoopsBootLines(setup)
    case 'blk':
      return blkBootLines(setup)
    case 'erst':
      return erstBootLines(setup)
    case 'efi':
      return efiBootLines(setup)
  }
}

/** The setup as JSON (sidecar, `inspect --json`): its backend's own form. */
export function setupJson(setup: BackendSetup): SetupJson {
  switch (setup.backend) {
    case 'ramoops':
      return ramoopsSetupJson(setup)
    case 'blk':
      return blkSetupJson(setup)
    case 'erst':
      return erstSetupJson(setup)
    case 'efi':
      return efiSetupJson(setup)
  }
}

/** Whether the setup has an ftrace zone (ERST stores dmesg records only). */
export function hasFtraceZone(setup: BackendSetup): boolean {
  return setup.backend !== 'erst' && setup.backend !== 'efi' && setup.ftraceSize > 0
}
