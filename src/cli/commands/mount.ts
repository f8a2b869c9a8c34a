/** `pstore-sim mount IMAGE MOUNTPOINT`: a daemon in the background, or this process with -f. */
import path from 'node:path'
import { startDaemon } from '../../daemon/client.js'
// Types only: the daemon's module loads only for -f, so a background mount starts fast.
import type { MountOptions } from '../../daemon/daemon.js'
import { MOUNT_COMMAND_SCOPE, parseMountOptionList } from '../mountOptions.js'
import { overridesFrom, withSetup } from '../setupFlags.js'
import { type CliContext, defineCommand } from './command.js'

export const mountCommand = (ctx: CliContext) =>
  defineCommand({
    command: 'mount <image> <mountpoint>',
    describe: 'boot the image and mount its pstore (returns when the mount is ready)',
    builder: (y) =>
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
    handler: async (argv) => {
      const mountOptions = parseMountOptionList(argv.o as string | undefined, MOUNT_COMMAND_SCOPE)
      const options: MountOptions = {
        image: path.resolve(argv.image as string),
        mountpoint: path.resolve(argv.mountpoint as string),
        overrides: { ...overridesFrom(argv), ...(mountOptions.overrides?.detect ? { detect: true } : {}) },
        readOnly: mountOptions.readOnly ?? false,
        kmsgBytes: mountOptions.kmsgBytes,
        allowOther: mountOptions.allowOther ?? false,
        cacheTimeout: mountOptions.cacheTimeout,
        pmsgFifo: argv['pmsg-fifo'] as string | undefined,
        exactNames: !!argv['exact-names'],
        systemMap: argv['system-map'] as string | undefined,
      }
      if (!argv.foreground) {
        process.stdout.write(await startDaemon(options, ctx.early))
        return
      }
      const { serveForeground } = await import('../../daemon/lifecycle.js')
      process.stdout.write(await serveForeground(options))
    },
  })
