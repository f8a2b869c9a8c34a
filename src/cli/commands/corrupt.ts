/** `pstore-sim corrupt TARGET`: fault injection, bit flips chosen or random. */
import { PstoreSimError } from '../../util/errors.js'
import { wholeNumber } from '../arguments.js'
import { withSetup } from '../setupFlags.js'
import { defineCommand } from './command.js'
import { print } from './io.js'
import { onTarget } from './target.js'

function parseFlips(flips: string[] | undefined): Array<{ offset: number; bit: number }> {
  return (flips ?? []).map((f) => {
    const m = /^(0x[0-9a-fA-F]+|\d+):([0-7])$/.exec(f)
    if (!m) throw new PstoreSimError(`--flip ${f}: expected OFFSET:BIT, e.g. 0x100:3`)
    return { offset: Number(m[1]), bit: Number(m[2]) }
  })
}

function describeFlip(f: { bit: number; offset: number; where: string; before: number; after: number }): string {
  return `flipped bit ${f.bit} at 0x${f.offset.toString(16)} (${f.where}): 0x${f.before.toString(16).padStart(2, '0')} -> 0x${f.after.toString(16).padStart(2, '0')}\n`
}

export const corruptCommand = defineCommand({
  command: 'corrupt <target>',
  describe: 'flip bits in the region, as RAM that did not survive a reset cleanly (fault injection)',
  builder: (y) =>
    withSetup(
      y
        .positional('target', { type: 'string', demandOption: true, describe: 'image or mountpoint' })
        .option('zone', {
          type: 'string',
          array: true,
          describe: 'zones for random flips: dmesg:N, console, pmsg, ftrace:N (default: every zone with data)',
        })
        .option('random', { type: 'string', coerce: wholeNumber('random', 0, 1 << 30, '8'), describe: 'number of random bit flips (distinct bytes)' })
        .option('area', {
          choices: ['record', 'data', 'header', 'parity', 'zone'] as const,
          default: 'record' as const,
          describe: 'where random flips land',
        })
        .option('max-per-block', {
          type: 'string',
          coerce: wholeNumber('max-per-block', 1, 255, '8'),
          describe: 'at most this many flipped bytes per 128-byte ECC block (e.g. 8 stays correctable with ECC 16)',
        })
        .option('flip', { type: 'string', array: true, describe: 'explicit flip OFFSET:BIT (offset in the region, bit 0-7)' })
        .option('seed', { type: 'string', coerce: wholeNumber('seed', 0, 0xffffffff, '42'), describe: 'seed for the random choice (replayable)' })
        .option('json', { type: 'boolean' }),
    )
      .example('$0 corrupt demo.img --zone dmesg:0 --random 8 --max-per-block 8', 'correctable damage with ECC 16')
      .example('$0 corrupt demo.img --flip 0x100:3', 'flip bit 3 of the byte at 0x100'),
  handler: async (argv) => {
    const flips = parseFlips(argv.flip as string[] | undefined)
    if (!flips.length && !argv.random) throw new PstoreSimError('say what to flip: --random N and/or --flip OFFSET:BIT')
    const spec = {
      zones: argv.zone as string[] | undefined,
      random: argv.random,
      area: argv.area,
      maxPerBlock: argv['max-per-block'],
      flips,
      seed: argv.seed,
    }
    // a spec the region refuses names its flag: failureReport (daemon/advice.ts) phrases it
    const result = await onTarget(argv.target as string, argv, { op: 'corrupt', spec })
    print(result, argv.json, () => result.map(describeFlip).join(''))
  },
})
