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
import { send, startDaemon, unmount } from './daemon/client.js'
import { formatImage as createImage } from './machine/simulation.js'
import type { SetupOverrides } from './machine/imageSetup.js'
import { DumpReason } from './pstore/kmsgDumper.js'
import { defaultFifoPath } from './daemon/pmsgFifo.js'

export * from './backend/ramoops/config.js'
export * from './backend/ramoops/layout.js'
export { KMSG_DUMP } from './pstore/record.js'
export { Ramoops } from './backend/ramoops/ramoops.js'
export { RegionImage, ImageError } from './format/region.js'
export { SimulatedMachine } from './machine/machine.js'
export { Simulation } from './machine/simulation.js'
export { inspectImage } from './machine/inspect.js'
export { SymbolTable } from './pstore/symbols.js'
export { ReedSolomon, reedSolomon } from './format/reedSolomon.js'
export type { PstoreRecord } from './pstore/record.js'

/** A setup as the CLI's setup flags give it: module parameters, a command line or a .dts file, and the target. */
export type ImageSetup = SetupOverrides

export async function formatImage(image: string, setup: ImageSetup, options: { force?: boolean } = {}): Promise<void> {
  createImage(image, setup, options)
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
  const { readOnly, kmsgBytes, pmsgFifo, exactNames, systemMap, ...setup } = options
  await startDaemon({ image: path.resolve(image), mountpoint: abs, overrides: setup, readOnly, kmsgBytes, pmsgFifo, exactNames, systemMap })
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
