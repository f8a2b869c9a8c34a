/**
 * One soak round on a mounted image: 32 FIFO writers, readers, rm, console, panic --reboot and
 * reboot while they write, then a stop of one kind; the next mount's pmsg-ramoops-0 (and the
 * pmsg record each reboot of the round brought) must hold every acknowledged line.
 */

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { readMountRecord } from '../../src/daemon/registry.js'
import { cliJs, run, waitGone } from './mount.js'
import { checkLines, type LossReport, startWriters } from './pmsgLoad.js'

export type StopKind = 'SIGTERM' | 'SIGINT' | 'umount' | 'fusermount3 -u' | 'kill -9'
export const STOP_KINDS: StopKind[] = ['SIGTERM', 'SIGINT', 'umount', 'fusermount3 -u', 'kill -9']

/**
 * 16 MiB region, 12 MiB pmsg zone. Writers write until the stop, each at most a line per
 * 10 ms (32 writers: < 40 KB/s), so no boot of a round wraps the ring.
 */
export const SOAK_LAYOUT = ['--mem-size', '16M', '--record-size', '64K', '--console-size', '64K', '--pmsg-size', '12M', '--ftrace-size', '0']
export const WRITERS = 32

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function mustRun(args: string[]): Promise<string> {
  const r = await run(process.execPath, [cliJs, ...args])
  if (r.code !== 0) throw new Error(`pstore-sim ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.toString()
}

async function pmsgRecord(mnt: string): Promise<string> {
  const r = await run('cat', [path.join(mnt, 'pmsg-ramoops-0')])
  return r.code === 0 ? r.stdout.toString('latin1') : ''
}

async function stop(mnt: string, kind: StopKind): Promise<void> {
  const record = readMountRecord(mnt)
  if (!record) throw new Error(`${mnt}: no mount record`)
  if (kind === 'SIGTERM' || kind === 'SIGINT' || kind === 'kill -9') process.kill(record.pid, kind === 'kill -9' ? 'SIGKILL' : kind)
  else if (kind === 'umount') await mustRun(['umount', mnt])
  else spawnSync('fusermount3', ['-u', mnt])
  await waitGone(record.pid)
}

export interface RoundResult extends LossReport {
  kind: StopKind
}

/** One round on `image` (formatted with SOAK_LAYOUT) at `mnt`; leaves it unmounted. */
export async function soakRound(image: string, mnt: string, kind: StopKind, seed: number): Promise<RoundResult> {
  await mustRun(['mount', image, mnt])
  const fifo = `${mnt}.pmsg0`
  const writers = startWriters(fifo, WRITERS, 1e9, 1, 10)
  const texts: string[] = []
  await writers.ready
  await sleep(50 + (seed % 5) * 20)
  await mustRun(['console', mnt, `round ${seed}`])
  await run('cat', [path.join(mnt, 'console-ramoops-0')])
  await mustRun(['panic', mnt, '--reboot'])
  texts.push(await pmsgRecord(mnt))
  await run('rm', ['-f', path.join(mnt, 'dmesg-ramoops-0')])
  await run('ls', ['-l', mnt])
  await sleep((seed * 37) % 80)
  await mustRun(['reboot', mnt])
  texts.push(await pmsgRecord(mnt))
  await sleep((seed * 53) % 120)
  await stop(mnt, kind)
  const acked = await writers.done
  await mustRun(['mount', image, mnt])
  texts.push(await pmsgRecord(mnt))
  await mustRun(['umount', mnt])
  if (fs.existsSync(fifo)) throw new Error(`${fifo} left behind`)
  return { kind, ...checkLines(texts.join(''), acked) }
}
