/**
 * A real second user for the tests: created with useradd when missing (no home, no shell), and
 * commands run as that user in a private mount namespace where a 0666 /dev/fuse node is bound
 * over the host's root-only one (the machine's /dev/fuse is crw-------).
 */
import fs from 'node:fs'
import path from 'node:path'
import { type RunResult, run } from './mount.js'

export const TEST_USER = 'pstoresim-test'

/** The uid of the test user, or why there is none. */
export async function testUser(): Promise<number | string> {
  if (process.getuid?.() !== 0) return 'needs root to create the test user'
  let id = await run('id', ['-u', TEST_USER])
  if (id.code !== 0) {
    const add = await run('useradd', ['-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', TEST_USER])
    if (add.code !== 0) return `useradd ${TEST_USER} failed: ${add.stderr.trim()}`
    id = await run('id', ['-u', TEST_USER])
  }
  return Number(id.stdout.toString().trim())
}

/** `command` as `uid` (gid = uid, no supplementary groups), with only HOME, PATH and `env`. */
export function asUserArgs(uid: number, home: string, command: string[], env: Record<string, string> = {}): string[] {
  return [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--',
    'env',
    '-i',
    `HOME=${home}`,
    `PATH=${process.env.PATH}`,
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...command,
  ]
}

/**
 * A runner of commands as `uid` in a private mount namespace with a 0666 /dev/fuse made in `dir`
 * (which the user then owns).
 */
export async function userRunner(uid: number, dir: string): Promise<(command: string[], env?: Record<string, string>) => Promise<RunResult>> {
  fs.chownSync(dir, uid, uid)
  const fuseNode = path.join(dir, 'fuse')
  if (!fs.existsSync(fuseNode)) {
    const mknod = await run('mknod', ['-m', '666', fuseNode, 'c', '10', '229'])
    if (mknod.code !== 0) throw new Error(`mknod ${fuseNode}: ${mknod.stderr}`)
  }
  return (command, env = {}) =>
    run('unshare', [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount --bind "$1" /dev/fuse && shift && exec "$@"',
      'sh',
      fuseNode,
      ...asUserArgs(uid, dir, command, env),
    ])
}
