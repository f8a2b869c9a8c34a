/**
 * dmesg record compression as each kernel generation does it (docs/ramoops-format.md §6.3): pako deflates the
 * records a simulated kernel writes, Node's zlib inflates what a boot reads; 4.19–6.5 may use
 * another crypto API algorithm instead (pstore.compress=lzo|lz4|lz4hc|842|zstd: codecs/).
 * Only dmesg records are ever compressed. Inflation is capped so a corrupt or hostile stream
 * can never allocate more than the kernel's own output buffer.
 */

import { createRequire } from 'node:module'
import zlib from 'node:zlib'
import { isKernelSpace } from '../format/dmesgHeader.js'
import type { CompressAlgorithm, CompressionFlavour } from '../format/kernelVersion.js'
import { lz4CompressBlock, lz4CompressBound, lz4DecompressBlock } from './codecs/lz4.js'
import { lzoCompress, lzoDecompress, lzoWorstCompress } from './codecs/lzo.js'
import { sw842Compress, sw842Decompress } from './codecs/sw842.js'
import { zstdCompress, zstdCompressBound, zstdDecompress } from './codecs/zstd.js'
import { lazyPayloadRecord, type PstoreRecord } from './record.js'

/** The crypto API's other compressors (4.19–6.5): what each stores and reads, and its zbufsize(). */
interface OtherCodec {
  compress(input: Uint8Array): Uint8Array
  decompress(input: Uint8Array, limit: number): { ok: true; data: Uint8Array } | { ok: false; reason: string }
  zbufsize(bufsize: number): number
}

/** lz4hc: a raw block at level 9, read by the same LZ4_decompress_safe as lz4 (so each reads the other's). */
const LZ4HC_DEPTH = 256

const OTHER_CODECS: Record<Exclude<CompressAlgorithm, 'deflate'>, OtherCodec> = {
  lzo: { compress: lzoCompress, decompress: lzoDecompress, zbufsize: lzoWorstCompress },
  lz4: { compress: (i) => lz4CompressBlock(i), decompress: lz4DecompressBlock, zbufsize: lz4CompressBound },
  lz4hc: { compress: (i) => lz4CompressBlock(i, LZ4HC_DEPTH), decompress: lz4DecompressBlock, zbufsize: lz4CompressBound },
  '842': { compress: sw842Compress, decompress: sw842Decompress, zbufsize: (size) => size },
  zstd: { compress: zstdCompress, decompress: zstdDecompress, zbufsize: zstdCompressBound },
}

// pako loads on first use (the first compressed record), not at every CLI start.
const require = createRequire(import.meta.url)
let pako: typeof import('pako') | undefined

/** zlib's Z_BUF_ERROR: the input ended before the final block. */
const Z_BUF_ERROR = -5

/** BFINAL 0, BTYPE 00 (stored), LEN 0, NLEN 0xFFFF. */
const EMPTY_STORED_BLOCK = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])

/** crypto-API era scratch buffer: bufsize·100/ratio, ratio by bufsize (zbufsize_deflate). */
function cryptoScratchSize(bufsize: number): number {
  const ratio =
    bufsize >= 1000 && bufsize <= 2000
      ? 56
      : bufsize <= 3000 && bufsize > 2000
        ? 54
        : bufsize <= 3999 && bufsize > 3000
          ? 52
          : bufsize >= 4000 && bufsize <= 10000
            ? 45
            : 60
  return Math.floor((bufsize * 100) / ratio)
}

/** Size of the dumper's scratch buffer (big_oops_buf_sz: the largest text a record can be built from). */
export function scratchBufferSize(flavour: CompressionFlavour, bufsize: number, algorithm: CompressAlgorithm = 'deflate'): number {
  if (algorithm !== 'deflate') return OTHER_CODECS[algorithm].zbufsize(bufsize)
  return flavour === 'zlib-raw-15' ? Math.floor((bufsize * 100) / 60) : cryptoScratchSize(bufsize)
}

