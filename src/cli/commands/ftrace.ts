/** `pstore-sim ftrace TARGET [FILE]`: function-trace records, one `cpu ip parent_ip` a line. */
import fs from 'node:fs'
import { PstoreSimError } from '../../util/errors.js'
import { withSetup } from '../setupFlags.js'
import { type CliContext, defineCommand } from './command.js'
import { isStdin, readFileOrFail } from './io.js'
import { onTarget } from './target.js'

export function parseFtraceLines(text: string, fileName: string): Array<{ cpu: number; ip: bigint; parentIp: bigint }> {
  const calls: Array<{ cpu: number; ip: bigint; parentIp: bigint }> = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim()
    if (!line) return
    const m = /^(\d+)\s+(?:0x)?([0-9a-fA-F]+)\s+(?:0x)?([0-9a-fA-F]+)$/.exec(line)
    if (!m) throw new PstoreSimError(`${fileName}:${i + 1}: expected "cpu ip parent_ip" with hex addresses, found "${raw}"`)
    const call = { cpu: Number(m[1]), ip: BigInt('0x' + m[2]), parentIp: BigInt('0x' + m[3]) }
    if (call.cpu > 0xffffffff) throw new PstoreSimError(`${fileName}:${i + 1}: CPU ${m[1]} is not a CPU number (0 to 4294967295)`)
    for (const [what, value] of [
      ['ip', call.ip],
      ['parent_ip', call.parentIp],
    ] as const) {
      if (value >> 64n) throw new PstoreSimError(`${fileName}:${i + 1}: ${what} 0x${m[what === 'ip' ? 2 : 3]} does not fit 64 bits`)
    }
    calls.push(call)
  })
  return calls
}

export const ftraceCommand = (ctx: CliContext) =>
  defineCommand({
    command: 'ftrace <target> [file]',
    describe: 'append ftrace records, one per line: "cpu ip parent_ip" (hex addresses)',
    builder: (y) => withSetup(y.positional('target', { type: 'string', demandOption: true }).positional('file', { type: 'string' })),
    handler: async (argv) => {
      const source = isStdin(argv.file as string | undefined, ctx.rawArgs) ? fs.readFileSync(0, 'utf8') : readFileOrFail(argv.file as string)
      const calls = parseFtraceLines(source, (argv.file as string | undefined) ?? 'stdin')
      const fileName = (argv.file as string | undefined) ?? 'stdin'
      await onTarget(argv.target as string, argv, { op: 'ftrace', calls }).catch((err) => {
        // "record N" counts the calls of the file (comments and blank lines aside)
        throw err instanceof PstoreSimError && err.name === 'FtraceCallError' ? new PstoreSimError(`${fileName}: ${err.message}`) : err
      })
    },
  })
