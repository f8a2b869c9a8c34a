/**
 * Every problem a setup can have (a setting missing, misplaced or refused), with its words side
 * by side: the JS API's (the engine's error message: settings by their option paths, as
 * formatImage, mount and ImageSession.open take them) and the CLI's (its flags; daemon/advice.ts
 * phrases an error's facts with them). The engine reports a problem with its facts
 * (util/errors.ts ErrorFacts), so a front end never parses a message. It imports only
 * util/errors.ts: the CLI's start-up file holds this module.
 */
import { type ErrorFacts, PstoreSimError } from '../util/errors.js'

export type SetupProblem =
  | 'exists'
  | 'noFormatSetup'
  | 'autoOnFormat'
  | 'badSidecar'
  | 'newerSidecar'
  | 'ramoopsParamOnBlk'
  | 'dtsOnBlk'
  | 'erstOnBlk'
  | 'blkNeedsCmdline'
  | 'blkNeedsDiskSize'
  | 'diskSizeNotBlk'
  | 'ramoopsOnOther'
  | 'erstOnRamoops'
  | 'noSetup'
  | 'autoOnErst'
  | 'autoOnBlk'
  | 'erstRefused'
  | 'efiOnOther'
  | 'efiRefused'
  | 'autoOnEfi'
  | 'autoUnreadable'
  | 'autoNotFound'

export type SetupFacts = ErrorFacts<SetupProblem> & { subject: string }

/** pstore/blk's parameters as a kernel command line gives them: the `detail` of the blk problems, an example for either front end to show. */
export const BLK_CMDLINE_EXAMPLE = 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y'

const API_KERNEL_EXAMPLE = "give the version, e.g. target.kernel '6.12.0'"
const CLI_KERNEL_EXAMPLE = 'give the version, e.g. --kernel 6.12.0'
const BLK_FLAG = (f: SetupFacts) => `--cmdline "${f.detail}"`

/** How the CLI names a setting the facts give in the JS API's spelling (advice.ts flagOf). */
export type FlagOf = (param: string) => string

export interface ProblemWords {
  api(facts: SetupFacts): string
  cli(facts: SetupFacts, flagOf: FlagOf): string
}

