#!/usr/bin/env node
/**
 * pstore-sim: the command line. It only parses and calls; the work is in the modules it imports.
 * Exit codes: 0 ok, 1 user error, 2 environment problem.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Argv } from 'yargs'
import { advise } from '../daemon/advice.js'
import { cancelEarlyDaemon, type EarlyDaemon, spawnEarlyDaemon, startDaemon, unmount } from '../daemon/client.js'
import { sendEvent } from '../daemon/control.js'
// Types only: the modules behind them load when a command needs them, so that commands which
// only talk to a daemon start fast.
import type { MountOptions } from '../daemon/daemon.js'
import { findDaemon, readMountRecord } from '../daemon/registry.js'
import type { EventResult, KernelEvent } from '../machine/events.js'
import { BACKEND_CHOICES, type BackendChoice, parseSize, type SetupOverrides } from '../machine/imageSetup.js'
import type { CrashResult } from '../machine/machine.js'
import type { DumpReason } from '../pstore/kmsgDumper.js'
import { PstoreSimError } from '../util/errors.js'
import { endQuietlyWhenStdoutCloses, normaliseArgs, rawText, secondsSinceEpoch, wholeNumber } from './arguments.js'
import { execCommand, parseExecArgs, runExec } from './exec.js'
import { helperCall, runMountHelper } from './mountHelper.js'

class UserError extends PstoreSimError {}

const SETUP_FLAGS = {
  backend: { type: 'string', describe: 'pstore backend the image is laid out for: ramoops (default), erst (QEMU acpi-erst), blk' },
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
  'word-size': { type: 'number', choices: [64, 32], describe: 'target word size: ftrace record of 24 or 16 bytes' },
  frontends: { type: 'string', describe: 'pstore frontends built into the target kernel (default console,pmsg,ftrace)' },
  cmdline: { type: 'string', describe: 'kernel command line with ramoops.* parameters' },
  dts: { type: 'string', describe: 'device tree source file with a ramoops node' },
} as const

type SetupArgs = { [K in keyof typeof SETUP_FLAGS]?: string | number }

function overridesFrom(argv: SetupArgs): SetupOverrides {
  const size = (key: keyof SetupArgs) => (argv[key] === undefined ? undefined : parseSize(argv[key] as string, `--${key}`))
  const frontends =
    argv.frontends === undefined
      ? undefined
      : (() => {
          const list = String(argv.frontends)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
          for (const f of list)
            if (!['console', 'pmsg', 'ftrace', 'none'].includes(f)) throw new UserError(`--frontends: unknown frontend "${f}" (console, pmsg, ftrace or none)`)
          return { console: list.includes('console'), pmsg: list.includes('pmsg'), ftrace: list.includes('ftrace') }
        })()
  const backend = argv.backend === undefined ? undefined : String(argv.backend)
  if (backend !== undefined && !(BACKEND_CHOICES as readonly string[]).includes(backend))
    throw new UserError(`--backend: unknown backend "${backend}" (ramoops, erst or blk)`)
  const erst = { size: size('erst-size'), record_size: size('erst-record-size') }
  return {
    ...(backend ? { backend: backend as BackendChoice } : {}),
    ...(erst.size !== undefined || erst.record_size !== undefined ? { erst } : {}),
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
    target: { kernel: argv.kernel as string | undefined, cpus: argv.cpus as number | undefined, wordBits: argv['word-size'] as 64 | 32 | undefined, frontends },
  }
}

function withSetup<T>(y: Argv<T>): Argv<T & SetupArgs> {
  return y.options(SETUP_FLAGS).group(Object.keys(SETUP_FLAGS), 'Setup (overrides the IMAGE.json sidecar):') as Argv<T & SetupArgs>
}

/** yargs hands a lone `-` positional over as "": look at the raw words to tell it from "". */
function isStdin(value: string | undefined, rawArgs: string[]): boolean {
  return value === undefined || value === '-' || (value === '' && rawArgs.includes('-'))
}

