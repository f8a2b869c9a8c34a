/** `pstore-sim mount IMAGE MOUNTPOINT`: a daemon in the background, or this process with -f. */
import path from 'node:path'
import { startDaemon } from '../../daemon/client.js'
// Types only: the daemon's module loads only for -f, so a background mount starts fast.
import type { MountOptions } from '../../daemon/daemon.js'
import { PstoreSimError } from '../../util/errors.js'
import { overridesFrom, withSetup } from '../setupFlags.js'
import { type CliContext, defineCommand } from './command.js'

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
      if (!Number.isFinite(n) || n < 0) throw new PstoreSimError(`-o ${opt}: cache_timeout takes seconds (0 turns the kernel's cache off)`)
      result.cacheTimeout = n
    } else throw new PstoreSimError(`-o ${opt}: unknown mount option (ro, rw, kmsg_bytes=N, allow_other, cache_timeout=SECONDS)`)
  }
  return result
}

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
        process.stdout.write(await startDaemon(options, ctx.early))
        return
      }
      const { serveForeground } = await import('../../daemon/daemon.js')
      process.stdout.write(await serveForeground(options))
    },
  })
