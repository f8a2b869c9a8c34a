/**
 * The 842 format as the kernel's software implementation (lib/842, crypto "842") stores it,
 * written here from the format's description in lib/842/842.h (no JavaScript implementation
 * exists). A bit stream, most significant bit first, of 5-bit templates, each producing 8 bytes:
 * templates 0x00–0x19 are up to four actions, D2/D4/D8 (that many literal bytes) or I2/I4/I8 (an
 * 8-, 9- or 8-bit index into a ring of the last 512, 2048 or 2048 bytes of output, counted at
 * 8-byte boundaries); 0x1b repeats the last 8 bytes 1–64 times (6 bits), 0x1c writes 8 zeros,
 * 0x1d ("short data", software only) writes 1–7 literal bytes (3 bits) and 0x1e ends the stream.
 * After END: the CRC-32 of the uncompressed data (polynomial 0x04C11DB7 most significant bit
 * first, initial value 0, no final inversion), then zero bits up to a multiple of 8 bytes.
 */

export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string }

const OP_REPEAT = 0x1b
const OP_ZEROS = 0x1c
const OP_SHORT_DATA = 0x1d
const OP_END = 0x1e

/** An action: literal bytes (D) or an index (I) of 2, 4 or 8 bytes. */
type Action = 'D2' | 'D4' | 'D8' | 'I2' | 'I4' | 'I8'

/** The templates 0x00–0x19 in order (the format's table; each adds up to 8 bytes). */
const TEMPLATES: readonly (readonly Action[])[] = [
  ['D8'],
  ['D4', 'D2', 'I2'],
  ['D4', 'I2', 'D2'],
  ['D4', 'I2', 'I2'],
  ['D4', 'I4'],
  ['D2', 'I2', 'D4'],
  ['D2', 'I2', 'D2', 'I2'],
  ['D2', 'I2', 'I2', 'D2'],
  ['D2', 'I2', 'I2', 'I2'],
  ['D2', 'I2', 'I4'],
  ['I2', 'D2', 'D4'],
  ['I2', 'D4', 'I2'],
  ['I2', 'D2', 'I2', 'D2'],
  ['I2', 'D2', 'I2', 'I2'],
  ['I2', 'D2', 'I4'],
  ['I2', 'I2', 'D4'],
  ['I2', 'I2', 'D2', 'I2'],
  ['I2', 'I2', 'I2', 'D2'],
  ['I2', 'I2', 'I2', 'I2'],
  ['I2', 'I2', 'I4'],
  ['I4', 'D4'],
  ['I4', 'D2', 'I2'],
  ['I4', 'I2', 'D2'],
  ['I4', 'I2', 'I2'],
  ['I4', 'I4'],
  ['I8'],
]

const INDEX_BITS: Record<number, number> = { 2: 8, 4: 9, 8: 8 }
/** The ring an index points into: 2^bits entries of `size` bytes. */
const RING_BYTES: Record<number, number> = { 2: 512, 4: 2048, 8: 2048 }

const sizeOf = (a: Action) => Number(a[1])

let crcTable: Uint32Array | undefined

/** crc32_be(0, data): CRC-32, polynomial 0x04C11DB7, MSB first, initial 0, no final inversion. */
export function crc32be(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n << 24
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1
      crcTable[n] = c >>> 0
    }
  }
  let crc = 0
  for (const b of data) crc = ((crc << 8) ^ crcTable[((crc >>> 24) ^ b) & 0xff]) >>> 0
  return crc
}

class BitWriter {
  private bytes: number[] = []
  private acc = 0
  private used = 0
  bits(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | (Math.floor(value / 2 ** i) & 1)
      if (++this.used === 8) {
        this.bytes.push(this.acc)
        this.acc = 0
        this.used = 0
      }
    }
  }
  bytesOf(data: Uint8Array, start: number, count: number): void {
    for (let i = 0; i < count; i++) this.bits(data[start + i], 8)
  }
  /** The stream, its last byte zero-filled, then zero bytes up to a multiple of 8. */
  finish(): Uint8Array {
    if (this.used) this.bits(0, 8 - this.used)
    while (this.bytes.length % 8) this.bytes.push(0)
    return Uint8Array.from(this.bytes)
  }
}

/** Where each 2-, 4- and 8-byte value last sat in the output, at its size's alignment. */
class Rings {
  private last = new Map<string, number>()
  key(data: Uint8Array, at: number, size: number): string {
    let k = String(size)
    for (let i = 0; i < size; i++) k += ',' + data[at + i]
    return k
  }
  /** Records the 8-byte chunk at `at` (a multiple of 8) as written. */
  add(data: Uint8Array, at: number): void {
    for (const size of [2, 4, 8]) for (let p = at; p < at + 8; p += size) this.last.set(this.key(data, p, size), p)
  }
  /** The index that gives the `size` bytes at `at` from the ring before `total`, if any. */
  index(data: Uint8Array, at: number, size: number, total: number): number | undefined {
    const p = this.last.get(this.key(data, at, size))
    if (p === undefined || p < total - RING_BYTES[size]) return undefined
    return (p % RING_BYTES[size]) / size
  }
}

/** The cheapest template for the chunk at `at` and its indexes, by bits written. */
function bestTemplate(data: Uint8Array, at: number, rings: Rings): { op: number; indexes: (number | undefined)[] } {
  let best = { op: 0, indexes: [] as (number | undefined)[], cost: 5 + 64 }
  TEMPLATES.forEach((actions, op) => {
    let offset = at
    let cost = 5
    const indexes: (number | undefined)[] = []
    for (const action of actions) {
      const size = sizeOf(action)
      if (action[0] === 'I') {
        const index = rings.index(data, offset, size, at)
        if (index === undefined) return
        indexes.push(index)
        cost += INDEX_BITS[size]
      } else {
        indexes.push(undefined)
        cost += size * 8
      }
      offset += size
    }
    if (cost < best.cost) best = { op, indexes, cost }
  })
  return best
}

