/** `pstore-sim panic TARGET`: the kmsg dumper as the kernel runs it on a panic or oops. */
import fs from 'node:fs'
import { DUMP_REASONS } from '../../pstore/kmsgDumper.js'
import { secondsSinceEpoch } from '../arguments.js'
import { describeCrash } from '../crashText.js'
import { withSetup } from '../setupFlags.js'
import { type CliContext, defineCommand } from './command.js'
import { isStdin, print, readFileOrFail } from './io.js'
import { onTarget } from './target.js'

export const panicCommand = (ctx: CliContext) =>
  defineCommand({
    command: 'panic <target>',
    describe: 'crash the simulated kernel: log the report and run the kmsg dumper',
    builder: (y) =>
      withSetup(
        y
          .positional('target', { type: 'string', demandOption: true, describe: 'image or mountpoint' })
          .option('reason', { choices: DUMP_REASONS, default: 'panic' as const })
          .option('log', { type: 'string', describe: "log to dump instead of this boot's (FILE or - for stdin)" })
          .option('time', { type: 'string', coerce: secondsSinceEpoch('time'), describe: 'wall-clock seconds for the record header (default now)' })
          .option('reboot', { type: 'boolean', describe: 'boot again after the crash' })
          .option('json', { type: 'boolean' }),
      ).example('$0 panic /tmp/pstore --reason oops', 'an oops; three in one boot fill slots 0, 1, 2'),
    handler: async (argv) => {
      const logText = argv.log === undefined ? undefined : isStdin(argv.log, ctx.rawArgs) ? fs.readFileSync(0, 'latin1') : readFileOrFail(argv.log)
      const event = {
        op: 'panic',
        reason: argv.reason,
        logText,
        time: argv.time,
        compress: (argv.compress as unknown) !== false,
        reboot: argv.reboot,
      } as const
      const result = await onTarget(argv.target as string, argv, event)
      print(result, argv.json, () => describeCrash(result))
    },
  })
