/**
 * The JS API: create, mount, crash, reboot and unmount a simulated pstore from a Node test
 * suite. The daemon always runs in its own process; this module talks to it.
 *
 *   import { formatImage, mount } from 'pstore-sim'
 *   await formatImage('demo.img', { params: { mem_size: 0x100000, record_size: 0x8000 } })
 *   const pstore = await mount('demo.img', '/tmp/pstore')
 *   await pstore.panic({ reason: 'oops' })
 *   await pstore.reboot()
 *   await pstore.unmount()
 */
import fs from 'node:fs'
import path from 'node:path'
import { execFile } from 'node:child_process'
import { cliPath, send, startDaemon, unmount } from './client.js'
import { ModuleParams, TargetOptions } from './config.js'
import { DumpReason } from './kmsgDumper.js'
import { defaultFifoPath } from './pmsgFifo.js'

export * from './config.js'
export * from './layout.js'
export { Ramoops } from './ramoops.js'
export { RegionImage, ImageError } from './region.js'
export { SimulatedMachine } from './machine.js'
export { Simulation } from './simulation.js'
export { inspectImage } from './inspect.js'
export { SymbolTable } from './symbols.js'
export { ReedSolomon, reedSolomon } from './reedSolomon.js'
export type { PstoreRecord } from './record.js'

export interface ImageSetup {
  /** ramoops module parameters (what the CLI's setup flags mean). */
  params?: ModuleParams
  cmdline?: string
  dtsFile?: string
  target?: TargetOptions
}

function setupArgs(setup: ImageSetup): string[] {
  const args: string[] = []
  const p = setup.params ?? {}
  const flag = (name: string, value: number | string | undefined) => {
    if (value !== undefined) args.push(`--${name}`, String(value))
  }
  flag('mem-size', p.mem_size)
  flag('record-size', p.record_size)
  flag('console-size', p.console_size)
  flag('ftrace-size', p.ftrace_size)
  flag('pmsg-size', p.pmsg_size)
  flag('ecc', p.ecc)
  flag('max-reason', p.max_reason)
  flag('cmdline', setup.cmdline)
  flag('dts', setup.dtsFile)
  const t = setup.target ?? {}
  flag('kernel', t.kernel)
  flag('cpus', t.cpus)
  flag('word-size', t.wordBits)
  if (t.frontends) flag('frontends', Object.entries(t.frontends).filter(([, on]) => on).map(([name]) => name).join(',') || 'none')
  return args
}

function cli(args: string[], input?: Buffer | string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [cliPath, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(stderr.trim() || err.message))
      else resolve(stdout)
    })
    child.stdin?.end(input ?? '')
  })
}

export async function formatImage(image: string, setup: ImageSetup, options: { force?: boolean } = {}): Promise<void> {
  await cli(['format', image, ...setupArgs(setup), ...(options.force ? ['--force'] : [])])
}

export interface MountHandle {
  mountpoint: string
  image: string
  /** The /dev/pmsg0-like FIFO, when the mount has one. */
  fifo: string | undefined
  reboot(): Promise<void>
  panic(options?: { reason?: DumpReason; log?: string; time?: number; compress?: boolean; reboot?: boolean }): Promise<unknown>
  console(text: string): Promise<void>
  pmsg(data: string | Buffer): Promise<void>
  ftrace(calls: Array<{ cpu: number; ip: bigint; parentIp: bigint }>): Promise<void>
  unmount(): Promise<void>
}

export interface MountApiOptions extends ImageSetup {
  readOnly?: boolean
  kmsgBytes?: number
  pmsgFifo?: string | false
  exactNames?: boolean
  systemMap?: string
}

export async function mount(image: string, mountpoint: string, options: MountApiOptions = {}): Promise<MountHandle> {
  const abs = path.resolve(mountpoint)
  const o = [options.readOnly ? 'ro' : undefined, options.kmsgBytes !== undefined ? `kmsg_bytes=${options.kmsgBytes}` : undefined].filter(Boolean).join(',')
  const args = ['mount', image, abs, ...setupArgs(options), ...(o ? ['-o', o] : [])]
  if (typeof options.pmsgFifo === 'string') args.push('--pmsg-fifo', options.pmsgFifo)
  if (options.exactNames) args.push('--exact-names')
  if (options.systemMap) args.push('--system-map', options.systemMap)
  await startDaemon(args, abs)
  const fifo = typeof options.pmsgFifo === 'string' ? options.pmsgFifo : defaultFifoPath(abs)
  return {
    mountpoint: abs,
    image: path.resolve(image),
    fifo: fs.existsSync(fifo) ? fifo : undefined,
    reboot: async () => void (await send(abs, { op: 'reboot' })),
    panic: (p = {}) => send(abs, { op: 'panic', reason: p.reason ?? 'panic', logText: p.log, time: p.time, compress: p.compress, reboot: p.reboot }),
    console: async (text) => void (await send(abs, { op: 'console', text })),
    pmsg: async (data) => void (await send(abs, { op: 'pmsg', dataBase64: Buffer.from(data).toString('base64') })),
    ftrace: async (calls) =>
      void (await send(abs, { op: 'ftrace', calls: calls.map((c) => ({ cpu: c.cpu, ip: '0x' + c.ip.toString(16), parentIp: '0x' + c.parentIp.toString(16) })) })),
    unmount: () => unmount(abs),
  }
}

export { unmount }