/** TEXT as the bytes given (argv is not always UTF-8: pmsg writers send binary), or stdin. */
function readText(value: string | undefined, rawArgs: string[]): Buffer {
  if (isStdin(value, rawArgs)) return fs.readFileSync(0)
  return rawText(value!, rawArgs)
}

function print(result: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n' : text())
}

/** Runs a kernel event on the daemon serving TARGET, or directly on the image when none does. */
async function onTarget<E extends KernelEvent>(target: string, argv: SetupArgs, event: E): Promise<EventResult<E>> {
  const daemon = findDaemon(target)
  if (daemon) return sendEvent(daemon.socket, event)
  const stale = readMountRecord(target)
  if (stale) throw new UserError(`${target}: its daemon (pid ${stale.pid}) is gone; run pstore-sim umount ${target} to clean up, then mount again`)
  let isDirectory = false
  try {
    isDirectory = fs.statSync(target).isDirectory()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTCONN' || code === 'ECONNABORTED')
      throw new UserError(`${target}: a dead mount (its daemon is gone); run pstore-sim umount ${target} to clean up`)
  }
  if (isDirectory) throw new UserError(`${target}: no pstore-sim daemon serves this directory; give an image or a mounted mountpoint`)
  const { Simulation } = await import('../machine/simulation.js')
  const { applyEvent, bootUnmounted } = await import('../machine/events.js')
  const sim = Simulation.open(target, overridesFrom(argv), { readOnly: false })
  try {
    return await applyEvent(sim, event, { boot: bootUnmounted(sim) })
  } finally {
    sim.close()
  }
}

function describeCrash(r: CrashResult): string {
  if (!r.stored) return `nothing stored: ${r.why}\n`
  // Backends that keep more than part 1 (erst) say where each part went.
  if (r.backend && r.backend !== 'ramoops' && r.parts) {
    return r.parts
      .map((p) =>
        p.stored
          ? `stored ${r.reason} part ${p.part} as record ${p.id} (slot ${p.slot})${p.compressed ? ' (compressed)' : ''}\n`
          : `part ${p.part} dropped (-${p.errno}): ${p.why}\n`,
      )
      .join('')
  }
  return `stored ${r.reason} in dmesg zone ${r.zone}${r.compressed ? ' (compressed)' : ''}\n`
}

function parseMountOptions(o: string | undefined): { readOnly: boolean; kmsgBytes?: number; allowOther: boolean; cacheTimeout?: number } {
  const result = { readOnly: false, kmsgBytes: undefined as number | undefined, allowOther: false, cacheTimeout: undefined as number | undefined }
  for (const opt of (o ?? '').split(',').filter(Boolean)) {
    const [key, value] = opt.split('=')
    if (key === 'ro') result.readOnly = true
    else if (key === 'rw') result.readOnly = false
    else if (key === 'allow_other') result.allowOther = true
    else if (key === 'kmsg_bytes') {
      // pstore ignores an invalid value silently; so do we
      const n = Number(value)
      if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) result.kmsgBytes = n
    } else if (key === 'cache_timeout') {
      const n = Number(value)
      if (!Number.isFinite(n) || n < 0) throw new UserError(`-o ${opt}: cache_timeout takes seconds (0 turns the kernel's cache off)`)
      result.cacheTimeout = n
    } else throw new UserError(`-o ${opt}: unknown mount option (ro, rw, kmsg_bytes=N, allow_other, cache_timeout=SECONDS)`)
  }
  return result
}

const cliPath = fileURLToPath(import.meta.url)

/**
 * `pstore-sim mount` in the background, as far as can be told before parsing: the daemon can
 * then start while yargs loads and parses (a wrong guess only costs a daemon that exits).
 */