/** The largest inflated size the kernel accepts when reading a record back. */
export function inflateLimit(flavour: CompressionFlavour, bufsize: number, algorithm: CompressAlgorithm = 'deflate'): number {
  if (algorithm !== 'deflate') return OTHER_CODECS[algorithm].zbufsize(bufsize)
  return flavour === 'zlib-raw-15' ? 3 * bufsize : cryptoScratchSize(bufsize)
}

function streamOptions(flavour: CompressionFlavour): { raw: boolean; windowBits: number; memLevel: number } {
  switch (flavour) {
    case 'zlib-raw-15':
      return { raw: true, windowBits: 15, memLevel: 8 }
    case 'crypto-deflate-11':
      return { raw: true, windowBits: 11, memLevel: 8 }
    case 'zlib-wrapped-12':
      return { raw: false, windowBits: 12, memLevel: 4 }
  }
}

/**
 * Compresses into at most `outputLimit` bytes, or returns undefined when the kernel's deflate
 * would fail (output does not fit; for the oldest kernels also "not smaller than the input").
 * Writers use window bits ≤ 11 where the target allows, so that any kernel from 4.17 on can read it,
 * unless `kernelExact` asks for the kernel's own stream (its window, no leading stored block).
 */
export function compress(
  flavour: CompressionFlavour,
  input: Uint8Array,
  outputLimit: number,
  algorithm: CompressAlgorithm = 'deflate',
  kernelExact = false,
): Buffer | undefined {
  if (algorithm !== 'deflate') {
    // every crypto compressor is handed the backend's buffer as its output: one that does not fit fails (lzo, 842: -EINVAL, -ENOSPC)
    const out = OTHER_CODECS[algorithm].compress(input)
    return out.length > outputLimit ? undefined : Buffer.from(out)
  }
  const { raw, windowBits, memLevel } = streamOptions(flavour)
  pako ??= require('pako') as typeof import('pako')
  // kernelExact (efi-pstore: the bytes are compared with the kernel's own): the kernel's window as it is
  const window = kernelExact ? windowBits : Math.min(windowBits, flavour === 'zlib-raw-15' ? 11 : windowBits)
  // legacyHash: zlib's own hash chain (pako 3 defaults to a faster hash that finds other matches; the kernel's lib/zlib is zlib's)
  const deflater = new pako.Deflate({ raw, level: 6, windowBits: window, memLevel, ...(kernelExact ? { legacyHash: true } : {}) })
  deflater.push(input, true)
  if (deflater.err) return undefined
  let out = Buffer.from(deflater.result as Uint8Array)
  // The reader's header parser swallows leading white space (a short text often deflates to a
  // first byte of 0x0B or 0x0D): start such a stream with an empty stored block, valid for
  // every inflater, so the record stays readable.
  if (raw && !kernelExact && isKernelSpace(out[0])) out = Buffer.concat([EMPTY_STORED_BLOCK, out])
  if (out.length > outputLimit) return undefined
  if (flavour === 'zlib-wrapped-12' && out.length >= input.length) return undefined
  return out
}

export type InflateResult = { ok: true; data: Buffer } | { ok: false; reason: string }
/** An inflation done only for its outcome: the size the text has. */
export type InflateCheck = { ok: true; size: number } | { ok: false; reason: string }

/**
 * Node's zlib through one long-lived handle per stream format, reset after every record.
 * `zlib.inflateRawSync()` creates a handle per call and, when the stream fails, never frees
 * it (its zlib state and output buffer, ~11 KB, are never collected: 10,000 corrupt records
 * cost ~117 MB, and a daemon re-reading corrupt records at every reboot grew without bound).
 * A reused handle allocates nothing per record. This uses the handle's internal `writeSync`/
 * `reset` (stable since Node 10); where they are missing, pako (plain JS, ~4.5x slower).
 */
