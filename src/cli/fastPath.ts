/**
 * The commands a user (or a collector's test) runs most, in their plain forms, without yargs:
 * `console`/`pmsg`/`reboot`/`panic` on a mounted target only talk to its daemon over the control
 * socket, `umount` only to the daemon or fusermount3, and `mount IMAGE DIR [-o OPTIONS]` only
 * hands its options to the daemon already starting. Loading and initialising yargs (its
 * Intl.Segmenter and Unicode regular expressions included) costs more than such a command's
 * whole work (issue 15).
 *
 * The rule: a call is taken here only when yargs would read it the same way — every word but
 * a known value is a positional that does not start with `-` and is not empty, the command's
 * positional count is right, and an event's target is served by a live daemon. Everything else
 * (an image target, a dead mount, flags, `--help`, a typo) goes to the full parser, which gives
 * its usual answers and errors. What runs is the same code the parser's handlers call, with the
 * same messages and exit codes.
 */
import fs from 'node:fs'
import { type EarlyDaemon, plainMountOptions, startDaemon, unmount } from '../daemon/client.js'
import { sendEvent } from '../daemon/control.js'
import { findDaemon } from '../daemon/registry.js'
import { DUMP_REASONS, type DumpReason } from '../pstore/kmsgDumper.js'
import { rawText } from './arguments.js'
import { rebootDaemon } from './commands/reboot.js'
import { describeCrash } from './crashText.js'

/** A plain positional as yargs passes it on unchanged: not empty, not a flag, not `--`. */
const plain = (word: string | undefined): word is string => word !== undefined && word !== '' && !word.startsWith('-')

/** The live daemon serving TARGET (a mountpoint or a mounted image), as `onTarget` finds it. */
function daemonSocket(target: string): string | undefined {
  return findDaemon(target)?.socket
}

export type FastCall = () => Promise<void>

/**
 * `pstore-sim mount` in the background, as far as can be told before parsing: the daemon can
 * then start while the full command line loads and parses (a wrong guess only costs a daemon
 * that exits). main.ts asks before it loads full.mjs, so that a mount with flags or `-o` boots
 * its daemon beside that too.
 */
export function looksLikeBackgroundMount(args: string[]): boolean {
  return args[0] === 'mount' && !args.some((a) => a === '--' || /^--(foreground|help|version)\b/.test(a) || /^-[a-zA-Z]*[fh]/.test(a))
}

/**
 * `mount IMAGE DIR`: the mount form taken here. With `-o` the full parser runs (cli/mountOptions.ts
 * is the one -o parser, and it needs the engine's size parsing).
 */
export function isFastMount(args: string[]): boolean {
  const [command, image, mountpoint, ...rest] = args
  return command === 'mount' && plain(image) && plain(mountpoint) && rest.length === 0
}

/**
 * The fast form of `args`, or undefined when the full parser must read them. Looks at the run
 * directory (is the target served?), nothing else; runs nothing.
 */
export function fastCall(args: string[], early: EarlyDaemon | undefined): FastCall | undefined {
  const [command, first, second, ...rest] = args
  if (!plain(first)) return undefined
  switch (command) {
    case 'console':
    case 'pmsg': {
      // TEXT as given, `-` or nothing for stdin
      if (rest.length || (second !== undefined && second !== '-' && !plain(second))) return undefined
      const socket = daemonSocket(first)
      if (!socket) return undefined
      return async () => {
        const data = second === undefined || second === '-' ? fs.readFileSync(0) : rawText(second, args)
        if (command === 'console') await sendEvent(socket, { op: 'console', text: data.toString('latin1') })
        else await sendEvent(socket, { op: 'pmsg', data })
      }
    }
    case 'reboot': {
      if (second !== undefined) return undefined
      const socket = daemonSocket(first)
      if (!socket) return undefined
      return () => rebootDaemon(socket)
    }
    case 'panic': {
      // `panic TARGET` or `panic TARGET --reason R`, as yargs reads them with the defaults
      let reason: DumpReason = 'panic'
      if (second !== undefined) {
        const value = second.startsWith('--reason=') ? second.slice('--reason='.length) : second === '--reason' && rest.length === 1 ? rest[0] : undefined
        if (value === undefined || rest.length > (second === '--reason' ? 1 : 0) || !(DUMP_REASONS as readonly string[]).includes(value)) return undefined
        reason = value as DumpReason
      }
      const socket = daemonSocket(first)
      if (!socket) return undefined
      return async () => {
        const result = await sendEvent(socket, { op: 'panic', reason, compress: true })
        process.stdout.write(describeCrash(result))
      }
    }
    case 'umount':
      if (second !== undefined) return undefined
      return () => unmount(first)
    case 'mount': {
      if (!isFastMount(args) || !plain(second)) return undefined
      return async () => {
        process.stdout.write(await startDaemon(plainMountOptions(first, second), early))
      }
    }
    default:
      return undefined
  }
}
