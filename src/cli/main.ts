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
import { fastCall, looksLikeBackgroundMount } from './fastPath.js'

async function run(args: string[]): Promise<void> {
  // A background mount's daemon starts at once: it boots while this process loads full.mjs
  // (~50 ms) and parses the flags, and gets its options once they are known.
  const early: EarlyDaemon | undefined = looksLikeBackgroundMount(args) ? spawnEarlyDaemon() : undefined
  try {
    const fast = fastCall(args, early)
    if (fast) return await fast()
    // the full command line, with its own error handling (its errors are its own classes)
    const full = await import('./full.js')
    await full.main(args, early).catch(full.reportError)
  } finally {
    // Its IPC channel would keep this process alive. (On a usage error yargs exits without
    // unwinding: the channel closes with the process, which the daemon notices all the same.)
    if (early) cancelEarlyDaemon(early) // a no-op once it has its options
  }
}

endQuietlyWhenStdoutCloses()
run(process.argv.slice(2)).catch((err: unknown) => {
  // as cli/full.ts ends: one line and the exit code, through the one mapping (daemon/advice.ts)
  const { message, exitCode } = failureReport(err)
  process.stderr.write(`pstore-sim: ${message}\n`)
  process.exitCode = exitCode
})
