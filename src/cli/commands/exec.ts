/**
 * `pstore-sim exec TARGET [--] COMMAND [ARGS...]` as yargs sees it: only its help text and
 * completion. full.ts hands a real run to runExec (cli/exec.ts) before yargs parses, so that
 * COMMAND's words reach it untouched.
 */
import type { Argv, CommandModule } from 'yargs'

/** For yargs: the help text and completion; the run itself goes through runExec (raw words). */
export const execCommand: CommandModule = {
  command: 'exec <target> [command..]',
  describe:
    "run COMMAND in a private mount namespace where /sys/fs/pstore is TARGET, /dev/pmsg0 its pmsg zone and /sys/firmware/efi/efivars an efi TARGET's variables",
  builder: (y: Argv) =>
    y
      .positional('target', { type: 'string', describe: 'a pstore-sim mountpoint, or an image (mounted for the command, unmounted after)' })
      .positional('command', { type: 'string', array: true, describe: 'the command and its arguments (after --, or after TARGET)' })
      .option('tmpfs', { type: 'string', array: true, describe: 'an empty tmpfs on DIR, seen by the command only (repeatable)' })
      .option('bind', { type: 'string', array: true, describe: 'SRC:DST, bind SRC on DST inside (repeatable; DST must exist unless under /dev or a --tmpfs)' })
      .option('o', { type: 'string', describe: 'mount options for an image TARGET (as mount -o: ro, kmsg_bytes=N, mem_size=1M…)' })
      .example(
        '$0 exec demo.img --tmpfs /var/lib/systemd/pstore -- /lib/systemd/systemd-pstore',
        'systemd-pstore as its unit runs it: archives and erases every record',
      )
      .example("$0 exec /tmp/pstore -- sh -c 'echo boot ok > /dev/pmsg0'", "an Android-style pmsg write (pmsg-ramoops-0 after 'pstore-sim reboot /tmp/pstore')")
      .example('$0 exec demo.img -- ls -l /sys/fs/pstore', 'what a collector sees'),
  handler: async () => undefined,
}
