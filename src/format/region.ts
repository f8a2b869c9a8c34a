/**
 * The backing image: the reserved RAM region, byte for byte.
 *
 * A file-backed region is loaded lazily, in chunks: a boot reads only the zone headers and the
 * used bytes, so its cost follows the bytes in use, not mem_size. Reads of chunks not loaded yet
 * go straight to the file (their bytes there are still the region's: only loaded chunks are
 * ever changed or written back, but for a range lent to another writer, lendToFile); a chunk is
 * loaded before its first change.
 *
 * Read-write images get every change written through to the file at the end of each operation
 * (`flush()`), as a kernel's stores land in RAM. Read-only images (dumps taken from boards are
 * evidence) are changed in memory only; their file is never opened for writing.
 */
import fs from 'node:fs'
import { type ErrorFacts, PstoreSimError } from '../util/errors.js'

/** An image that is not there, or not the size its setup says (`facts`: for a front end's words). */
export class ImageError extends PstoreSimError {
  override name = 'ImageError'
  declare readonly facts?: ErrorFacts<ImageProblem>
}

/** `missing`: no file (param `image`); `sizeMismatch`: value is the setup's mem_size, detail says how the file differs. */
export type ImageProblem = 'missing' | 'sizeMismatch'

/** Load granularity: a page. */
const CHUNK_SIZE = 4096
/**
 * File reads of unloaded bytes go through a small window that is read ahead: a zone's header and
 * the start of its data then cost one read. Its bytes stay valid because unloaded chunks never
 * change in the file (but in a range lent to another writer, whose return drops the window).
 */
const READ_AHEAD_SIZE = 8192

export class RegionImage {
  private dirty: Array<[number, number]> = []
  private writeFd: number | undefined
  private readFd: number | undefined
  /** Per chunk, 1 while it is still only in the file; undefined once every chunk is in memory. */
  private unloaded: Uint8Array | undefined
  private unloadedCount = 0
  private readonly readAhead = Buffer.allocUnsafe(READ_AHEAD_SIZE)
  private readAheadStart = 0
  private readAheadEnd = 0
  private readonly wordScratch = Buffer.alloc(4)
  /** While set, flush() keeps the changes in memory (see holdWrites). */
  private held = false

