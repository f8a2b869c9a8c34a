/**
 * Where running daemons are found: one small JSON file and one control socket per mountpoint in
 * a run directory (`/run/pstore-sim` for root, else `$XDG_RUNTIME_DIR/pstore-sim` or
 * `/tmp/pstore-sim-<uid>`), keyed by the mountpoint's absolute path.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface MountRecord {
  pid: number
  image: string
  mountpoint: string
  socket: string
  fifo?: string
  readOnly: boolean
  startedAt: string
}

export function runDir(): string {
  if (process.env.PSTORE_SIM_RUN_DIR) return process.env.PSTORE_SIM_RUN_DIR
  const uid = process.getuid?.() ?? 0
  if (uid === 0) return '/run/pstore-sim'
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'pstore-sim')
  return path.join(os.tmpdir(), `pstore-sim-${uid}`)
}

export function mountKey(mountpoint: string): string {
  return crypto.createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 16)
}

export function recordPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.json`)
}

export function socketPath(mountpoint: string): string {
  return path.join(runDir(), `${mountKey(mountpoint)}.sock`)
}

export function writeMountRecord(record: MountRecord): void {
  fs.mkdirSync(runDir(), { recursive: true, mode: 0o700 })
  fs.writeFileSync(recordPath(record.mountpoint), JSON.stringify(record, null, 2) + '\n')
}

export function readMountRecord(mountpoint: string): MountRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(recordPath(mountpoint), 'utf8')) as MountRecord
  } catch {
    return undefined
  }
}

export function removeMountRecord(mountpoint: string): void {
  for (const file of [recordPath(mountpoint), socketPath(mountpoint)]) fs.rmSync(file, { force: true })
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The record of the daemon serving `mountpoint`, if it still runs (a stale one is removed). */
export function liveDaemon(mountpoint: string): MountRecord | undefined {
  const record = readMountRecord(mountpoint)
  if (record && processAlive(record.pid)) return record
  if (record) removeMountRecord(mountpoint)
  return undefined
}

/** All records whose daemon still runs (stale ones are removed). */
export function liveMounts(): MountRecord[] {
  let names: string[]
  try {
    names = fs.readdirSync(runDir()).filter((n) => n.endsWith('.json'))
  } catch {
    return []
  }
  const live: MountRecord[] = []
  for (const name of names) {
    try {
      const record = JSON.parse(fs.readFileSync(path.join(runDir(), name), 'utf8')) as MountRecord
      if (processAlive(record.pid)) live.push(record)
      else removeMountRecord(record.mountpoint)
    } catch {
      /* half-written or foreign file: ignore */
    }
  }
  return live
}

/** The live daemon serving `target`, given as its mountpoint or as its image. */
export function findDaemon(target: string): MountRecord | undefined {
  const abs = path.resolve(target)
  return liveMounts().find((m) => m.mountpoint === abs || m.image === abs)
}

/** Whether a path is currently a mountpoint (from /proc/self/mountinfo). */
export function isMounted(mountpoint: string): boolean {
  const abs = path.resolve(mountpoint)
  let info: string
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8')
  } catch {
    return false
  }
  const escaped = abs.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'))
  return info.split('\n').some((line) => line.split(' ')[4] === escaped)
}
