/**
 * A named pipe that behaves like /dev/pmsg0 (mode 0220, write only): every byte written to it is
 * appended to the pmsg zone, in the image before the next read of the pipe, and every byte a
 * write() was acknowledged for is in the image before the daemon stops (see close()). FIFOs inside a FUSE
 * mount never reach the daemon, so the pipe lives beside the mountpoint.
 *
 * Two ways to store what arrives. Where the machine can lend its pmsg ring (ramoops without ECC:
 * the ring holds the bytes verbatim), a native thread (native/sys.c's ring pump) splices
 * the pipe into the ring in the image file: the bytes never pass through JS (reading them into
 * JS, copying them into the region and writing it out was 0.2x the speed of `cat > file` on
 * tmpfs). Every event the daemon runs holds that pump first (hold()): it stops, the ring is
 * read from the file again and JS stores what is still in the pipe, so the event comes after
 * every byte writers were told is written and has the ring to itself. Otherwise (ECC, pstore/blk,
 * PSTORE_SIM_PMSG_PUMP=0) JS reads the pipe and hands each read to onData.
 *
 * Writes of at most PIPE_BUF (4096) bytes are atomic in a pipe; pmsg has no framing, so how the
 * kernel splits the stream into reads does not change the bytes that land in the ring (the
 * pump's moves are writes of at most the ring's room to its end, as persistent_ram_write()
 * leaves them).
 */

import fs from 'node:fs'
import net from 'node:net'
import nodePath from 'node:path'
import type { LentRing } from '../backend/backend.js'
import { type ErrorFacts, PstoreSimError } from '../util/errors.js'
import type { RingPump, RingPumpSpec } from '../util/fuseNative.js'
import { logger } from '../util/log.js'

const debug = logger('pmsg')

export function defaultFifoPath(mountpoint: string): string {
  return `${mountpoint.replace(/\/+$/, '')}.pmsg0`
}

/** The system calls of the native layer (native/sys.c) the FIFO needs. */
export interface PipeTools {
  mkfifo(path: string, mode: number): void
  setPipeSize(fd: number, size: number): number
  pipeBytes(fd: number): number
  startRingPump(spec: RingPumpSpec): RingPump
}

/** The machine's pmsg ring, lent to the pump while no event runs (SimulatedMachine.lendPmsgRing). */
export interface RingLender {
  /** The ring to write, or 'drop': what arrives now is dropped, as pmsg() would store nothing. */
  lend(): LentRing | 'drop'
  /** The pump has stopped: the ring is read from the file again. */
  reclaim(): void
}

/**
 * The pipe's capacity, and so what a kill -9 of the daemon can lose: the bytes writers have
 * been told are written but the daemon has not stored yet (every clean stop drains them). 256
 * KiB: with the pump, the kernel's default 64 KiB kept `cat` waiting on the pipe (the bench's
 * quick runs: 0.56x tmpfs with 64 KiB, 0.96x with 256 KiB, 0.77x with 1 MiB).
 */
export const PIPE_CAPACITY = 256 * 1024

/**
 * The most a kill -9 can lose: what is in the pipe, and the one move the pump (or the JS
 * reader) had taken out of it but not yet stored in the ring's header, at most a pipe-full.
 */
export const KILL_LOSS_BOUND = 2 * PIPE_CAPACITY

/** Passes at most this many times through a pipe that writers keep filling after EPIPE. */
const MAX_DRAIN_PASSES = 100

const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants

/** What a new FIFO's path must satisfy, checked before a mount's boot changes anything. */
export function checkFifoPath(path: string): void {
  const dir = nodePath.dirname(path)
  let dirStat: fs.Stats
  try {
    dirStat = fs.statSync(dir)
  } catch (err) {
    throw new FifoError(path, `its directory ${dir} is not usable (${(err as NodeJS.ErrnoException).code})`)
  }
  if (!dirStat.isDirectory()) throw new FifoError(path, `${dir} is not a directory`)
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
  } catch {
    throw new FifoError(path, `no permission to create it in ${dir}`)
  }
  const existing = lstatOrUndefined(path)
  if (existing && !existing.isFIFO() && !existing.isSymbolicLink()) throw new FifoError(path, 'exists and is not a FIFO')
}

/**
 * A FIFO path that cannot be used: `why` says why; the message speaks the JS API's language
 * (the `pmsgFifo` option) and the facts let the CLI name its flag.
 */
