/**
 * Where an efi daemon mounts its efivarfs view (efivarsFuse.ts), and the clean-up of one a
 * killed daemon left: node built-ins and the registry only, so `umount` loads nothing more.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { isMounted, mountKey, runDir } from './registry.js'

/** Where the daemon of `mountpoint` serves efivarfs: beside its record and socket in the run directory. */
export function efivarsPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.efivars`)
}

/** Ends a mount left at `dir` lazily (fusermount3 -uz, or umount -l for root); nothing when none is there. */
export function unmountLazily(dir: string): Promise<void> {
  if (!isMounted(dir)) return Promise.resolve()
  const run = (cmd: string, args: string[]) => new Promise<void>((resolve, reject) => execFile(cmd, args, (err) => (err ? reject(err) : resolve())))
  return run('fusermount3', ['-uz', dir]).catch(() => run('umount', ['-l', dir]).catch(() => undefined))
}

/** A killed daemon's efivars mount and directory, gone. */
export async function removeStaleEfivars(dir: string): Promise<void> {
  await unmountLazily(dir)
  try {
    fs.rmdirSync(dir) // empty once unmounted: never a recursive removal through a mount
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
