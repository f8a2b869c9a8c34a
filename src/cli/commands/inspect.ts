/** `pstore-sim inspect IMAGE`: what the next boot would show; reads only. */
import { formatInspection } from '../inspectText.js'
import { overridesFrom, withSetup } from '../setupFlags.js'
import { defineCommand } from './command.js'
import { print } from './io.js'

export const inspectCommand = defineCommand({
  command: 'inspect <image>',
  describe: 'show the setup, every zone and every record a boot would show (never writes)',
  builder: (y) =>
    withSetup(
      y
        .positional('image', { type: 'string', demandOption: true })
        .option('json', { type: 'boolean', describe: 'machine-readable output' })
        .option('content', { type: 'boolean', describe: "with --json: every file's bytes, base64" })
        .option('exact-names', { type: 'boolean', describe: "the target kernel's own names (ftrace-ramoops-0)" })
        .option('system-map', { type: 'string', describe: 'System.map for ftrace symbols' })
        .option('svg', { type: 'string', describe: 'also draw the region as an SVG picture into FILE' })
        .option('html', { type: 'string', describe: "also write an HTML page into FILE: the picture with the records' text beside it" }),
    ),
  handler: async (argv) => {
    const { inspectImage } = await import('../../machine/inspect.js')
    const report = await inspectImage(argv.image as string, overridesFrom(argv), {
      systemMap: argv['system-map'] as string | undefined,
      exactNames: !!argv['exact-names'],
      withContent: !!argv.content || argv.html !== undefined,
    })
    if (argv.svg !== undefined || argv.html !== undefined) {
      const { renderHtml, renderSvg } = await import('../inspectPicture.js')
      const { writeFileAtomic } = await import('../../util/files.js')
      if (argv.svg !== undefined) writeFileAtomic(argv.svg as string, renderSvg(report), 0o644)
      if (argv.html !== undefined) writeFileAtomic(argv.html as string, renderHtml(report), 0o644)
      if (!argv.content) for (const rec of report.records) delete rec.contentBase64
    }
    print(report, argv.json, () => formatInspection(report))
  },
})
