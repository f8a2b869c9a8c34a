/**
 * Entry point of a background daemon started by `pstore-sim mount` or the JS API: the options
 * come as JSON in argv[2], or, for a daemon the CLI starts while it is still parsing its
 * arguments (`--await-options LOGFILE`), as the first IPC message. Readiness goes back over the
 * IPC channel. A plain `mount IMAGE DIR` from bin/pstore-sim comes as `--plain-mount IMAGE DIR`
 * and reports on fd 3 (daemon/plainMount.ts). Kept free of the CLI's argument parser so that a
 * mount is usable as early as possible.
 */
import fs from 'node:fs'
import { ExitCode } from '../util/errors.js'
import { loadFuse } from '../util/fuseNative.js'
import { failureReport, wireError } from './advice.js'
import type { MountOptions } from './daemon.js'
import { serveForeground } from './lifecycle.js'
import { plainMount } from './plainMount.js'

function optionsFromParent(abandonedLog: string): Promise<MountOptions> {
  // The addon loads while the CLI parses; a failure shows again, with its message, in start().
  try {
    loadFuse()
  } catch {
    /* reported by serveForeground */
  }
  return new Promise((resolve) => {
    const onMessage = (message: { options?: MountOptions }) => {
      if (!message.options) return
      process.off('message', onMessage)
      process.off('disconnect', onAbandon)
      resolve(message.options)
    }
    // The CLI exited or decided otherwise before sending options: nothing to serve.
    const onAbandon = () => {
      fs.rmSync(abandonedLog, { force: true })
      process.exit(ExitCode.ok)
    }
    process.on('message', onMessage)
    process.once('disconnect', onAbandon)
    // The CLI may have exited while this process was still loading its modules.
    if (!process.connected) onAbandon()
  })
}

function serveForParent(): void {
  const options: Promise<MountOptions> =
    process.argv[2] === '--await-options' ? optionsFromParent(process.argv[3] ?? '') : Promise.resolve(JSON.parse(process.argv[2] ?? '{}') as MountOptions)

  options.then(serveForeground).then(
    (text) => {
      process.send?.({ text })
      process.disconnect?.()
    },
    (err: unknown) => {
      const { message, exitCode } = failureReport(err)
      process.stderr.write(`pstore-sim: ${message}\n`)
      // A daemon that could not mount exits (FUSE's thread or a timer would keep it alive).
      const exit = () => process.exit(exitCode)
      if (process.send && process.connected) {
        process.send(wireError(err), exit)
        // the CLI may close the channel first: then the send's callback never comes
        process.once('disconnect', exit)
        setTimeout(exit, 2000)
      } else exit()
    },
  )
}

if (process.argv[2] === '--plain-mount') plainMount(process.argv[3] ?? '', process.argv[4] ?? '')
else serveForParent()
