/**
 * A plain `pstore-sim mount IMAGE DIR` as bin/pstore-sim starts it: this process is the daemon
 * from its first line, with no CLI process before it, so that a mount costs one Node start
 * instead of two (issue 15). The script runs `setsid node main.cjs --plain-mount IMAGE DIR` with
 * stdin, stdout and stderr on /dev/null and fd 3 on a pipe it reads to its end: nothing of the
 * caller's stays open here, so a script's `$(pstore-sim mount …)` returns. What it reads, in lines:
 *
 *   log PATH     stdout and stderr are now the mount's log, as a spawned daemon's are (until
 *                then stderr is the pipe too: what a daemon dying as it starts says is seen)
 *   exit CODE    then the words to print: on stdout for 0 (the mount is usable), else the one
 *                line on stderr; the script exits with CODE
 *   died CODE    instead of `exit`: this process exited before its report (the log says why)
 *
 * The words are the CLI's: the options of its fast path, its messages and exit codes, and for a
 * daemon that died, "the daemon exited with code CODE:" and its log (daemon/client.ts).
 */
import fs from 'node:fs'
import { EnvironmentError, errorWithExitCode } from '../util/errors.js'
import { failureReport, wireError } from './advice.js'
import { plainMountOptions } from './client.js'
import { serveForeground } from './lifecycle.js'
import { logPath } from './registry.js'

const REPORT_FD = 3
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_APPEND } = fs.constants

function report(text: string): void {
  try {
    fs.writeSync(REPORT_FD, text)
  } catch {
    // the script is gone (^C): nobody is left to tell, and the mount goes on, as a spawned one does
  }
}

/**
 * stdout and stderr become the log: fds 1 and 2 are closed, so the log's two opens take them
 * (open(2) returns the lowest free fd). Both append: the two descriptors share no offset.
 */
function logToFile(file: string): void {
  fs.rmSync(file, { force: true }) // a killed daemon's (the run directory is ours alone)
  fs.closeSync(1)
  fs.closeSync(2)
  const out = fs.openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_APPEND, 0o600)
  const err = fs.openSync(file, O_WRONLY | O_APPEND | O_NOFOLLOW)
  if (out !== 1 || err !== 2) throw new EnvironmentError(`${file}: the log did not become stdout and stderr (fds ${out}, ${err})`)
}

export function plainMount(image: string, mountpoint: string): void {
  let logFile: string | undefined
  let reported = false
  process.once('exit', (code) => {
    if (!reported) report(`died ${code}\n`)
  })
  const fail = (err: unknown): void => {
    // as the CLI reports a daemon's refusal (daemon/client.ts startDaemon, then cli/main.ts)
    const wire = wireError(err)
    const { message, exitCode } = failureReport(errorWithExitCode(wire.error, wire.exitCode, wire.name, wire.facts, wire.kind))
    if (logFile) fs.rmSync(logFile, { force: true }) // its words are in the error: nothing left behind
    reported = true
    report(`exit ${exitCode}\npstore-sim: ${message}\n`)
    process.exit(exitCode)
  }
  try {
    const options = plainMountOptions(image, mountpoint)
    const file = logPath(options.mountpoint)
    logToFile(file)
    logFile = file
    report(`log ${file}\n`)
    serveForeground(options).then((text) => {
      reported = true
      report(`exit 0\n${text}`)
      fs.closeSync(REPORT_FD)
    }, fail)
  } catch (err) {
    fail(err)
  }
}