interface NativeInflater {
  handle: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void
    reset(): void
    onerror: (message: string, errno: number) => void
  }
  state: Uint32Array
  error: string | undefined
}

const nativeInflaters = new Map<string, NativeInflater | null>()
/** One output buffer per size: the kernel's buffer (limit + 1 bytes tells an overflow). */
const outputBuffers = new Map<number, Buffer>()

function nativeInflater(raw: boolean, windowBits: number): NativeInflater | null {
  const key = `${raw}:${windowBits}`
  let inflater = nativeInflaters.get(key)
  if (inflater === undefined) {
    const stream = (raw ? zlib.createInflateRaw({ windowBits }) : zlib.createInflate({ windowBits })) as unknown as {
      _handle?: NativeInflater['handle']
      _writeState?: Uint32Array
    }
    const handle = stream._handle
    const state = stream._writeState
    inflater =
      handle && typeof handle.writeSync === 'function' && typeof handle.reset === 'function' && state instanceof Uint32Array
        ? { handle, state, error: undefined }
        : null
    if (inflater && handle) {
      const self = inflater
      handle.onerror = (message) => {
        self.error = message
      }
    }
    nativeInflaters.set(key, inflater)
  }
  return inflater
}

function inflateNative(inflater: NativeInflater, input: Uint8Array, limit: number, keep: true): InflateResult
function inflateNative(inflater: NativeInflater, input: Uint8Array, limit: number, keep: false): InflateCheck
function inflateNative(inflater: NativeInflater, input: Uint8Array, limit: number, keep: boolean): InflateResult | InflateCheck {
  let out = outputBuffers.get(limit)
  if (!out) {
    if (outputBuffers.size > 16) outputBuffers.clear() // a few setups per process; never a pile
    out = Buffer.allocUnsafe(limit + 1)
    outputBuffers.set(limit, out)
  }
  inflater.error = undefined
  try {
    inflater.handle.writeSync(zlib.constants.Z_FINISH, input, 0, input.length, out, 0, out.length)
    const produced = out.length - inflater.state[0]
    if (inflater.error !== undefined) {
      const truncated = /unexpected end of file/.test(inflater.error)
      return { ok: false, reason: truncated ? 'compressed stream is truncated (no final block)' : inflater.error }
    }
    if (produced > limit) return { ok: false, reason: `inflated data exceeds the kernel's ${limit}-byte buffer` }
    if (!keep) return { ok: true, size: produced }
    // A right-sized copy: the output buffer has the kernel's size (often 4x the text) and is reused.
    return { ok: true, data: Buffer.from(out.subarray(0, produced)) }
  } finally {
    inflater.handle.reset()
  }
}

/** Thrown from the output callback to stop a stream at the kernel's buffer size. */
class OutputLimit extends Error {}

/**
 * Inflates as the target kernel would; failure means the file stays `.enc.z`. One output
 * buffer for the whole stream, as the kernel inflates in a single call: zlib then accepts any
 * distance back into this call's output, beyond the window (inffast.c). The output is capped
 * at the kernel's buffer, so no stream can allocate more.
 */
export function decompress(flavour: CompressionFlavour, input: Uint8Array, limit: number, algorithm: CompressAlgorithm = 'deflate'): InflateResult {
  if (algorithm !== 'deflate') {
    const result = OTHER_CODECS[algorithm].decompress(input, Math.max(1, limit))
    return result.ok ? { ok: true, data: Buffer.from(result.data.buffer, result.data.byteOffset, result.data.length) } : result
  }
  const { raw, windowBits } = streamOptions(flavour)
  const native = nativeInflater(raw, windowBits)
  if (native) return inflateNative(native, input, Math.max(1, limit), true)
  return inflatePako(raw, windowBits, input, limit)
}

