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
import { PstoreSimError } from '../util/errors.js'

export function defaultFifoPath(mountpoint: string): string {
  return `${mountpoint.replace(/\/+$/, '')}.pmsg0`
}

/** Native helpers of the patched fuse-native (patch level 3), when the daemon has them. */
export interface PipeTools {
  mkfifo(path: string, mode: number): void
  setPipeSize(fd: number, size: number): number
}

/**
 * Bytes the pipe holds while the daemon is busy (the kernel default is 64 KiB): each wake-up of
 * the reader then takes up to this much at once, and a writer blocks less often.
 */
const PIPE_CAPACITY = 1 << 20

export class PmsgFifo {
  private socket: net.Socket | undefined
  private fd: number | undefined

  private constructor(readonly path: string) {}

  /**
   * Creates the pipe, replacing a stale pipe or symlink (never following it); refuses to
   * replace anything else.
   */
  static async create(path: string, onData: (chunk: Buffer) => void, tools?: PipeTools): Promise<PmsgFifo> {
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
    await makeFifo(path, tools)
    const fifo = new PmsgFifo(path)
    // O_RDWR keeps a writer open ourselves, so the pipe never reports EOF between clients.
    fifo.fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW)
    fs.fchmodSync(fifo.fd, 0o220) // owner-readable until opened: a daemon not run by root opens it too
    let readSize = 64 * 1024
    try {
      if (tools) readSize = tools.setPipeSize(fifo.fd, PIPE_CAPACITY)
    } catch {
      // above /proc/sys/fs/pipe-max-size for this user: the default pipe still works
    }
    // One buffer for every read, handed on as a view: onData copies what it keeps (the pmsg zone
    // is a ring in the region). 'data' events would allocate a Buffer per read: 4x slower.
    const buffer = Buffer.allocUnsafe(readSize)
    fifo.socket = new net.Socket({
      fd: fifo.fd,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n: number) => {
          onData(buffer.subarray(0, n))
          return true
        },
      },
    } as net.SocketConstructorOpts & net.ConnectOpts) // Node takes onread here too; its types do not say so
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

/** mkfifo with mode 0620 exactly (not masked by the umask); 0220 once the daemon holds it open. */
async function makeFifo(path: string, tools: PipeTools | undefined): Promise<void> {
  if (tools) {
    try {
      tools.mkfifo(path, 0o620)
      fs.chmodSync(path, 0o620)
      return
    } catch (err) {
      throw new PstoreSimError(`${path}: mkfifo failed: ${(err as Error).message}`)
    }
  }
  // Node has no mkfifo(3): without the patched addon, the tool.
  await new Promise<void>((resolve, reject) =>
    execFile('mkfifo', ['-m', '0620', path], (err, _out, stderr) => (err ? reject(new PstoreSimError(`${path}: mkfifo failed: ${stderr.trim() || err.message}`)) : resolve())),
  )
}
