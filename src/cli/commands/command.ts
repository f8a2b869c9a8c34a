/**
 * What every command module shares: the shape of a command (yargs' CommandModule, with argv
 * typed by its builder) and the context a handler may need beyond its parsed argv.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import type { EarlyDaemon } from '../../daemon/client.js'

export interface CliContext {
  /** The words as given (after normaliseArgs): yargs hides a lone `-` and argv's raw bytes. */
  rawArgs: string[]
  /** A background mount's daemon, started before parsing (see looksLikeBackgroundMount). */
  early?: EarlyDaemon
}

export interface Command<U> {
  command: string
  describe: string
  builder: (y: Argv<object>) => Argv<U>
  handler: (argv: ArgumentsCamelCase<U>) => Promise<void>
}

/** Lets TypeScript infer argv's type from the builder, as an inline `.command(...)` does. */
export function defineCommand<U>(command: Command<U>): CommandModule<object, U> {
  return command
}
