/** TARGET of the event commands: a mountpoint (its daemon runs the event) or an image. */
import fs from 'node:fs'
import { sendEvent } from '../../daemon/control.js'
import { findDaemon, readMountRecord } from '../../daemon/registry.js'
import type { EventResult, KernelEvent } from '../../machine/events.js'
import { PstoreSimError } from '../../util/errors.js'
import { overridesFrom, type SetupArgs } from '../setupFlags.js'

/** Runs a kernel event on the daemon serving TARGET, or directly on the image when none does. */
export async function onTarget<E extends KernelEvent>(target: string, argv: SetupArgs, event: E): Promise<EventResult<E>> {
  const daemon = findDaemon(target)
  if (daemon) return sendEvent(daemon.socket, event)
  const stale = readMountRecord(target)
  if (stale) throw new PstoreSimError(`${target}: its daemon (pid ${stale.pid}) is gone; run pstore-sim umount ${target} to clean up, then mount again`)
  let isDirectory = false
  try {
    isDirectory = fs.statSync(target).isDirectory()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTCONN' || code === 'ECONNABORTED')
      throw new PstoreSimError(`${target}: a dead mount (its daemon is gone); run pstore-sim umount ${target} to clean up`)
  }
  if (isDirectory) throw new PstoreSimError(`${target}: no pstore-sim daemon serves this directory; give an image or a mounted mountpoint`)
  const { ImageSession } = await import('../../machine/imageSession.js')
  const { applyEvent, namesOfBoot } = await import('../../machine/events.js')
  // Held in memory and written at the end, image then state: if the state cannot be written (a
  // full disk), the image's bytes are put back, so a failed event changes nothing.
  const session = ImageSession.open(target, overridesFrom(argv), { readOnly: false, deferWrites: true })
  try {
    const result = await applyEvent(session, event, { showBoot: namesOfBoot(session) })
    session.commit()
    return result
  } finally {
    session.close()
  }
}
