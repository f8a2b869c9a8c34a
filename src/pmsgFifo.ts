/**
 * A named pipe that behaves like /dev/pmsg0 (mode 0220, write only): every byte written to it is
 * appended to the pmsg zone, in the image before the next read of the pipe. FIFOs inside a FUSE
 * mount never reach the daemon, so the pipe lives beside the mountpoint.
 *
 * Writes of at most PIPE_BUF (4096) bytes are atomic in a pipe; pmsg has no framing, so how the
 * kernel splits the stream into reads does not change the bytes that land in the ring.
 */
import fs from 'node:fs'
import net from 'node:net'
import { execFile } from 'node:child_process'
import { PstoreSimError } from './errors.js'

export function defaultFifoPath(mountpoint: string): string {
  return `${mountpoint.replace(/\/+$/, '')}.pmsg0`
}

export class PmsgFifo {
  private socket: net.Socket | undefined
  private fd: number | undefined

  private constructor(readonly path: string) {}

  /**
   * Creates the pipe, replacing a stale pipe or symlink (never following it); refuses to
   * replace anything else.
   */
  static async create(path: string, onData: (chunk: Buffer) => void): Promise<PmsgFifo> {
    let existing: fs.Stats | undefined
    try {
      existing = fs.lstatSync(path)
    } catch {
      existing = undefined
    }
    if (existing) {
      if (existing.isFIFO() || existing.isSymbolicLink()) fs.unlinkSync(path)
      else throw new PstoreSimError(`${path}: exists and is not a FIFO; remove it or choose another --pmsg-fifo`)
    }
    // Node has no mkfifo(3); the tool runs while the daemon does other start-up work.
    await new Promise<void>((resolve, reject) =>
      execFile('mkfifo', ['-m', '0220', path], (err, _out, stderr) => (err ? reject(new PstoreSimError(`${path}: mkfifo failed: ${stderr.trim() || err.message}`)) : resolve())),
    )
    const fifo = new PmsgFifo(path)
    // O_RDWR keeps a writer open ourselves, so the pipe never reports EOF between clients.
    fifo.fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW)
    fifo.socket = new net.Socket({ fd: fifo.fd, readable: true, writable: false })
    fifo.socket.on('data', onData)
    fifo.socket.on('error', () => undefined)
    return fifo
  }

  close(): void {
    this.socket?.destroy()
    this.socket = undefined
    this.fd = undefined
    try {
      if (fs.lstatSync(this.path).isFIFO()) fs.unlinkSync(this.path)
    } catch {
      /* already gone */
    }
  }
}
