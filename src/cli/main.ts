#!/usr/bin/env node
/**
 * What `pstore-sim` starts from once built (scripts/bundle.mjs bundles this file as
 * dist/src/cli/main.js): the plain forms of the frequent commands (cli/fastPath.ts) run from
 * what this file holds — the control socket's client, the run directory, the daemon starter —
 * and everything else loads the full command line (cli/full.ts: yargs and the engine, bundled
 * as dist/src/cli/full.mjs) only when it is needed. Errors end as cli/full.ts ends them: one line,
 * the same words, the same exit codes.
 */
import { failureReport } from '../daemon/advice.js'
import { cancelEarlyDaemon, type EarlyDaemon, spawnEarlyDaemon } from '../daemon/client.js'
import { endQuietlyWhenStdoutCloses } from './arguments.js'
import { fastCall, isFastMount } from './fastPath.js'

async function run(args: string[]): Promise<void> {
  // a background mount's daemon starts at once, as in cli/full.ts, when its options are plain
  const early: EarlyDaemon | undefined = isFastMount(args) ? spawnEarlyDaemon() : undefined
  try {
    const fast = fastCall(args, early)
    if (fast) return await fast()
  } finally {
    if (early) cancelEarlyDaemon(early) // a no-op once it has its options
  }
  // the full command line, with its own error handling (its errors are its own classes)
  const full = await import('./full.js')
  await full.main(args).catch(full.reportError)
}

endQuietlyWhenStdoutCloses()
run(process.argv.slice(2)).catch((err: unknown) => {
  // as cli/full.ts ends: one line and the exit code, through the one mapping (daemon/advice.ts)
  const { message, exitCode } = failureReport(err)
  process.stderr.write(`pstore-sim: ${message}\n`)
  process.exitCode = exitCode
})