/** As decompress(), for the size only: the text goes to the reused output buffer and no further. */
export function inflatedSize(flavour: CompressionFlavour, input: Uint8Array, limit: number, algorithm: CompressAlgorithm = 'deflate'): InflateCheck {
  if (algorithm !== 'deflate') {
    const result = decompress(flavour, input, limit, algorithm)
    return result.ok ? { ok: true, size: result.data.length } : result
  }
  const { raw, windowBits } = streamOptions(flavour)
  const native = nativeInflater(raw, windowBits)
  if (native) return inflateNative(native, input, Math.max(1, limit), false)
  const result = inflatePako(raw, windowBits, input, limit)
  return result.ok ? { ok: true, size: result.data.length } : result
}

/**
 * decompress_record() in the pstore core, for every backend: a compressed dmesg record becomes
 * its text, or stays compressed (`….enc.z`) with the reason. The kernel inflates every record
 * at boot and keeps the text; here a boot inflates each record once for its size and again when
 * its file is first read, so that a region of 8,000 records does not make (and page in) 187 MB
 * of text nobody may read. `record.payload` is inflated again later, so it must not change:
 * a backend whose buffer a later event rewrites hands over a copy.
 */
export function inflateRecord(
  record: PstoreRecord,
  flavour: CompressionFlavour,
  limit: number,
  compressionOn: boolean,
  algorithm: CompressAlgorithm = 'deflate',
): PstoreRecord {
  if (!record.compressed || record.type !== 'dmesg') return record
  if (!compressionOn) return { ...record, inflateError: 'compression is off (pstore.compress=none)' }
  const checked = inflatedSize(flavour, record.payload, limit, algorithm)
  if (!checked.ok) return { ...record, inflateError: checked.reason }
  const { payload: compressed, payloadLength: _, ...fields } = record
  return lazyPayloadRecord({ ...fields, compressed: false, inflatedWith: algorithm }, checked.size, () => {
    const result = decompress(flavour, compressed, limit, algorithm)
    // The same bytes inflated the same way: only a broken zlib could fail here.
    if (!result.ok || result.data.length !== checked.size) throw new Error(`record ${record.type}-${record.id}: inflating it again gave another result`)
    return result.data
  })
}

function inflatePako(raw: boolean, windowBits: number, input: Uint8Array, limit: number): InflateResult {
  pako ??= require('pako') as typeof import('pako')
  const inflater = new pako.Inflate({ raw, windowBits, chunkSize: Math.max(64, limit + 1) })
  const chunks: Uint8Array[] = []
  let total = 0
  inflater.onData = (chunk: Uint8Array) => {
    total += chunk.length
    if (total > limit) throw new OutputLimit()
    chunks.push(chunk)
  }
  inflater.onEnd = () => undefined
  try {
    inflater.push(input, true)
  } catch (err) {
    if (err instanceof OutputLimit) return { ok: false, reason: `inflated data exceeds the kernel's ${limit}-byte buffer` }
    throw err
  }
  if (inflater.err === Z_BUF_ERROR) return { ok: false, reason: 'compressed stream is truncated (no final block)' }
  if (inflater.err !== 0) return { ok: false, reason: inflater.msg || `inflate error ${inflater.err}` }
  // A right-sized copy: the output buffer has the kernel's size (often 4x the text).
  return { ok: true, data: Buffer.concat(chunks, total) }
}

/**
 * Which algorithms' decoders accept a compressed payload whole (for `inspect`: a record a kernel
 * set to another algorithm left `.enc.z`). deflate is tried with the target's flavour; lz4 and
 * lz4hc share one block format, so both are named.
 */
export function algorithmsMatching(payload: Uint8Array, flavour: CompressionFlavour, bufsize: number): CompressAlgorithm[] {
  const names: CompressAlgorithm[] = []
  for (const algorithm of ['deflate', 'lzo', 'lz4', 'lz4hc', '842', 'zstd'] as const) {
    const limit = Math.max(inflateLimit(flavour, bufsize, algorithm), 4 * payload.length + 4096)
    if (decompress(flavour, payload, limit, algorithm).ok) names.push(algorithm)
  }
  return names
}
