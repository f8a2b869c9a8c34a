/** `pstore-sim console` and `pstore-sim pmsg`: TEXT (or stdin) to the console or /dev/pmsg0. */
import { withSetup } from '../setupFlags.js'
import { type CliContext, defineCommand } from './command.js'
import { readText } from './io.js'
import { onTarget } from './target.js'

export const consoleCommand = (ctx: CliContext) =>
  defineCommand({
    command: 'console <target> [text]',
    describe: 'print lines on the simulated kernel console (TEXT, or stdin when absent or -)',
    builder: (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('text', { type: 'string' })),
    handler: async (argv) => {
      const text = readText(argv.text as string | undefined, ctx.rawArgs).toString('latin1')
      await onTarget(argv.target as string, argv, { op: 'console', text })
    },
  })

export const pmsgCommand = (ctx: CliContext) =>
  defineCommand({
    command: 'pmsg <target> [text]',
    describe: 'write to /dev/pmsg0 (TEXT as given, or stdin when absent or -)',
    builder: (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('text', { type: 'string' })),
    handler: async (argv) => {
      const data = readText(argv.text as string | undefined, ctx.rawArgs)
      await onTarget(argv.target as string, argv, { op: 'pmsg', data })
    },
  })
