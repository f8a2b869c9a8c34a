/**
 * `pstore-sim inspect`: the setup, every zone and every record the next boot would show,
 * computed on a private copy of the image (the file is only read).
 */

import fs from 'node:fs'
import type { BackendDescription, BootReport } from '../backend/backend.js'
import type { BlkDescription } from '../backend/blk/description.js'
import type { Detection } from '../backend/detect.js'
import type { EfiDescription } from '../backend/efi/description.js'
import type { ErstDescription } from '../backend/erst/description.js'
import { openBackend } from '../backend/open.js'
import { ftraceSignature } from '../backend/ramoops/layout.js'
import { type BackendSetup, imageSize, type SetupJson, setupJson, targetOf } from '../backend/setup.js'
import { formatKernelVersion } from '../format/kernelVersion.js'
import { RegionImage } from '../format/region.js'
import { algorithmsMatching } from '../pstore/compression.js'
import { makeFiles, nowTimespec } from '../pstore/filesystem.js'
import type { PstoreRecord } from '../pstore/record.js'
import { SymbolTable } from '../pstore/symbols.js'
import { missingImage } from './imageSession.js'
import { ftraceVersionOf, type SetupOverrides, setupForImage } from './imageSetup.js'
import { type VerdictZone, type ZoneVerdict, zoneVerdicts } from './zoneVerdict.js'

/** A zone as inspect shows it: what the boot found (zoneVerdict.ts judges the same fields). */
export interface ZoneInspection extends VerdictZone {
  /** ramoops: what the target kernel does with the zone at boot, and why */
  verdict?: ZoneVerdict
}

export interface Inspection {
  image: string
  setup: SetupJson
  /**
   * The version the ftrace zones' signatures show (docs/ramoops-format.md §3.2), when they show
   * one. If it is not the setup's, the setup's kernel would zap those zones at boot.
   */
  ftraceKernel?: { version: string; signature: string; matchesSetup: boolean }
  zones: ZoneInspection[]
  unusedTail: { offset: number; size: number }
  /** pstore/blk: the module parameters as the kernel shows them, and its kernel memory after the boot */
  blk?: Pick<BlkDescription, 'params' | 'diskSize' | 'next'>
  records: Array<{
    name: string
    size: number
    kernelSize: number
    mtime: string | null
    compressed: boolean
    inflateError?: string
    /** A record stored compressed: the algorithm(s) its stored bytes decode with (the target's when inflated; [] when none). */
    compressedWith?: string[]
    contentBase64?: string
  }>
  /** Why the kernel's read pass fails and lists nothing, though the storage holds records. */
  readPassFailure?: string
  /** An ERST file: its storage header and slots (zones is then empty). */
  erst?: ErstDescription
  /** With detect: what the image's bytes told, what they cannot, and the setup in a board's forms. */
  detected?: Pick<Detection, 'backend' | 'told' | 'unknowns' | 'forms'>
  /** A UEFI variable store: every variable, live and deleted, and its free space (zones is then empty). */
  efi?: EfiDescription
}

export type { EfiDescription, ErstDescription }

/** What a compressed record's bytes are: the algorithm the core inflated it with, or every one whose decoder takes them. */
function compressedWith(record: PstoreRecord, setup: BackendSetup, bufsize: number): { compressedWith?: string[] } {
  if (record.inflatedWith) return { compressedWith: [record.inflatedWith] }
  if (!record.compressed || record.type !== 'dmesg') return {}
  return { compressedWith: algorithmsMatching(record.payload, targetOf(setup).quirks.compression, bufsize) }
}

/** Each file the read pass gives, as inspect shows it. */
function recordInspections(files: ReturnType<typeof makeFiles>, setup: BackendSetup, bufsize: number, withContent: boolean): Inspection['records'] {
  return files.map((f) => ({
    name: f.name,
    size: f.size,
    kernelSize: f.kernelSize,
    mtime: f.record.time.sec !== 0n ? `${f.record.time.sec}.${String(f.record.time.nsec).padStart(9, '0')}` : null,
    compressed: f.record.compressed,
    ...(f.record.inflateError ? { inflateError: f.record.inflateError } : {}),
    ...compressedWith(f.record, setup, bufsize),
    ...(withContent ? { contentBase64: f.content.toString('base64') } : {}),
  }))
}

