/**
 * Entry point of a background daemon started by `pstore-sim mount` or the JS API: the options
 * come as JSON in argv[2] and readiness goes back over the IPC channel. Kept free of the CLI's
 * argument parser so that a mount is usable as early as possible.
 */
import { serveForeground, MountOptions } from './daemon.js'
import { PstoreSimError } from './errors.js'

const options = JSON.parse(process.argv[2] ?? '{}') as MountOptions

serveForeground(options).then(
  (text) => {
    process.send?.({ text })
    process.disconnect?.()
  },
  (err: Error) => {
    const known = err instanceof PstoreSimError || (err as NodeJS.ErrnoException).code !== undefined
    const exitCode = err instanceof PstoreSimError ? err.exitCode : 1
    process.stderr.write(`pstore-sim: ${known ? err.message : err.stack}\n`)
    process.send?.({ error: err.message, exitCode })
    process.exitCode = exitCode
    process.disconnect?.()
  },
)
