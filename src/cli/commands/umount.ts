/** `pstore-sim umount MOUNTPOINT`: returns after the daemon's last write. */
import { unmount } from '../../daemon/client.js'
import { defineCommand } from './command.js'

export const umountCommand = defineCommand({
  command: 'umount <mountpoint>',
  describe: 'unmount and wait for the daemon to finish its writes',
  builder: (y) => y.positional('mountpoint', { type: 'string', demandOption: true }),
  handler: async (argv) => unmount(argv.mountpoint as string),
})
