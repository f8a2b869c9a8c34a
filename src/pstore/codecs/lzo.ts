/**
 * LZO1X streams as the crypto API's "lzo" stores them (lzo1x_1_compress, no lzo-rle marker),
 * written here from the format's description (the kernel's Documentation/staging/lzo.rst): no
 * npm package compresses LZO1X without a native build (lzo) and the others only decompress
 * (lzo-decompress, lzo-wasm through FFmpeg).
 *
 * Instructions, by the first byte t and the state (how many literals the last one copied):
 *   t ≥ 64           M2: length 3..8, distance ≤ 2048 (3 bits here, 8 in the next byte)
 *   32 ≤ t < 64      M3: length 2 + (t & 31) (0: extended), distance ≤ 16384 (14 bits LE16 >> 2)
 *   16 ≤ t < 32      M4: length 2 + (t & 7) (0: extended), distance 16384 + …; 16384 itself ends the stream
 *   t < 16, state 0  a literal run of t + 3 (0: extended)
 *   t < 16, state 1-3  M1: 2 bytes at distance ≤ 1024;  state 4: M1 of 3 bytes at 2049..3072
 * A match's last two bits are how many literals (0..3) follow it before the next instruction;
 * a first byte above 17 is a literal run of t − 17. The stream ends with 0x11 0x00 0x00.
 */

export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string }

const M2_MAX_OFFSET = 0x0800
const M3_MAX_OFFSET = 0x4000
const M4_MAX_OFFSET = 0xbfff

class StreamWriter {
  private out: Uint8Array
  length = 0
  /** Where the last match's low two bits (its trailing literal count) are; -1 before any match. */
  lastMatchByte = -1
  constructor(capacity: number) {
    this.out = new Uint8Array(capacity)
  }
  byte(b: number): void {
    if (this.length >= this.out.length) {
      const grown = new Uint8Array(this.out.length * 2 + 16)
      grown.set(this.out)
      this.out = grown
    }
    this.out[this.length++] = b
  }
  /** A count beyond what the instruction holds: zero bytes of 255 each, then the rest (never 0). */
  extended(rest: number): void {
    let n = rest
    while (n > 255) {
      this.byte(0)
      n -= 255
    }
    this.byte(n)
  }
  literals(input: Uint8Array, start: number, end: number): void {
    const count = end - start
    if (count === 0) return
    if (this.lastMatchByte < 0) {
      if (count <= 238) this.byte(17 + count)
      else this.literalRun(count)
    } else if (count <= 3) {
      this.out[this.lastMatchByte] |= count
    } else {
      this.literalRun(count)
    }
    for (let i = start; i < end; i++) this.byte(input[i])
  }
  private literalRun(count: number): void {
    if (count <= 18) this.byte(count - 3)
    else {
      this.byte(0)
      this.extended(count - 18)
    }
  }
  match(distance: number, length: number): void {
    if (length <= 8 && distance <= M2_MAX_OFFSET) {
      const d = distance - 1
      this.byte(((length - 1) << 5) | ((d & 7) << 2))
      this.lastMatchByte = this.length - 1
      this.byte(d >> 3)
      return
    }
    let d: number
    if (distance <= M3_MAX_OFFSET) {
      d = distance - 1
      if (length <= 33) this.byte(32 | (length - 2))
      else {
        this.byte(32)
        this.extended(length - 33)
      }
    } else {
      d = distance - 0x4000
      const high = (d & 0x4000) >> 11
      if (length <= 9) this.byte(16 | high | (length - 2))
      else {
        this.byte(16 | high)
        this.extended(length - 9)
      }
    }
    this.byte(((d & 0x3fff) << 2) & 0xff)
    this.lastMatchByte = this.length - 1
    this.byte((d & 0x3fff) >> 6)
  }
  end(): Uint8Array {
    this.byte(0x11)
    this.byte(0)
    this.byte(0)
    return this.out.subarray(0, this.length)
  }
}

function hash4(input: Uint8Array, i: number): number {
  const v = input[i] | (input[i + 1] << 8) | (input[i + 2] << 16) | (input[i + 3] << 24)
  return Math.imul(v, 0x1824429d) >>> 18
}