function looksLikeBackgroundMount(args: string[]): boolean {
  return args[0] === 'mount' && !args.some((a) => a === '--' || /^--(foreground|help|version)\b/.test(a) || /^-[a-zA-Z]*[fh]/.test(a))
}

export async function main(args = process.argv.slice(2)): Promise<void> {
  // exec takes its command's words as they are; mount(8) calls `pstore-sim IMAGE DIR -o OPTIONS`.
  if (args[0] === 'exec' && parseExecArgs(args.slice(1))) return runExec(args.slice(1))
  const helper = helperCall(args)
  if (helper) return runMountHelper(helper)
  const early = looksLikeBackgroundMount(args) ? spawnEarlyDaemon() : undefined
  try {
    await parseAndRun(normaliseArgs(args), early)
  } finally {
    // Its IPC channel would keep this process alive. (On a usage error yargs exits without
    // unwinding: the channel closes with the process, which the daemon notices all the same.)
    if (early) cancelEarlyDaemon(early) // a no-op once it has its options
  }
}

async function parseAndRun(args: string[], early: EarlyDaemon | undefined): Promise<void> {
  // Loaded here, not at the top: a background mount's daemon is already starting meanwhile.
  const { default: yargs } = await import('yargs')
  const parser = yargs(args)
  skipHelpRendering(parser)
  await parser
    .scriptName('pstore-sim')
    .usage('$0 <command>\n\nA simulated Linux pstore (ramoops) to mount, read, erase and feed without crashing a machine.')
    .command(
      'format <image>',
      'create a region image (zeroed, then booted once) and its IMAGE.json sidecar',
      (y) =>
        withSetup(
          y.positional('image', { type: 'string', demandOption: true }).option('force', { type: 'boolean', describe: 'overwrite an existing image' }),
        ).example('$0 format demo.img --mem-size 1M --record-size 32K --console-size 32K --pmsg-size 4K --ftrace-size 8K', 'a typical device-tree layout'),
      async (argv) => {
        const { formatImage } = await import('../machine/simulation.js')
        const { config, dmesgZones } = formatImage(argv.image as string, overridesFrom(argv), { force: !!argv.force })
        const k = config.kernel
        const units = 'erstRecordSize' in config ? `${dmesgZones} ERST record slots of ${config.erstRecordSize} bytes` : `${dmesgZones} dmesg zones`
        process.stdout.write(`formatted ${argv.image}: ${config.memSize} bytes, ${units}, kernel ${k.major}.${k.minor}.${k.patch}\n`)
      },
    )
    .command(
      'mount <image> <mountpoint>',
      'boot the image and mount its pstore (returns when the mount is ready)',
      (y) =>
        withSetup(
          y
            .positional('image', { type: 'string', demandOption: true })
            .positional('mountpoint', { type: 'string', demandOption: true })
            .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground' })
            .option('o', { type: 'string', describe: 'mount options: ro, kmsg_bytes=N, allow_other, cache_timeout=SECONDS (default 10)' })
            .option('pmsg-fifo', { type: 'string', describe: 'path of the /dev/pmsg0-like FIFO (default MOUNTPOINT.pmsg0)' })
            .option('exact-names', { type: 'boolean', describe: "the target kernel's own names (ftrace-ramoops-0)" })
            .option('system-map', { type: 'string', describe: 'System.map for ftrace symbols' }),
        )
          .example('$0 mount demo.img /tmp/pstore', 'mount in the background')
          .example('$0 mount dump.bin /mnt/p -o ro --kernel 6.1.192 --mem-size 1M --record-size 32K', 'inspect a board dump without changing a byte'),
      async (argv) => {
        const mountOptions = parseMountOptions(argv.o as string | undefined)
        const options: MountOptions = {
          image: path.resolve(argv.image as string),
          mountpoint: path.resolve(argv.mountpoint as string),
          overrides: overridesFrom(argv),
          readOnly: mountOptions.readOnly,
          kmsgBytes: mountOptions.kmsgBytes,
          allowOther: mountOptions.allowOther,
          cacheTimeout: mountOptions.cacheTimeout,
          pmsgFifo: argv['pmsg-fifo'] as string | undefined,
          exactNames: !!argv['exact-names'],
          systemMap: argv['system-map'] as string | undefined,
        }
        if (!argv.foreground) {
          process.stdout.write(await startDaemon(options, early))
          return
        }
        const { serveForeground } = await import('../daemon/daemon.js')
        process.stdout.write(await serveForeground(options))
      },
    )
    .command(
      'umount <mountpoint>',
      'unmount and wait for the daemon to finish its writes',
      (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
      async (argv) => unmount(argv.mountpoint as string),
    )
    .command(
      'reboot <mountpoint>',
      'simulate a reboot of the mounted machine: boot sequence again, view refreshed',
      (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
      async (argv) => {
        const daemon = findDaemon(argv.mountpoint as string)
        if (!daemon) throw new UserError(`${argv.mountpoint}: not a pstore-sim mount (mount it first; an image is rebooted by mounting it)`)
        const result = await sendEvent(daemon.socket, { op: 'reboot' })
        process.stdout.write(`rebooted: ${result.files.length} file(s)\n`)
      },
    )
    .command(
      'panic <target>',
      'crash the simulated kernel: log the report and run the kmsg dumper',
      (y) =>
        withSetup(
          y
            .positional('target', { type: 'string', demandOption: true, describe: 'image or mountpoint' })
            .option('reason', { choices: ['panic', 'oops', 'emergency', 'shutdown'] as const, default: 'panic' as const })
            .option('log', { type: 'string', describe: "log to dump instead of this boot's (FILE or - for stdin)" })
            .option('time', { type: 'string', coerce: secondsSinceEpoch('time'), describe: 'wall-clock seconds for the record header (default now)' })
            .option('compress', { type: 'boolean', default: true, describe: 'compress the record (--no-compress stores text)' })
            .option('reboot', { type: 'boolean', describe: 'boot again after the crash' })
            .option('json', { type: 'boolean' }),
        ).example('$0 panic /tmp/pstore --reason oops', 'an oops; three in one boot fill slots 0, 1, 2'),
      async (argv) => {
        const logText = argv.log === undefined ? undefined : isStdin(argv.log, args) ? fs.readFileSync(0, 'latin1') : readFileOrFail(argv.log)
        const event = { op: 'panic', reason: argv.reason as DumpReason, logText, time: argv.time, compress: argv.compress, reboot: argv.reboot } as const
        const result = await onTarget(argv.target as string, argv, event)
        print(result, argv.json, () => describeCrash(result))
      },
    )
    .command(
      'console <target> [text]',
      'print lines on the simulated kernel console (TEXT, or stdin when absent or -)',
      (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('text', { type: 'string' })),
      async (argv) => {
        const text = readText(argv.text as string | undefined, args).toString('latin1')
        await onTarget(argv.target as string, argv, { op: 'console', text })
      },
    )
    .command(
      'pmsg <target> [text]',
      'write to /dev/pmsg0 (TEXT as given, or stdin when absent or -)',
      (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('text', { type: 'string' })),
      async (argv) => {
        const data = readText(argv.text as string | undefined, args)
        await onTarget(argv.target as string, argv, { op: 'pmsg', data })
      },
    )
    .command(
      'ftrace <target> [file]',
      'append ftrace records, one per line: "cpu ip parent_ip" (hex addresses)',
      (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('file', { type: 'string' })),
      async (argv) => {
        const source = isStdin(argv.file as string | undefined, args) ? fs.readFileSync(0, 'utf8') : readFileOrFail(argv.file as string)
        const calls = parseFtraceLines(source, (argv.file as string | undefined) ?? 'stdin')
        const fileName = (argv.file as string | undefined) ?? 'stdin'
        await onTarget(argv.target as string, argv, { op: 'ftrace', calls }).catch((err) => {
          // "record N" counts the calls of the file (comments and blank lines aside)
          throw err instanceof PstoreSimError && err.name === 'FtraceCallError' ? new UserError(`${fileName}: ${err.message}`) : err
        })
      },
    )
    .command(
      'corrupt <target>',
      'flip bits in the region, as RAM that did not survive a reset cleanly (fault injection)',
      (y) =>
        withSetup(
          y
            .positional('target', { type: 'string', demandOption: true, describe: 'image or mountpoint' })
            .option('zone', {
              type: 'string',
              array: true,
              describe: 'zones for random flips: dmesg:N, console, pmsg, ftrace:N (default: every zone with data)',
            })
            .option('random', { type: 'string', coerce: wholeNumber('random', 0, 1 << 30, '8'), describe: 'number of random bit flips (distinct bytes)' })
            .option('area', {
              choices: ['record', 'data', 'header', 'parity', 'zone'] as const,
              default: 'record' as const,
              describe: 'where random flips land',
            })
            .option('max-per-block', {
              type: 'string',
              coerce: wholeNumber('max-per-block', 1, 255, '8'),
              describe: 'at most this many flipped bytes per 128-byte ECC block (e.g. 8 stays correctable with ECC 16)',
            })
            .option('flip', { type: 'string', array: true, describe: 'explicit flip OFFSET:BIT (offset in the region, bit 0-7)' })
            .option('seed', { type: 'string', coerce: wholeNumber('seed', 0, 0xffffffff, '42'), describe: 'seed for the random choice (replayable)' })
            .option('json', { type: 'boolean' }),
        )
          .example('$0 corrupt demo.img --zone dmesg:0 --random 8 --max-per-block 8', 'correctable damage with ECC 16')
          .example('$0 corrupt demo.img --flip 0x100:3', 'flip bit 3 of the byte at 0x100'),
      async (argv) => {
        const flips = ((argv.flip as string[] | undefined) ?? []).map((f) => {
          const m = /^(0x[0-9a-fA-F]+|\d+):([0-7])$/.exec(f)
          if (!m) throw new UserError(`--flip ${f}: expected OFFSET:BIT, e.g. 0x100:3`)
          return { offset: Number(m[1]), bit: Number(m[2]) }
        })
        if (!flips.length && !argv.random) throw new UserError('say what to flip: --random N and/or --flip OFFSET:BIT')
        const spec = {
          zones: argv.zone as string[] | undefined,
          random: argv.random,
          area: argv.area,
          maxPerBlock: argv['max-per-block'],
          flips,
          seed: argv.seed,
        }
        const result = await onTarget(argv.target as string, argv, { op: 'corrupt', spec }).catch((err) => {
          const flag = (err as { flag?: string }).flag
          throw err instanceof PstoreSimError && err.name === 'CorruptError' && flag ? new UserError(`--${flag}: ${err.message}`) : err
        })
        print(result, argv.json, () =>
          result
            .map(
              (f) =>
                `flipped bit ${f.bit} at 0x${f.offset.toString(16)} (${f.where}): 0x${f.before.toString(16).padStart(2, '0')} -> 0x${f.after.toString(16).padStart(2, '0')}\n`,
            )
            .join(''),
        )
      },
    )
    .command(
      'inspect <image>',
      'show the setup, every zone and every record a boot would show (never writes)',
      (y) =>
        withSetup(
          y
            .positional('image', { type: 'string', demandOption: true })
            .option('json', { type: 'boolean', describe: 'machine-readable output' })
            .option('content', { type: 'boolean', describe: "with --json: every file's bytes, base64" })
            .option('exact-names', { type: 'boolean', describe: "the target kernel's own names (ftrace-ramoops-0)" })
            .option('system-map', { type: 'string', describe: 'System.map for ftrace symbols' }),
        ),
      async (argv) => {
        const { inspectImage, formatInspection } = await import('../machine/inspect.js')
        const report = await inspectImage(argv.image as string, overridesFrom(argv), {
          systemMap: argv['system-map'] as string | undefined,
          exactNames: !!argv['exact-names'],
          withContent: !!argv.content,
        })
        print(report, argv.json, () => formatInspection(report))
      },
    )
    .command(execCommand)
    .completion('completion', 'print a bash completion script (pstore-sim completion >> ~/.bashrc)')
    .example('$0 exec demo.img --tmpfs /var/lib/systemd/pstore -- /lib/systemd/systemd-pstore', 'systemd-pstore as its unit runs it')
    .example(
      'mount -t fuse.pstore-sim /srv/demo.img /mnt/pstore -o ro,kmsg_bytes=4096',
      'mount(8), or fstab: /srv/demo.img /mnt/pstore fuse.pstore-sim noauto,ro 0 0',
    )
    .demandCommand(1, 'give a command; see pstore-sim --help')
    .strict()
    .help()
    .fail((msg, err) => {
      // yargs wraps what a `coerce` check throws in a YError: its message is ours
      if (err && err.name !== 'YError') throw err
      process.stderr.write(`pstore-sim: ${(msg ?? err?.message ?? '').replace(/\s*\n\s*/g, ' ')}${err ? '' : ' (see pstore-sim --help)'}\n`)
      process.exit(1)
    })
    .parseAsync()
}

/**
 * yargs renders the whole help text before running any command, in case the command fails and
 * wants to show it (ours never does: errors print one line). That is ~40 ms of every CLI call
 * (string widths of every line): skip it. `--help` renders its text itself, unaffected. Internal
 * API, hence guarded: if it moves, the CLI is only slower.
 */
function skipHelpRendering(parser: Argv): void {
  const usage = (parser as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } })
    .getInternalMethods?.()
    .getUsageInstance?.()
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined
}

