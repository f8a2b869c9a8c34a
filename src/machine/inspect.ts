/**
 * `pstore-sim inspect`: the setup, every zone and every record the next boot would show,
 * computed on a private copy of the image (the file is only read).
 */

import fs from 'node:fs'
import type { BackendDescription } from '../backend/backend.js'
import type { Detection } from '../backend/detect.js'
import { openBackend } from '../backend/open.js'
import { ftraceSignature } from '../backend/ramoops/layout.js'
import { type BackendConfig, imageSize, type SetupJson, setupJson, targetOf } from '../backend/setup.js'
import { formatKernelVersion } from '../format/kernelVersion.js'
import { RegionImage } from '../format/region.js'
import { algorithmsMatching } from '../pstore/compression.js'
import { makeFiles, nowTimespec } from '../pstore/filesystem.js'
import type { PstoreRecord } from '../pstore/record.js'
import { SymbolTable } from '../pstore/symbols.js'
import { ftraceVersionOf, type SetupOverrides, setupForImage } from './imageSetup.js'
import { missingImage } from './simulation.js'
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
  blk?: { params: Record<string, string | number | boolean>; diskSize: number; next: { writeCnt: number; oopsCounter: number; panicCounter: number } }
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

export interface EfiDescription {
  invalid?: string
  bufsize?: number
  /** OVMF's boot before the read pass (a read-only look: 'store'; a reclaim happens at a real boot). */
  bootOutcome?: string
  store?: { start: number; end: number; freeOffset: number; freeBytes: number; remaining: number; deletedBytes: number }
  /** The kernel's read pass: how many pstore variables it reads (repeats of a cycle included once each) and why it ends. */
  readPass?: { reads: number; stop: string }
  variables: Array<{
    offset: number
    state: string
    live: boolean
    attributes: number
    guid: string
    name: string
    dataSize: number
    pstore?: { type: number; part: number; count: number; seconds: string; compressed: boolean; id: string }
  }>
}

export interface ErstDescription {
  header: { magic: string; recordSize: number; storageOffset: number; version: number; recordCount: number }
  invalid?: string
  bufsize: number
  slots: Array<{
    slot: number
    recordId: string | null
    headerId?: string
    length?: number
    timestamp?: string
    creator?: string
    section?: string
    part?: number
    error?: string
  }>
}

/** What a compressed record's bytes are: the algorithm the core inflated it with, or every one whose decoder takes them. */
function compressedWith(record: PstoreRecord, config: BackendConfig, bufsize: number): { compressedWith?: string[] } {
  if (record.inflatedWith) return { compressedWith: [record.inflatedWith] }
  if (!record.compressed || record.type !== 'dmesg') return {}
  return { compressedWith: algorithmsMatching(record.payload, targetOf(config).quirks.compression, bufsize) }
}

/** Each file the read pass gives, as inspect shows it. */
function recordInspections(files: ReturnType<typeof makeFiles>, config: BackendConfig, bufsize: number, withContent: boolean): Inspection['records'] {
  return files.map((f) => ({
    name: f.name,
    size: f.size,
    kernelSize: f.kernelSize,
    mtime: f.record.time.sec !== 0n ? `${f.record.time.sec}.${String(f.record.time.nsec).padStart(9, '0')}` : null,
    compressed: f.record.compressed,
    ...(f.record.inflateError ? { inflateError: f.record.inflateError } : {}),
    ...compressedWith(f.record, config, bufsize),
    ...(withContent ? { contentBase64: f.content.toString('base64') } : {}),
  }))
}

/** The kernel version a dump's ftrace signature names, beside the setup's. */
function ftraceKernelOf(signed: ReturnType<typeof ftraceVersionOf>, config: BackendConfig): Pick<Inspection, 'ftraceKernel'> {
  if (!signed) return {}
  const version = formatKernelVersion(signed.version)
  return {
    ftraceKernel: {
      version,
      signature: '0x' + signed.signature.toString(16).padStart(8, '0'),
      matchesSetup: version === formatKernelVersion(config.kernel),
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
  const { config, source, detection } = setupForImage(image, overrides)
  const detected = detection ? { detected: { backend: detection.backend, told: detection.told, unknowns: detection.unknowns, forms: detection.forms } } : {}
  const signed = ftraceVersionOf(image, source)
  const region = RegionImage.open(image, { readOnly: true, expectedSize: imageSize(config) })
  const backend = openBackend(config, region)
  const before = backend.describe() as BackendDescription & { zones: Array<Omit<ZoneInspection, 'bootOutcome' | 'ecc'>>; unusedTail: Inspection['unusedTail'] }
  const reports = backend.boot() as Array<{ outcome: string; ecc?: { correctedBytes: number; badBlocks: number } }>
  const symbols = options.systemMap ? await SymbolTable.load(options.systemMap) : undefined
  const files = makeFiles(backend.readRecords(), {
    now: nowTimespec(),
    wordBits: targetOf(config).wordBits,
    symbols,
    exactNames: options.exactNames,
    backend: backend.name,
  })
  const failure = backend.readPassFailure?.()
  const readPass = failure ? { readPassFailure: failure } : {}
  const records = recordInspections(files, config, backend.bufsize, options.withContent === true)
  if (before.kind === 'efi' || before.kind === 'efi_pstore') {
    const { kind: _kind, ...efi } = before as unknown as EfiDescription & { kind: string }
    return {
      image,
      setup: setupJson(config),
      zones: [],
      unusedTail: { offset: imageSize(config), size: 0 },
      records,
      efi: { ...efi, bootOutcome: reports[0]?.outcome },
    }
  }
  if (before.kind === 'erst') {
    const { kind: _kind, ...erst } = before as unknown as ErstDescription & { kind: string }
    return { image, setup: setupJson(config), ...detected, zones: [], unusedTail: { offset: imageSize(config), size: 0 }, records, ...readPass, erst }
  }
  const setup = setupJson(config)
  return {
    image,
    setup,
    ...detected,
    ...ftraceKernelOf(signed, config),
    ...(before.kind === 'pstore_blk'
      ? {
          blk: {
            params: before.params as Record<string, string>,
            diskSize: before.diskSize as number,
            next: (backend.describe() as BackendDescription & Required<Inspection>['blk']).next,
          },
        }
      : {}),
    zones: withVerdicts(
      image,
      config,
      before.zones.map((zone, i) => ({
        ...zone,
        bootOutcome: reports[i].outcome,
        ...(setup.eccSize && reports[i].ecc ? { ecc: reports[i].ecc } : {}),
      })),
      records,
    ),
    unusedTail: before.unusedTail,
    records,
    ...readPass,
  }
}

/** ramoops: each zone's fate at the target kernel's boot (machine/zoneVerdict.ts), read from the untouched file. */
function withVerdicts(image: string, config: BackendConfig, zones: ZoneInspection[], records: Inspection['records']): ZoneInspection[] {
  if (config.backend !== 'ramoops') return zones
  const verdicts = zoneVerdicts(zones, {
    bytes: fs.readFileSync(image),
    kernel: formatKernelVersion(config.kernel),
    ftraceSig: ftraceSignature(config),
    eccSize: config.eccSize,
    records,
  })
  return zones.map((zone, i) => ({ ...zone, verdict: verdicts[i] }))
}
