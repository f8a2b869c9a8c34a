/** `pstore-sim format IMAGE`: a zeroed region, booted once, and its sidecar. */
import { overridesFrom, withSetup } from '../setupFlags.js'
import { defineCommand } from './command.js'

export const formatCommand = defineCommand({
  command: 'format <image>',
  describe: 'create a region image (zeroed, then booted once) and its IMAGE.json sidecar',
  builder: (y) =>
    withSetup(
      y.positional('image', { type: 'string', demandOption: true }).option('force', { type: 'boolean', describe: 'overwrite an existing image' }),
    ).example('$0 format demo.img --mem-size 1M --record-size 32K --console-size 32K --pmsg-size 4K --ftrace-size 8K', 'a typical device-tree layout'),
  handler: async (argv) => {
    const { formatImage } = await import('../../machine/imageSession.js')
    const { imageSize } = await import('../../backend/setup.js')
    const { setup, dmesgZones } = formatImage(argv.image as string, overridesFrom(argv), { force: !!argv.force })
    const k = setup.kernel
    const units =
      setup.backend === 'erst'
        ? `${dmesgZones} ERST record slots of ${setup.erstRecordSize} bytes`
        : setup.backend === 'efi'
          ? `an empty UEFI variable store (efi-pstore records of up to ${setup.efiRecordSize} bytes)`
          : `${dmesgZones} dmesg zones`
    process.stdout.write(`formatted ${argv.image}: ${imageSize(setup)} bytes, ${units}, kernel ${k.major}.${k.minor}.${k.patch}\n`)
  },
})