  private constructor(
    /** Only the loaded chunks hold the region's bytes; the others are zero until loaded. */
    private readonly memory: Buffer,
    readonly readOnly: boolean,
    readonly path: string | undefined,
    readFd?: number,
  ) {
    if (readFd !== undefined) {
      this.readFd = readFd
      this.unloadedCount = Math.ceil(memory.length / CHUNK_SIZE)
      if (this.unloadedCount > 0) this.unloaded = new Uint8Array(this.unloadedCount).fill(1)
    }
  }

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
      const detail = `image is ${stat.size} bytes, ${relation} than mem_size ${options.expectedSize} (0x${options.expectedSize.toString(16)})`
      const facts = { problem: 'sizeMismatch', subject: path, param: 'params.mem_size', value: options.expectedSize, detail } as const
      throw new ImageError(`${path}: ${detail}: give the setup the region was dumped with (params.mem_size, cmdline or dtsFile)`, facts)
    }
    // Zero-filled pages cost nothing until touched: only the chunks loaded later are.
    return new RegionImage(Buffer.alloc(stat.size), options.readOnly, path, fs.openSync(path, 'r'))
  }

  /** The whole region, every chunk loaded (tools and tests; the engine reads ranges). */
  get bytes(): Buffer {
    this.load(0, this.memory.length)
    return this.memory
  }

  get size(): number {
    return this.memory.length
  }

  u32(offset: number): number {
    if (!this.unloaded) return this.memory.readUInt32LE(offset)
    this.copy(offset, 4, this.wordScratch)
    return this.wordScratch.readUInt32LE(0)
  }

  i32(offset: number): number {
    if (!this.unloaded) return this.memory.readInt32LE(offset)
    this.copy(offset, 4, this.wordScratch)
    return this.wordScratch.readInt32LE(0)
  }

  /** Copies `length` region bytes at `offset` into `target`, loading nothing. */
  copy(offset: number, length: number, target: Uint8Array, targetOffset = 0): void {
    this.checkRange('read', offset, length)
    const unloaded = this.unloaded
    if (!unloaded) {
      target.set(this.memory.subarray(offset, offset + length), targetOffset)
      return
    }
    const end = offset + length
    let at = offset
    while (at < end) {
      // One run of chunks that are all loaded or all unloaded.
      const state = unloaded[Math.floor(at / CHUNK_SIZE)]
      let runEnd = (Math.floor(at / CHUNK_SIZE) + 1) * CHUNK_SIZE
      while (runEnd < end && unloaded[runEnd / CHUNK_SIZE] === state) runEnd += CHUNK_SIZE
      runEnd = Math.min(runEnd, end)
      const into = targetOffset + (at - offset)
      if (state) this.readFile(at, runEnd - at, target, into)
      else target.set(this.memory.subarray(at, runEnd), into)
      at = runEnd
    }
  }

  /** The region's bytes at `offset`, live: changes made through it must be reported with markDirty(). */
  view(offset: number, length: number): Buffer {
    this.load(offset, length)
    return this.memory.subarray(offset, offset + length)
  }

  /** Reads the file's chunks in [offset, offset + length) into memory, once (one read per run). */
  load(offset: number, length: number): void {
    const unloaded = this.unloaded
    if (!unloaded || length <= 0) return
    const end = Math.floor((Math.min(offset + length, this.memory.length) - 1) / CHUNK_SIZE) + 1
    let chunk = Math.max(0, Math.floor(offset / CHUNK_SIZE))
    while (chunk < end) {
      if (!unloaded[chunk]) {
        chunk++
        continue
      }
      // One read for every run of unloaded chunks.
      let runEnd = chunk + 1
      while (runEnd < end && unloaded[runEnd]) runEnd++
      const start = chunk * CHUNK_SIZE
      this.readFully(start, Math.min(runEnd * CHUNK_SIZE, this.memory.length) - start, this.memory, start)
      this.markLoaded(chunk, runEnd)
      chunk = runEnd
    }
  }

  /** Chunks [first, end) hold the region's bytes in memory from now on. */
  private markLoaded(first: number, end: number): void {
    const unloaded = this.unloaded
    if (!unloaded) return
    for (let chunk = first; chunk < end; chunk++) this.unloadedCount -= unloaded[chunk]
    unloaded.fill(0, first, end)
    if (this.unloadedCount === 0) this.unloaded = undefined
  }

  write(offset: number, data: Uint8Array): void {
    this.checkRange('write', offset, data.length)
    this.loadAround(offset, data.length)
    this.memory.set(data, offset)
    this.markDirty(offset, data.length)
  }

  /**
   * Before a write of [offset, offset + length): loads only the chunks it covers in part. The
   * chunks it covers whole are about to be overwritten: reading them first would be wasted (a
   * 64 MiB stream into the pmsg ring read as much as it wrote).
   */
  private loadAround(offset: number, length: number): void {
    if (!this.unloaded || length <= 0) return
    const firstWhole = Math.ceil(offset / CHUNK_SIZE)
    const end = offset + length
    const endWhole = end === this.memory.length ? Math.ceil(end / CHUNK_SIZE) : Math.floor(end / CHUNK_SIZE)
    if (endWhole <= firstWhole) return this.load(offset, length)
    this.load(offset, firstWhole * CHUNK_SIZE - offset)
    this.load(endWhole * CHUNK_SIZE, end - endWhole * CHUNK_SIZE)
    this.markLoaded(firstWhole, endWhole)
  }

  writeU32(offset: number, value: number): void {
    this.load(offset, 4)
    this.memory.writeUInt32LE(value >>> 0, offset)
    this.markDirty(offset, 4)
  }

  writeI32(offset: number, value: number): void {
    this.load(offset, 4)
    this.memory.writeInt32LE(value | 0, offset)
    this.markDirty(offset, 4)
  }

  /** Bytes changed in place through `view()` or `bytes` (e.g. by the ECC decoder) must be reported here. */
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
    if (this.readOnly || !this.path || this.dirty.length === 0 || this.held) return
    this.writeFd ??= fs.openSync(this.path, 'r+')
    for (const [offset, length] of this.dirty) fs.writeSync(this.writeFd, this.memory, offset, length, offset)
    this.dirty = []
  }

  /** Whether another writer may change the file's bytes (lendToFile): a read-write file, no held changes. */
  get lendable(): boolean {
    return !this.readOnly && this.path !== undefined && !this.held
  }

  /**
   * Lends [offset, offset + length) to a writer that changes the file directly (the daemon's
   * pmsg pump): every change so far is written, and the range's chunks are read from the file
   * again from now on. Called again once the writer has stopped (its bytes are then read
   * fresh); the range must not be touched in between. Returns the file, open for writing.
   */
  lendToFile(offset: number, length: number): number {
    this.reloadFromFile(offset, length)
    this.writeFd ??= fs.openSync(this.path!, 'r+')
    return this.writeFd
  }

  /** Writes every change, then reads [offset, offset + length) from the file again (another writer changed it). */
  reloadFromFile(offset: number, length: number): void {
    this.checkRange('reload', offset, length)
    // memory is the only copy of a read-only or held region's changes: they must not be dropped
    if (!this.lendable) throw new Error('the region is read-only, in memory, or holding writes: its file is not the truth')
    if (length <= 0) return
    this.flush()
    const chunks = Math.ceil(this.memory.length / CHUNK_SIZE)
    this.unloaded ??= new Uint8Array(chunks)
    const end = Math.floor((offset + length - 1) / CHUNK_SIZE) + 1
    for (let chunk = Math.floor(offset / CHUNK_SIZE); chunk < end; chunk++) {
      this.unloadedCount += 1 - this.unloaded[chunk]!
      this.unloaded[chunk] = 1
    }
    // the window's bytes were read before the other writer's
    this.readAheadStart = this.readAheadEnd = 0
  }

  /** From now on changes stay in memory until commitHeld() writes them or discardHeld() drops them. */
  holdWrites(): void {
    this.held = true
  }

  /**
   * Writes the held changes and returns an undo that puts the file's bytes back as they were.
   * A failed write (a full disk) puts back what was written and throws.
   */
  commitHeld(): () => void {
    this.held = false
    if (this.readOnly || !this.path || this.dirty.length === 0) return () => undefined
    const before: Array<[number, Buffer]> = []
    const undo = () => {
      for (const [offset, bytes] of before.reverse()) fs.writeSync(this.writeFd!, bytes, 0, bytes.length, offset)
    }
    this.writeFd ??= fs.openSync(this.path, 'r+')
    try {
      for (const [offset, length] of this.dirty) {
        const old = Buffer.alloc(length)
        this.readFully(offset, length, old, 0)
        before.push([offset, old])
        fs.writeSync(this.writeFd, this.memory, offset, length, offset)
      }
    } catch (err) {
      undo()
      this.held = true
      throw err
    }
    this.dirty = []
    return undo
  }

  /** Forgets the held changes: the file keeps its bytes. */
  discardHeld(): void {
    this.dirty = []
    this.held = false
    this.close()
  }

  close(): void {
    this.flush()
    if (this.writeFd !== undefined) fs.closeSync(this.writeFd)
    this.writeFd = undefined
    if (this.readFd !== undefined) fs.closeSync(this.readFd)
    this.readFd = undefined
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (offset < 0 || offset + length > this.memory.length) {
      throw new RangeError(`${what} of ${length} bytes at ${offset} is outside the ${this.memory.length}-byte region`)
    }
  }

  /** File bytes of unloaded chunks, through the read-ahead window when they fit in it. */
  private readFile(offset: number, length: number, target: Uint8Array, targetOffset: number): void {
    if (length > READ_AHEAD_SIZE) {
      this.readFully(offset, length, target, targetOffset)
      return
    }
    if (offset < this.readAheadStart || offset + length > this.readAheadEnd) {
      this.readAheadStart = offset
      this.readAheadEnd = Math.min(offset + READ_AHEAD_SIZE, this.memory.length)
      this.readFully(offset, this.readAheadEnd - offset, this.readAhead, 0)
    }
    target.set(this.readAhead.subarray(offset - this.readAheadStart, offset - this.readAheadStart + length), targetOffset)
  }

  private readFully(offset: number, length: number, target: Uint8Array, targetOffset: number): void {
    this.readFd ??= fs.openSync(this.path!, 'r')
    for (let done = 0; done < length; ) {
      const n = fs.readSync(this.readFd, target, targetOffset + done, length - done, offset + done)
      if (n === 0) throw new ImageError(`${this.path}: the image shrank while in use (no bytes at ${offset + done})`)
      done += n
    }
  }
}
