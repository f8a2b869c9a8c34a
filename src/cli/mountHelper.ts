/**
 * pstore-sim as a mount(8) helper: `mount -t fuse.pstore-sim IMAGE DIR -o OPTIONS` and fstab
 * lines of type fuse.pstore-sim run /sbin/mount.fuse, which runs `pstore-sim IMAGE DIR -o
 * OPTIONS` (it always passes -o, adding e.g. `dev,suid` or `noexec,nosuid,nodev`). The mount is
 * served by a background daemon; this returns once it is usable. A plain `umount DIR` ends the
 * daemon: it notices the mount is gone, saves its state and removes its FIFO.
 */
import fs from 'node:fs'
import path from 'node:path'
import { startDaemon } from '../daemon/client.js'
import { PstoreSimError } from '../util/errors.js'
import { parseMountOptionList } from './mountOptions.js'

/** The CLI's commands: a first word among them is never an image. */
const COMMANDS = new Set(['format', 'mount', 'umount', 'reboot', 'panic', 'console', 'pmsg', 'ftrace', 'corrupt', 'inspect', 'exec', 'completion'])

export interface HelperCall {
  image: string
  mountpoint: string
  options?: string
}

/**
 * The words of a mount helper call: `IMAGE DIR -o OPTIONS` as mount.fuse passes them, or
 * `IMAGE DIR` with IMAGE an existing file. Anything else is for the command parser.
 */
export function helperCall(args: string[]): HelperCall | undefined {
  const [image, mountpoint, flag, options] = args
  if (image === undefined || mountpoint === undefined || image.startsWith('-') || COMMANDS.has(image)) return undefined
  if (args.length === 4 && flag === '-o') return { image, mountpoint, options }
  if (args.length === 2 && !mountpoint.startsWith('-') && fs.existsSync(image) && fs.statSync(image).isFile()) return { image, mountpoint }
  return undefined
}

/** What execvp(3) and sh search when PATH is unset, as it is for helpers mount(8) runs. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export async function runMountHelper(call: HelperCall): Promise<void> {
  // mount.fuse runs us through sh with no PATH in the environment: an ordinary user's daemon needs fusermount3.
  process.env.PATH ||= DEFAULT_PATH
  const options = { ...parseMountOptionList(call.options), image: path.resolve(call.image), mountpoint: path.resolve(call.mountpoint) }
  if (!fs.existsSync(options.image)) throw new PstoreSimError(`${call.image}: no such image (format one: pstore-sim format ${call.image})`)
  // mount(8) helpers are silent on success: the daemon's "mounted …" line is not printed.
  await startDaemon(options)
}