/** A greedy LZO1X compressor (one candidate per hash, as LZO1X-1); matches of 4 bytes and more. */
export function lzoCompress(input: Uint8Array): Uint8Array {
  const writer = new StreamWriter(lzoWorstCompress(input.length))
  const head = new Int32Array(1 << 14).fill(-1)
  let anchor = 0
  let i = 0
  const last = input.length - 4
  while (i <= last) {
    const h = hash4(input, i)
    const candidate = head[h]
    head[h] = i
    const distance = i - candidate
    if (
      candidate < 0 ||
      distance > M4_MAX_OFFSET ||
      input[candidate] !== input[i] ||
      input[candidate + 1] !== input[i + 1] ||
      input[candidate + 2] !== input[i + 2] ||
      input[candidate + 3] !== input[i + 3]
    ) {
      i++
      continue
    }
    let length = 4
    while (i + length < input.length && input[candidate + length] === input[i + length]) length++
    writer.literals(input, anchor, i)
    writer.match(distance, length)
    i += length
    anchor = i
  }
  writer.literals(input, anchor, input.length)
  return writer.end()
}

/** lzo1x_worst_compress(): the most a stream of `size` bytes can take. */
export function lzoWorstCompress(size: number): number {
  return size + Math.floor(size / 16) + 64 + 3
}

interface Cursor {
  ip: number
  op: number
}

function extendedCount(input: Uint8Array, c: Cursor, base: number): number | undefined {
  let n = base
  while (c.ip < input.length && input[c.ip] === 0) {
    n += 255
    c.ip++
  }
  if (c.ip >= input.length) return undefined
  return n + input[c.ip++]
}

const overrun = (limit: number): DecodeResult => ({ ok: false, reason: `lzo: output exceeds the kernel's ${limit}-byte buffer` })
const truncated: DecodeResult = { ok: false, reason: 'lzo: the stream runs past its input' }

/** One instruction's match: its length and distance, and the literal count that follows; 'end' at the end marker. */
type Step = { length: number; distance: number; next: number } | 'end' | DecodeResult

function readMatch(input: Uint8Array, c: Cursor, t: number, state: number): Step {
  const need = (n: number) => c.ip + n <= input.length
  if (t >= 64) {
    if (!need(1)) return truncated
    const distance = 1 + ((t >> 2) & 7) + (input[c.ip++] << 3)
    return { length: (t >> 5) + 1, distance, next: t & 3 }
  }
  if (t < 16) {
    if (!need(1)) return truncated
    const distance = (state === 4 ? 2049 : 1) + (t >> 2) + (input[c.ip++] << 2)
    return { length: state === 4 ? 3 : 2, distance, next: t & 3 }
  }
  let length: number
  const bits = t >= 32 ? 31 : 7
  if ((t & bits) === 0) {
    const n = extendedCount(input, c, bits)
    if (n === undefined) return truncated
    length = n + 2
  } else length = (t & bits) + 2
  if (!need(2)) return truncated
  const word = input[c.ip] | (input[c.ip + 1] << 8)
  c.ip += 2
  if (t >= 32) return { length, distance: (word >> 2) + 1, next: word & 3 }
  const distance = 16384 + ((t & 8) << 11) + (word >> 2)
  if (distance === 16384) return 'end'
  return { length, distance, next: word & 3 }
}

/**
 * Decodes into at most `limit` bytes, failing as lzo1x_decompress_safe() does (the crypto API
 * turns every failure into -EINVAL): a distance before the output, input or output overrun, an
 * end marker not at the input's end.
 */
export function lzoDecompress(input: Uint8Array, limit: number): DecodeResult {
  const out = new Uint8Array(limit)
  const c: Cursor = { ip: 0, op: 0 }
  const copyLiterals = (n: number): DecodeResult | undefined => {
    if (c.ip + n > input.length) return truncated
    if (c.op + n > limit) return overrun(limit)
    out.set(input.subarray(c.ip, c.ip + n), c.op)
    c.ip += n
    c.op += n
    return undefined
  }
  let state = 0
  if (input.length > 0 && input[0] > 17) {
    c.ip = 1
    const n = input[0] - 17
    const failed = copyLiterals(n)
    if (failed) return failed
    state = n < 4 ? n : 4
  }
  for (;;) {
    if (c.ip >= input.length) return truncated
    const t = input[c.ip++]
    if (t < 16 && state === 0) {
      const n = t === 0 ? extendedCount(input, c, 15) : t
      if (n === undefined) return truncated
      const failed = copyLiterals(n + 3)
      if (failed) return failed
      state = 4
      continue
    }
    const step = readMatch(input, c, t, state)
    if (step === 'end') {
      return c.ip === input.length ? { ok: true, data: out.slice(0, c.op) } : { ok: false, reason: 'lzo: input continues after the end marker' }
    }
    if ('ok' in step) return step
    if (step.distance > c.op) return { ok: false, reason: `lzo: distance ${step.distance} points before the output` }
    if (c.op + step.length > limit) return overrun(limit)
    for (let k = 0; k < step.length; k++, c.op++) out[c.op] = out[c.op - step.distance]
    const failed = copyLiterals(step.next)
    if (failed) return failed
    state = step.next
  }
}