export class FifoError extends PstoreSimError {
  override name = 'FifoError'
  declare readonly facts: ErrorFacts<'fifo'> & { subject: string; detail: string }
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`${path}: ${why}: remove it or give another path as pmsgFifo (or pmsgFifo: false)`, {
      problem: 'fifo',
      subject: path,
      param: 'pmsgFifo',
      detail: why,
    })
  }
}

function lstatOrUndefined(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path)
  } catch {
    return undefined
  }
}

/**
 * Removes a FIFO a killed daemon left (or a symlink at its name, never followed). Writers
 * blocked in open() on it (a FIFO without a reader blocks them) are let through first: their
 * writes then fail with EPIPE instead of waiting for ever.
 */
export function removeStaleFifo(path: string): boolean {
  const existing = lstatOrUndefined(path)
  if (!existing || !(existing.isFIFO() || existing.isSymbolicLink())) return false
  let fd: number | undefined
  if (existing.isFIFO()) {
    try {
      fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW)
    } catch {
      fd = undefined // not ours to read (root's FIFO seen by a user): removing it is all we can do
    }
  }
  try {
    fs.unlinkSync(path)
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
  return true
}

export class PmsgFifo {
  private socket: net.Socket | undefined
  /** The read end the socket (or the pump) reads, O_RDONLY. */
  private readFd: number | undefined
  /** A write end of our own: the pipe never reports EOF between clients, and keeps its bytes at a stop. */
  private keepFd: number | undefined
  private readonly buffer: Buffer
  private ino = 0
  /** The pump's running thread, while no event holds it. */
  private pump: { thread: RingPump; lent: boolean } | undefined
  /** Events holding the pump; the first hold is the mount's, until begin(). */
  private holds = 1
  private closed = false

  private constructor(
    readonly path: string,
    private readonly onData: (chunk: Buffer) => void,
    private readonly tools: PipeTools,
    readSize: number,
    /** Set when a native pump stores the bytes; unset when JS reads them. */
    private lender: RingLender | undefined,
  ) {
    this.buffer = Buffer.allocUnsafe(readSize)
  }

  /** Whether a native pump stores the pipe's bytes (see the module's comment). */
  get pumped(): boolean {
    return this.lender !== undefined
  }

  /**
   * Creates the pipe, replacing a stale pipe or symlink (never following it); refuses to
   * replace anything else. Its mode is 0220 as /dev/pmsg0's (write only), set once the daemon
   * holds its own ends: an unprivileged daemon could not open a 0220 FIFO for reading. With a
   * `lender`, the bytes wait in the pipe until begin().
   */
  static async create(path: string, onData: (chunk: Buffer) => void, tools: PipeTools, lender?: RingLender): Promise<PmsgFifo> {
    checkFifoPath(path)
    removeStaleFifo(path)
    makeFifo(path, tools)
    const readFd = fs.openSync(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW)
    let keepFd: number | undefined
    try {
      const stat = fs.fstatSync(readFd)
      if (!stat.isFIFO()) throw new FifoError(path, 'was replaced by something else while it was created')
      keepFd = fs.openSync(`/proc/self/fd/${readFd}`, O_WRONLY | O_NONBLOCK) // the same pipe, not a name
      fs.fchmodSync(readFd, 0o220)
      let size = 64 * 1024
      try {
        size = tools.setPipeSize(readFd, PIPE_CAPACITY)
      } catch {
        // above /proc/sys/fs/pipe-max-size for this user: the default pipe still works
      }
      const fifo = new PmsgFifo(path, onData, tools, size, lender)
      fifo.readFd = readFd
      fifo.keepFd = keepFd
      fifo.ino = stat.ino
      if (!fifo.pumped) fifo.listen()
      return fifo
    } catch (err) {
      fs.closeSync(readFd)
      if (keepFd !== undefined) fs.closeSync(keepFd)
      fs.rmSync(path, { force: true })
      throw err
    }
  }

