/** `pstore-sim reboot MOUNTPOINT`: only a mount reboots (an image is rebooted by mounting it). */
import { sendEvent } from '../../daemon/control.js'
import { findDaemon } from '../../daemon/registry.js'
import { PstoreSimError } from '../../util/errors.js'
import { defineCommand } from './command.js'

/** Reboots the machine a daemon serves and says how many files the new boot shows (also the fast path's). */
export async function rebootDaemon(socket: string): Promise<void> {
  const result = await sendEvent(socket, { op: 'reboot' })
  process.stdout.write(`rebooted: ${result.files.length} file(s)\n`)
}

export const rebootCommand = defineCommand({
  command: 'reboot <mountpoint>',
  describe: 'simulate a reboot of the mounted machine: boot sequence again, view refreshed',
  builder: (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
  handler: async (argv) => {
    const daemon = findDaemon(argv.mountpoint as string)
    if (!daemon) throw new PstoreSimError(`${argv.mountpoint}: not a pstore-sim mount (mount it first; an image is rebooted by mounting it)`)
    await rebootDaemon(daemon.socket)
  },
})
