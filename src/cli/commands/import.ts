/** `pstore-sim import TEXT IMAGE`: a region captured as text (U-Boot md.b/md.l, xxd, hexdump -C) into a binary image. */
import fs from 'node:fs'
import { PstoreSimError } from '../../util/errors.js'
import { defineCommand } from './command.js'
import { readFileOrFail } from './io.js'

export const importCommand = defineCommand({
  command: 'import <text> <image>',
  describe: 'turn a region captured as text (U-Boot md.b/md.w/md.l, xxd, hexdump -C) into a binary image (then inspect or mount it with --detect)',
  builder: (y) =>
    y
      .positional('text', { type: 'string', demandOption: true, describe: 'the capture (a serial console log is fine: other lines are passed over)' })
      .positional('image', { type: 'string', demandOption: true })
      .option('force', { type: 'boolean', describe: 'overwrite an existing image' })
      .example('$0 import console.log dump.bin && $0 inspect dump.bin --detect', 'a board region read with U-Boot "md.b 0x8000000 0x100000"'),
  handler: async (argv) => {
    const { parseHexDump, HexDumpError } = await import('../../format/hexDump.js')
    const { writeFileAtomic } = await import('../../util/files.js')
    const text = argv.text as string
    const image = argv.image as string
    const source = readFileOrFail(text)
    let parsed: ReturnType<typeof parseHexDump>
    try {
      parsed = parseHexDump(source)
    } catch (err) {
      if (err instanceof HexDumpError) throw new PstoreSimError(`${text}: ${err.message}`)
      throw err
    }
    // Everything checked before the image is touched; the image appears whole or not at all.
    if (fs.existsSync(image) && !argv.force) throw new PstoreSimError(`${image}: already exists; give --force to overwrite it`)
    writeFileAtomic(image, parsed.bytes, 0o644)
    process.stdout.write(`imported ${text}: ${parsed.bytes.length} bytes from address 0x${parsed.baseAddress.toString(16)} into ${image}\n`)
  },
})
