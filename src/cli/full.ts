#!/usr/bin/env node
/**
 * pstore-sim: the command line. It only parses and calls; the work is in the modules it imports.
 * Exit codes: 0 ok, 1 user error, 2 environment problem.
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Argv } from 'yargs'
import { failureReport } from '../daemon/advice.js'
import type { EarlyDaemon } from '../daemon/client.js'
import { ExitCode } from '../util/errors.js'
import { endQuietlyWhenStdoutCloses, normaliseArgs } from './arguments.js'
import type { CliContext } from './commands/command.js'
import { corruptCommand } from './commands/corrupt.js'
import { execCommand } from './commands/exec.js'
import { formatCommand } from './commands/format.js'
import { ftraceCommand } from './commands/ftrace.js'
import { importCommand } from './commands/import.js'
import { inspectCommand } from './commands/inspect.js'
import { mountCommand } from './commands/mount.js'
import { panicCommand } from './commands/panic.js'
import { consoleCommand, pmsgCommand } from './commands/printk.js'
import { rebootCommand } from './commands/reboot.js'
import { umountCommand } from './commands/umount.js'
import { parseExecArgs, runExec } from './exec.js'
import { helperCall, runMountHelper } from './mountHelper.js'

const cliPath = fileURLToPath(import.meta.url)

/**
 * The command line past main.ts's fast path. `early`: the daemon main.ts started for what looks
 * like a background mount (fastPath.ts looksLikeBackgroundMount); main.ts cancels it if unused.
 */
export async function main(args = process.argv.slice(2), early?: EarlyDaemon): Promise<void> {
  // exec takes its command's words as they are; mount(8) calls `pstore-sim IMAGE DIR -o OPTIONS`.
  if (args[0] === 'exec' && parseExecArgs(args.slice(1))) return runExec(args.slice(1))
  const helper = helperCall(args)
  if (helper) return runMountHelper(helper)
  await parseAndRun(normaliseArgs(args), early)
}

async function parseAndRun(args: string[], early: EarlyDaemon | undefined): Promise<void> {
  // Loaded here, not at the top: a background mount's daemon is already starting meanwhile.
  const { default: yargs } = await import('yargs')
  const ctx: CliContext = { rawArgs: args, early }
  const parser = yargs(args)
  skipHelpRendering(parser)
  await parser
    .scriptName('pstore-sim')
    .usage('$0 <command>\n\nA simulated Linux pstore (ramoops) to mount, read, erase and feed without crashing a machine.')
    .command(formatCommand)
    .command(mountCommand(ctx))
    .command(umountCommand)
    .command(rebootCommand)
    .command(panicCommand(ctx))
    .command(consoleCommand(ctx))
    .command(pmsgCommand(ctx))
    .command(ftraceCommand(ctx))
    .command(corruptCommand)
    .command(inspectCommand)
    .command(importCommand)
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
      process.exit(ExitCode.user)
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

/** How a command's error ends the CLI: one line, and its exit code (also for cli/main.ts, the start-up file). */
export function reportError(err: unknown): void {
  const { message, exitCode } = failureReport(err)
  process.stderr.write(`pstore-sim: ${message}\n`)
  process.exitCode = exitCode
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(cliPath)
if (isMain) {
  endQuietlyWhenStdoutCloses()
  main().catch(reportError)
}