export const SETUP_WORDS: Record<SetupProblem, ProblemWords> = {
  exists: {
    api: () => 'already exists; pass { force: true } to overwrite it',
    cli: () => 'already exists; pass --force to overwrite it',
  },
  noFormatSetup: {
    api: () => "give the region's setup: params.mem_size (e.g. 0x100000) and the zone sizes, or cmdline 'ramoops.mem_size=…', or dtsFile",
    cli: () => 'give the region\'s setup: --mem-size (e.g. 1M) and the zone sizes, or --cmdline "ramoops.mem_size=…", or --dts FILE',
  },
  autoOnFormat: {
    api: () => `target.kernel 'auto' reads the version from an existing dump; a new image needs the target's version: ${API_KERNEL_EXAMPLE}`,
    cli: () => "--kernel auto reads the version from an existing dump; format needs the target's version, e.g. --kernel 6.12.0",
  },
  badSidecar: {
    api: (f) => `not a readable sidecar: ${f.detail}; fix it, or move it away and give the setup in the options`,
    cli: (f) => `not a readable sidecar: ${f.detail}; fix it, or move it away and pass the setup with flags`,
  },
  newerSidecar: {
    api: (f) => `sidecar version ${f.value}, written by a newer pstore-sim (this one reads versions 1 and 2): open the image with a newer pstore-sim`,
    cli: (f) => `sidecar version ${f.value}, written by a newer pstore-sim (this one reads versions 1 and 2): open the image with a newer pstore-sim`,
  },
  ramoopsParamOnBlk: {
    api: (f) => `${f.param} is a ramoops parameter; a pstore/blk setup takes its parameters in cmdline, e.g. '${f.detail}'`,
    cli: (f, flagOf) => `${flagOf(f.param)} is a ramoops parameter; a pstore/blk setup takes its parameters in ${BLK_FLAG(f)}`,
  },
  dtsOnBlk: {
    api: (f) => `dtsFile describes a ramoops node; pstore/blk takes cmdline, e.g. '${f.detail}'`,
    cli: (f) => `--dts describes a ramoops node; pstore/blk takes ${BLK_FLAG(f)}`,
  },
  erstOnBlk: {
    api: () => "erst applies to backend 'erst' only; a pstore/blk disk is its image's size (diskSize for a new image)",
    cli: () => "--erst-size and --erst-record-size apply to --backend erst only; a pstore/blk disk is its image's size (--disk-size for format)",
  },
  blkNeedsCmdline: {
    api: (f) => `backend 'blk' needs the module parameters in cmdline, e.g. '${f.detail}'`,
    cli: (f) => `--backend blk needs the module parameters: ${BLK_FLAG(f)}`,
  },
  blkNeedsDiskSize: {
    api: () => "give the disk's size: diskSize (e.g. 256 * 1024)",
    cli: () => "give the disk's size: --disk-size (e.g. 256K)",
  },
  diskSizeNotBlk: {
    api: () => "diskSize is for backend 'blk' (ramoops: params.mem_size, erst: erst.size)",
    cli: () => '--disk-size is for --backend blk (ramoops: --mem-size, erst: --erst-size)',
  },
  ramoopsOnOther: {
    api: (f) => `ramoops parameters (params, cmdline, dtsFile) do not apply to the ${f.value} backend`,
    cli: (f) => `ramoops parameters (--mem-size, --cmdline, --dts, …) do not apply to the ${f.value} backend`,
  },
  erstOnRamoops: {
    api: () => "erst applies to backend 'erst' only",
    cli: () => '--erst-size and --erst-record-size apply to --backend erst only',
  },
  noSetup: {
    api: (f) =>
      `no setup: there is no ${f.detail} sidecar and no setup given. Give the ramoops parameters the region was written with, ` +
      "e.g. params { mem_size: 0x100000, record_size: 0x8000, console_size: 0x8000, pmsg_size: 0x1000, ftrace_size: 0 } and target.kernel '6.1.192', " +
      "or cmdline 'ramoops.mem_size=0x100000 …', or dtsFile",
    cli: (f) =>
      `no setup: there is no ${f.detail} sidecar and no setup flags. ` +
      'Pass the ramoops parameters the region was written with, e.g. --mem-size 0x100000 --record-size 0x8000 --console-size 0x8000 --pmsg-size 0x1000 --ftrace-size 0 --kernel 6.1.192, ' +
      'or --cmdline "ramoops.mem_size=0x100000 …", or --dts FILE',
  },
  autoOnErst: {
    api: () => `target.kernel 'auto' reads ramoops' ftrace zones; an ERST file holds no version: ${API_KERNEL_EXAMPLE}`,
    cli: () => "--kernel auto reads ramoops' ftrace zones; an ERST file holds no version: give it, e.g. --kernel 6.12.0",
  },
  autoOnBlk: {
    api: () => `target.kernel 'auto' reads ramoops' ftrace zones; a pstore/blk disk's records hold no version: ${API_KERNEL_EXAMPLE}`,
    cli: () => "--kernel auto reads ramoops' ftrace zones; a pstore/blk disk's records hold no version: give it, e.g. --kernel 6.12.0",
  },
  erstRefused: {
    api: (f) => `${f.param}: QEMU would refuse this ERST setup: ${f.detail}`,
    cli: (f, flagOf) => `${flagOf(f.param)}: QEMU would refuse this ERST setup: ${f.detail}`,
  },
  efiOnOther: {
    api: () => "efi applies to backend 'efi' only",
    cli: () => '--efi-record-size, --efi-vars-template and --always-kmsg-dump apply to --backend efi only',
  },
  efiRefused: {
    api: (f) => `${f.param}: ${f.detail}`,
    cli: (f, flagOf) => `${flagOf(f.param)}: ${f.detail}`,
  },
  autoOnEfi: {
    api: () => `target.kernel 'auto' reads ramoops' ftrace zones; UEFI variables hold no version: ${API_KERNEL_EXAMPLE}`,
    cli: () => "--kernel auto reads ramoops' ftrace zones; UEFI variables hold no version: give it, e.g. --kernel 6.12.0",
  },
  autoUnreadable: {
    api: (f) => `target.kernel 'auto' reads the version from the image, which cannot be read (${f.detail}); ${API_KERNEL_EXAMPLE}`,
    cli: (f) => `--kernel auto reads the version from the image, which cannot be read (${f.detail}); ${CLI_KERNEL_EXAMPLE}`,
  },
  autoNotFound: {
    api: (f) => `target.kernel 'auto': ${f.detail}; ${API_KERNEL_EXAMPLE}`,
    cli: (f) => `--kernel auto: ${f.detail}; ${CLI_KERNEL_EXAMPLE}`,
  },
}

export class SetupError extends PstoreSimError {
  override name = 'SetupError'
  declare readonly facts?: ErrorFacts<SetupProblem>
}

/** A setup error about one setting: the JS API's words as its message, the facts for the CLI's. */
export function settingError(facts: SetupFacts): SetupError {
  return new SetupError(`${facts.subject}: ${SETUP_WORDS[facts.problem].api(facts)}`, facts)
}
