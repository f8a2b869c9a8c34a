/**
 * The backing image: the reserved RAM region, byte for byte, held in memory.
 *
 * Read-write images get every change written through to the file at the end of each operation
 * (`flush()`), as a kernel's stores land in RAM. Read-only images (dumps taken from boards are
 * evidence) are changed in memory only; their file is never opened for writing.
 */
import fs from 'node:fs'
import { PstoreSimError } from './errors.js'

export class ImageError extends PstoreSimError {
  override name = 'ImageError'
}

export class RegionImage {
  private dirty: Array<[number, number]> = []
  private fd: number | undefined

  private constructor(
    readonly bytes: Buffer,
    readonly readOnly: boolean,
    readonly path: string | undefined,
  ) {}

  /** An in-memory region (tests, `inspect`, simulations without a file). */
  static fromBuffer(bytes: Buffer, readOnly = false): RegionImage {
    return new RegionImage(bytes, readOnly, undefined)
  }

  static open(path: string, options: { readOnly: boolean; expectedSize: number }): RegionImage {
    let stat: fs.Stats
    try {
      stat = fs.statSync(path)
    } catch (err) {
      throw new ImageError(`${path}: cannot open the image: ${(err as Error).message}`)
    }
    if (!stat.isFile()) throw new ImageError(`${path}: not a regular file`)
    if (stat.size !== options.expectedSize) {
      const relation = stat.size < options.expectedSize ? 'shorter' : 'longer'
      throw new ImageError(
        `${path}: image is ${stat.size} bytes, ${relation} than mem_size ${options.expectedSize} (0x${options.expectedSize.toString(16)}): ` +
          `give the setup the region was dumped with (--mem-size, --cmdline or --dts)`,
      )
    }
    const bytes = fs.readFileSync(path)
    return new RegionImage(bytes, options.readOnly, path)
  }

  get size(): number {
    return this.bytes.length
  }

  u32(offset: number): number {
    return this.bytes.readUInt32LE(offset)
  }

  i32(offset: number): number {
    return this.bytes.readInt32LE(offset)
  }

  write(offset: number, data: Uint8Array): void {
    if (offset < 0 || offset + data.length > this.bytes.length) {
      throw new RangeError(`write of ${data.length} bytes at ${offset} is outside the ${this.bytes.length}-byte region`)
    }
    this.bytes.set(data, offset)
    this.markDirty(offset, data.length)
  }

  writeU32(offset: number, value: number): void {
    this.bytes.writeUInt32LE(value >>> 0, offset)
    this.markDirty(offset, 4)
  }

  writeI32(offset: number, value: number): void {
    this.bytes.writeInt32LE(value | 0, offset)
    this.markDirty(offset, 4)
  }

  /** Bytes changed in place through `bytes` (e.g. by the ECC decoder) must be reported here. */
  markDirty(offset: number, length: number): void {
    if (this.readOnly || !this.path || length <= 0) return
    const last = this.dirty[this.dirty.length - 1]
    if (last && offset <= last[0] + last[1] && offset + length >= last[0]) {
      const start = Math.min(last[0], offset)
      last[1] = Math.max(last[0] + last[1], offset + length) - start
      last[0] = start
    } else {
      this.dirty.push([offset, length])
    }
  }

  /**
   * Writes every changed range to the file (read-write images only). A plain write() is enough
   * for other processes to see the bytes; no fsync, as RAM has none either.
   */
  flush(): void {
    if (this.readOnly || !this.path || this.dirty.length === 0) return
    this.fd ??= fs.openSync(this.path, 'r+')
    for (const [offset, length] of this.dirty) fs.writeSync(this.fd, this.bytes, offset, length, offset)
    this.dirty = []
  }

  close(): void {
    this.flush()
    if (this.fd !== undefined) fs.closeSync(this.fd)
    this.fd = undefined
  }
}