  /** Reads as data arrives. One buffer for every read, handed on as a view (onData copies). */
  private listen(): void {
    const buffer = this.buffer
    this.socket = new net.Socket({
      fd: this.readFd,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n: number) => {
          this.onData(buffer.subarray(0, n))
          return true
        },
      },
    } as net.SocketConstructorOpts & net.ConnectOpts) // Node takes onread here too; its types do not say so
    this.socket.on('error', () => undefined)
  }

  /** The mount is up (its boot written): the pump may start. */
  begin(): void {
    this.release()
  }

  /**
   * Before an event (a reboot, a panic, any write): stores every byte waiting in the pipe now,
   * so that the event comes after what writers were already told is written, and keeps the
   * pump stopped until the returned release is called, so that the event has the ring to itself.
   */
  hold(): () => void {
    this.holds++
    this.stopPump()
    this.drain()
    let released = false
    return () => {
      if (released) return
      released = true
      this.release()
    }
  }

  private release(): void {
    this.holds = Math.max(0, this.holds - 1)
    this.startPump()
  }

  private startPump(): void {
    const lender = this.lender
    const tools = this.tools
    if (!lender || this.closed || this.holds > 0 || this.pump || this.readFd === undefined) return
    let ring: LentRing | 'drop' | undefined
    try {
      ring = lender.lend()
      const spec = ring === 'drop' ? { fileFd: this.readFd, headerAt: 0, dataAt: 0, capacity: 1, start: 0, size: 0, discard: true } : ring
      this.pump = { thread: tools.startRingPump({ ...spec, pipeFd: this.readFd }), lent: ring !== 'drop' }
    } catch (err) {
      // no thread (or no ring: the image could not be written): JS reads the pipe from now on
      debug('the pmsg pump did not start (%s): reading the FIFO in JS', (err as Error).message)
      if (ring !== undefined && ring !== 'drop') lender.reclaim()
      this.lender = undefined
      this.listen()
    }
  }

  private stopPump(): void {
    const pump = this.pump
    if (!pump) return
    this.pump = undefined
    const result = pump.thread.stop()
    if (pump.lent) this.lender?.reclaim()
    if (result.errno) debug('pmsg pump: a write to the image failed (errno %d): what came after it was dropped', result.errno)
  }

  /** Stores every byte waiting in the pipe now, through onData (the pump stopped). Returns the bytes read. */
  private drain(): number {
    if (this.readFd === undefined) return 0
    // nothing waiting, the usual case before an event: no read (it would throw EAGAIN)
    if (this.tools.pipeBytes(this.readFd) === 0) return 0
    return this.drainFd(this.readFd)
  }

  private drainFd(fd: number): number {
    let total = 0
    for (;;) {
      let n: number
      try {
        n = fs.readSync(fd, this.buffer, 0, this.buffer.length, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return total
        throw err
      }
      if (n === 0) return total
      this.onData(this.buffer.subarray(0, n))
      total += n
    }
  }

  /**
   * A stop: nothing a writer was told is written is lost. The name goes first (no new
   * writers); then every read end is closed, so that from that instant a write fails with
   * EPIPE instead of being acknowledged; what is still in the pipe (kept by our write end) is
   * then read through a new read end, until the pipe is empty with no reader open.
   */
  close(): void {
    if (this.readFd === undefined) return
    this.closed = true
    const st = lstatOrUndefined(this.path)
    if (st?.isFIFO() && st.ino === this.ino) fs.unlinkSync(this.path)
    this.stopPump()
    this.drain()
    // closes readFd: the pipe has no reader now
    if (this.socket) this.socket.destroy()
    else fs.closeSync(this.readFd)
    this.socket = undefined
    this.readFd = undefined
    const keepFd = this.keepFd!
    try {
      fs.fchmodSync(keepFd, 0o600) // our own new read end (unprivileged: 0220 has no read bit)
      for (let pass = 0; pass < MAX_DRAIN_PASSES; pass++) {
        if (this.tools.pipeBytes(keepFd) === 0) break
        const fd = fs.openSync(`/proc/self/fd/${keepFd}`, O_RDONLY | O_NONBLOCK)
        try {
          this.drainFd(fd)
        } finally {
          fs.closeSync(fd)
        }
      }
    } finally {
      fs.closeSync(keepFd)
      this.keepFd = undefined
    }
  }
}

/** mkfifo, mode 0600 until the daemon holds its ends (not masked by the umask). */
function makeFifo(path: string, tools: PipeTools): void {
  try {
    tools.mkfifo(path, 0o600)
  } catch (err) {
    throw new FifoError(path, `mkfifo failed: ${(err as Error).message}`)
  }
}