const sameAsBefore = (data: Uint8Array, at: number) => at >= 8 && data.subarray(at - 8, at).every((b, i) => b === data[at + i])

/** Compresses as sw842_compress() does by format (its choices of templates may differ). */
export function sw842Compress(input: Uint8Array): Uint8Array {
  const w = new BitWriter()
  const rings = new Rings()
  const whole = input.length - (input.length % 8)
  let at = 0
  while (at < whole) {
    if (sameAsBefore(input, at)) {
      let repeats = 0
      while (repeats < 64 && at + 8 * (repeats + 1) <= whole && sameAsBefore(input, at + 8 * repeats)) repeats++
      w.bits(OP_REPEAT, 5)
      w.bits(repeats - 1, 6)
      for (let k = 0; k < repeats; k++, at += 8) rings.add(input, at)
      continue
    }
    if (input.subarray(at, at + 8).every((b) => b === 0)) {
      w.bits(OP_ZEROS, 5)
    } else {
      const { op, indexes } = bestTemplate(input, at, rings)
      w.bits(op, 5)
      let offset = at
      TEMPLATES[op].forEach((action, i) => {
        const size = sizeOf(action)
        const index = indexes[i]
        if (index === undefined) w.bytesOf(input, offset, size)
        else w.bits(index, INDEX_BITS[size])
        offset += size
      })
    }
    rings.add(input, at)
    at += 8
  }
  if (input.length > whole) {
    w.bits(OP_SHORT_DATA, 5)
    w.bits(input.length - whole, 3)
    w.bytesOf(input, whole, input.length - whole)
  }
  w.bits(OP_END, 5)
  w.bits(crc32be(input), 32)
  return w.finish()
}

class BitReader {
  private bit = 0
  constructor(private readonly input: Uint8Array) {}
  /** The next `count` bits, or undefined past the input's end. */
  read(count: number): number | undefined {
    if (this.bit + count > this.input.length * 8) return undefined
    let value = 0
    for (let i = 0; i < count; i++, this.bit++) value = value * 2 + ((this.input[this.bit >> 3] >> (7 - (this.bit & 7))) & 1)
    return value
  }
}

const truncated: DecodeResult = { ok: false, reason: '842: the stream runs past its input' }
const tooLong = (limit: number): DecodeResult => ({ ok: false, reason: `842: output exceeds the kernel's ${limit}-byte buffer` })

/** The byte offset an index names, as the decoder resolves it against `total` bytes written. */
function indexOffset(index: number, size: number, total: number): number {
  const ring = RING_BYTES[size]
  let offset = index * size
  if (total > ring) {
    let section = total - (total % ring)
    if (offset >= total - section) section -= ring
    offset += section
  }
  return offset
}

function runTemplate(r: BitReader, op: number, out: Uint8Array, o: number, limit: number): number | DecodeResult {
  const total = o - (o % 8)
  let at = o
  for (const action of TEMPLATES[op]) {
    const size = sizeOf(action)
    if (at + size > limit) return tooLong(limit)
    if (action[0] === 'D') {
      for (let i = 0; i < size; i++) {
        const b = r.read(8)
        if (b === undefined) return truncated
        out[at++] = b
      }
      continue
    }
    const index = r.read(INDEX_BITS[size])
    if (index === undefined) return truncated
    const offset = indexOffset(index, size, total)
    if (offset + size > total) return { ok: false, reason: `842: index ${index} points past the output` }
    out.copyWithin(at, offset, offset + size)
    at += size
  }
  return at
}

/** Decodes into at most `limit` bytes and checks the CRC, failing where sw842_decompress() does. */
export function sw842Decompress(input: Uint8Array, limit: number): DecodeResult {
  const out = new Uint8Array(limit)
  const r = new BitReader(input)
  let o = 0
  for (;;) {
    const op = r.read(5)
    if (op === undefined) return truncated
    if (op === OP_END) break
    if (op < TEMPLATES.length) {
      const next = runTemplate(r, op, out, o, limit)
      if (typeof next !== 'number') return next
      o = next
    } else if (op === OP_REPEAT) {
      const rep = r.read(6)
      if (rep === undefined) return truncated
      if (o === 0) return { ok: false, reason: '842: repeat before any output' }
      if (o + (rep + 1) * 8 > limit) return tooLong(limit)
      for (let k = 0; k <= rep; k++, o += 8) out.copyWithin(o, o - 8, o)
    } else if (op === OP_ZEROS) {
      if (o + 8 > limit) return tooLong(limit)
      out.fill(0, o, o + 8)
      o += 8
    } else if (op === OP_SHORT_DATA) {
      const n = r.read(3)
      if (n === undefined) return truncated
      if (n === 0) return { ok: false, reason: '842: short data of 0 bytes' }
      if (o + n > limit) return tooLong(limit)
      for (let i = 0; i < n; i++) {
        const b = r.read(8)
        if (b === undefined) return truncated
        out[o++] = b
      }
    } else return { ok: false, reason: `842: invalid template 0x${op.toString(16)}` }
  }
  const crc = r.read(32)
  if (crc === undefined) return truncated
  const data = out.slice(0, o)
  if (crc !== crc32be(data)) return { ok: false, reason: '842: CRC mismatch' }
  return { ok: true, data }
}