/** The kernel version a dump's ftrace signature names, beside the setup's. */
function ftraceKernelOf(signed: ReturnType<typeof ftraceVersionOf>, setup: BackendSetup): Pick<Inspection, 'ftraceKernel'> {
  if (!signed) return {}
  const version = formatKernelVersion(signed.version)
  return {
    ftraceKernel: {
      version,
      signature: '0x' + signed.signature.toString(16).padStart(8, '0'),
      matchesSetup: version === formatKernelVersion(setup.kernel),
    },
  }
}

export async function inspectImage(
  image: string,
  overrides: SetupOverrides,
  options: { systemMap?: string; exactNames?: boolean; withContent?: boolean } = {},
): Promise<Inspection> {
  // Before the setup: a missing image is the problem to report, not its missing sidecar.
  if (!fs.existsSync(image)) throw missingImage(image)
  const { setup, source, detection } = setupForImage(image, overrides)
  const detected = detection ? { detected: { backend: detection.backend, told: detection.told, unknowns: detection.unknowns, forms: detection.forms } } : {}
  const signed = ftraceVersionOf(image, source)
  const region = RegionImage.open(image, { readOnly: true, expectedSize: imageSize(setup) })
  const backend = openBackend(setup, region)
  const before = backend.describe()
  const reports = backend.boot()
  const symbols = options.systemMap ? await SymbolTable.load(options.systemMap) : undefined
  const files = makeFiles(backend.readRecords(), {
    now: nowTimespec(),
    wordBits: targetOf(setup).wordBits,
    symbols,
    exactNames: options.exactNames,
    backend: backend.name,
  })
  const failure = backend.readPassFailure?.()
  const records = recordInspections(files, setup, backend.bufsize, options.withContent === true)
  const common = { image, setup: setupJson(setup), ...detected, records, ...(failure ? { readPassFailure: failure } : {}) }
  const zoneless = { zones: [], unusedTail: { offset: imageSize(setup), size: 0 } }
  switch (before.kind) {
    case 'efi':
    case 'efi_pstore': {
      // the store after OVMF's boot (a reclaim moves variables), with each variable's verdict
      const after = backend.describe()
      const efi = after.kind === 'efi' || after.kind === 'efi_pstore' ? after : before
      return { ...common, ...zoneless, efi: { ...efi, bootOutcome: reports[0]?.outcome } }
    }
    case 'erst':
      return { ...common, ...zoneless, erst: before }
    case 'pstore_blk': {
      // its kernel memory after the boot (the counters the next dump continues from)
      const after = backend.describe()
      const next = after.kind === 'pstore_blk' ? after.next : before.next
      return { ...common, blk: { params: before.params, diskSize: before.diskSize, next }, ...zonesOf(image, setup, before, reports, records) }
    }
    case 'ramoops':
      return { ...common, ...ftraceKernelOf(signed, setup), ...zonesOf(image, setup, before, reports, records) }
  }
}

/** A zoned backend's zones with what its boot did to each (and ramoops' verdicts). */
function zonesOf(
  image: string,
  setup: BackendSetup,
  before: Extract<BackendDescription, { zones: unknown }>,
  reports: BootReport[],
  records: Inspection['records'],
): Pick<Inspection, 'zones' | 'unusedTail'> {
  const zones = before.zones.map((zone, i) => ({
    ...zone,
    bootOutcome: reports[i].outcome,
    ...(setup.backend === 'ramoops' && setup.eccSize && reports[i].ecc ? { ecc: reports[i].ecc } : {}),
  }))
  return { zones: withVerdicts(image, setup, zones, records), unusedTail: before.unusedTail }
}

/** ramoops: each zone's fate at the target kernel's boot (machine/zoneVerdict.ts), read from the untouched file. */
function withVerdicts(image: string, setup: BackendSetup, zones: ZoneInspection[], records: Inspection['records']): ZoneInspection[] {
  if (setup.backend !== 'ramoops') return zones
  const verdicts = zoneVerdicts(zones, {
    bytes: fs.readFileSync(image),
    kernel: formatKernelVersion(setup.kernel),
    ftraceSig: ftraceSignature(setup),
    eccSize: setup.eccSize,
    records,
  })
  return zones.map((zone, i) => ({ ...zone, verdict: verdicts[i] }))
}