function readFileOrFail(file: string): string {
  try {
    return fs.readFileSync(file, 'latin1')
  } catch (err) {
    throw new UserError(`${file}: cannot read: ${(err as Error).message}`)
  }
}

export function parseFtraceLines(text: string, fileName: string): Array<{ cpu: number; ip: bigint; parentIp: bigint }> {
  const calls: Array<{ cpu: number; ip: bigint; parentIp: bigint }> = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim()
    if (!line) return
    const m = /^(\d+)\s+(?:0x)?([0-9a-fA-F]+)\s+(?:0x)?([0-9a-fA-F]+)$/.exec(line)
    if (!m) throw new UserError(`${fileName}:${i + 1}: expected "cpu ip parent_ip" with hex addresses, found "${raw}"`)
    const call = { cpu: Number(m[1]), ip: BigInt('0x' + m[2]), parentIp: BigInt('0x' + m[3]) }
    if (call.cpu > 0xffffffff) throw new UserError(`${fileName}:${i + 1}: CPU ${m[1]} is not a CPU number (0 to 4294967295)`)
    for (const [what, value] of [
      ['ip', call.ip],
      ['parent_ip', call.parentIp],
    ] as const) {
      if (value >> 64n) throw new UserError(`${fileName}:${i + 1}: ${what} 0x${m[what === 'ip' ? 2 : 3]} does not fit 64 bits`)
    }
    calls.push(call)
  })
  return calls
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(cliPath)
if (isMain) {
  endQuietlyWhenStdoutCloses()
  main().catch((err: Error) => {
    // Our own errors and the system's (ENOENT…) speak for themselves; anything else is a bug: show where.
    const advice = err instanceof Error ? advise(err) : undefined
    const known = advice !== undefined || (err as NodeJS.ErrnoException)?.code !== undefined
    process.stderr.write(`pstore-sim: ${advice?.message ?? (known ? err.message : String(err?.stack ?? err))}\n`)
    process.exitCode = advice?.exitCode ?? 1
  })
}
