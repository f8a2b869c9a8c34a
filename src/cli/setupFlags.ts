/**
 * The setup flags every command that opens an image takes (they override the IMAGE.json
 * sidecar): declared once here, so a new one (`--backend`…) is added in one place.
 */
import type { Argv } from 'yargs'
import { BACKEND_CHOICES, type BackendChoice, COMPRESS_CHOICES, parseSize, type SetupOverrides } from '../machine/imageSetup.js'
import { PstoreSimError } from '../util/errors.js'
import { wholeNumber } from './arguments.js'

export const SETUP_FLAGS = {
  backend: {
    type: 'string',
    describe:
      'pstore backend the image is laid out for: ramoops (default), erst (QEMU acpi-erst), blk (pstore/blk on a disk: parameters in --cmdline "pstore_blk.…"), efi (efi-pstore in an OVMF variable store)',
  },
  'efi-record-size': { type: 'string', describe: 'efi: efi_pstore.record_size (6.2+ kernels; minimum and default 1024)' },
  'always-kmsg-dump': { type: 'boolean', describe: 'efi: printk.always_kmsg_dump=1, the kernel also dumps shutdowns (--reason shutdown)' },
  'efi-vars-template': {
    type: 'string',
    describe: "efi, format: the empty variable store to start from (a firmware's VARS file); default OVMF's OVMF_VARS_4M.fd layout",
  },
  'erst-size': { type: 'string', describe: "erst: the backing file's size (QEMU memory-backend size=), default 0x10000" },
  'erst-record-size': { type: 'string', describe: 'erst: QEMU acpi-erst record_size=, a power of two >= 4096, default 8K' },
  'mem-size': { type: 'string', describe: 'region size (ramoops.mem_size), e.g. 0x100000, 1M' },
  'record-size': { type: 'string', describe: 'dmesg record size (default 4096, as the module)' },
  'console-size': { type: 'string', describe: 'console zone size (default 4096)' },
  'ftrace-size': { type: 'string', describe: 'ftrace area, split per CPU (default 4096)' },
  'pmsg-size': { type: 'string', describe: 'pmsg zone size (default 4096)' },
  ecc: { type: 'string', coerce: wholeNumber('ecc', 0, 127, '16'), describe: 'ECC parity bytes per block: 0 off, 1 = 16, N' },
  'max-reason': {
    type: 'string',
    coerce: wholeNumber('max-reason', 0, 0x7fffffff, '2'),
    describe: 'highest kmsg_dump reason stored (1 panic, 2 oops, 3 emergency, 4 shutdown)',
  },
  cpus: { type: 'string', coerce: wholeNumber('cpus', 1, 8192, '4'), describe: 'nr_cpu_ids: per-CPU ftrace zones' },
  kernel: {
    type: 'string',
    describe:
      "target kernel version X.Y.Z, sublevel included: the ftrace zones' signature holds LINUX_VERSION_CODE. Default 6.12.0 = mainline v6.12; a distribution kernel needs its own (Debian's 6.12.107: --kernel 6.12.107). \"auto\": the version a dump's ftrace zones show",
  },
  compress: {
    type: 'string',
    describe:
      'pstore.compress of the target: deflate (default), lzo, lz4, lz4hc, 842, zstd (kernels 4.19–6.5; 6.6+ has deflate only) or none. (panic: --no-compress stores this one dump as text)',
  },
  'word-size': { type: 'number', choices: [64, 32], describe: 'target word size: ftrace record of 24 or 16 bytes' },
  frontends: { type: 'string', describe: 'pstore frontends built into the target kernel (default console,pmsg,ftrace)' },
  cmdline: { type: 'string', describe: 'kernel command line with ramoops.* (or, with --backend blk, pstore_blk.*) parameters' },
  'disk-size': { type: 'string', describe: 'blk: the disk (image) size for format, e.g. 256K; an existing image is its own size' },
  dts: { type: 'string', describe: 'device tree source file with a ramoops node' },
  detect: {
    type: 'boolean',
    describe:
      "read the setup from the image's own bytes (zone signatures, ECC parity, ftrace signature; ERST/pstore-blk headers); --kernel and --cpus still win",
  },
} as const

export type SetupArgs = { [K in keyof typeof SETUP_FLAGS]?: string | number | boolean }

function frontendsFrom(value: string | number | undefined): NonNullable<SetupOverrides['target']>['frontends'] {
  if (value === undefined) return undefined
  const list = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const f of list)
    if (!['console', 'pmsg', 'ftrace', 'none'].includes(f)) throw new PstoreSimError(`--frontends: unknown frontend "${f}" (console, pmsg, ftrace or none)`)
  return { console: list.includes('console'), pmsg: list.includes('pmsg'), ftrace: list.includes('ftrace') }
}

/** --compress ALGORITHM; `false` (panic's --no-compress, about one dump) and a bare flag change no setup. */
function compressFrom(value: string | number | boolean | undefined): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  const choice = String(value)
  if (choice === '') return undefined
  if (!(COMPRESS_CHOICES as readonly string[]).includes(choice))
    throw new PstoreSimError(`--compress: unknown algorithm "${choice}" (${COMPRESS_CHOICES.join(', ')})`)
  return choice
}

/** The setup flags given, as the overrides an image is opened with. */
export function overridesFrom(argv: SetupArgs): SetupOverrides {
  const size = (key: keyof SetupArgs) => (argv[key] === undefined ? undefined : parseSize(argv[key] as string, `--${key}`))
  const frontends = frontendsFrom(argv.frontends as string | number | undefined)
  const backend = argv.backend === undefined ? undefined : String(argv.backend)
  if (backend !== undefined && !(BACKEND_CHOICES as readonly string[]).includes(backend))
    throw new PstoreSimError(`--backend: unknown backend "${backend}" (ramoops, erst, blk or efi)`)
  const erst = { size: size('erst-size'), record_size: size('erst-record-size') }
  const efi = {
    record_size: size('efi-record-size'),
    varsTemplate: argv['efi-vars-template'] === undefined ? undefined : String(argv['efi-vars-template']),
    always_kmsg_dump: argv['always-kmsg-dump'] === undefined ? undefined : Boolean(argv['always-kmsg-dump']),
  }
  return {
    ...(backend ? { backend: backend as BackendChoice } : {}),
    ...(erst.size !== undefined || erst.record_size !== undefined ? { erst } : {}),
    ...(Object.values(efi).some((v) => v !== undefined) ? { efi } : {}),
    params: {
      mem_size: size('mem-size'),
      record_size: size('record-size'),
      console_size: size('console-size'),
      ftrace_size: size('ftrace-size'),
      pmsg_size: size('pmsg-size'),
      ecc: argv.ecc as number | undefined,
      max_reason: argv['max-reason'] as number | undefined,
    },
    cmdline: argv.cmdline as string | undefined,
    dtsFile: argv.dts as string | undefined,
    diskSize: size('disk-size'),
    ...(argv.detect ? { detect: true } : {}),
    target: {
      kernel: argv.kernel as string | undefined,
      cpus: argv.cpus as number | undefined,
      wordBits: argv['word-size'] as 64 | 32 | undefined,
      frontends,
      compress: compressFrom(argv.compress as string | boolean | undefined),
    },
  }
}

/** A command's own options plus the setup flags, grouped under their own heading in --help. */
export function withSetup<T>(y: Argv<T>): Argv<T & SetupArgs> {
  return y.options(SETUP_FLAGS).group(Object.keys(SETUP_FLAGS), 'Setup (overrides the IMAGE.json sidecar):') as Argv<T & SetupArgs>
}
