/**
 * LZ4 raw blocks (no frame, no size), as the crypto API's "lz4" and "lz4hc" store them: a
 * sequence is a token (literal count << 4 | match length − 4), extended counts in 255-steps,
 * the literals, a little-endian 16-bit offset and the extended match length. The block ends in
 * literals only; the end-of-block rules (the last 5 bytes are literals, no match starts within
 * the last 12) are the decoder's conditions (LZ4_decompress_safe), so this compressor keeps them.
 *
 * Written here from the block format's description: the npm packages either frame their blocks
 * (lz4-wasm-nodejs: a size prefix), need a native build (lz4, lz4-napi) or have no high-compression
 * mode and no bounds-checked decoder (lz4js). Both modes give valid blocks the kernel's
 * LZ4_decompress_safe reads; they are not the reference library's byte choices (README).
 */

const MIN_MATCH = 4
const LAST_LITERALS = 5
const MF_LIMIT = 12
const MAX_OFFSET = 65535

function hash4(input: Uint8Array, i: number, bits: number): number {
  const v = input[i] | (input[i + 1] << 8) | (input[i + 2] << 16) | (input[i + 3] << 24)
  return Math.imul(v, 2654435761) >>> (32 - bits)
}

function matchLength(input: Uint8Array, a: number, b: number, limit: number): number {
  let n = 0
  while (b + n < limit && input[a + n] === input[b + n]) n++
  return n
}

class BlockWriter {
  private out: Uint8Array
  length = 0
  constructor(capacity: number) {
    this.out = new Uint8Array(capacity)
  }
  private byte(b: number): void {
    if (this.length >= this.out.length) {
      const grown = new Uint8Array(this.out.length * 2 + 16)
      grown.set(this.out)
      this.out = grown
    }
    this.out[this.length++] = b
  }
  private extended(count: number): void {
    let rest = count
    while (rest >= 255) {
      this.byte(255)
      rest -= 255
    }
    this.byte(rest)
  }
  sequence(input: Uint8Array, literalStart: number, literalEnd: number, offset: number, matchLen: number): void {
    const literals = literalEnd - literalStart
    const ml = matchLen - MIN_MATCH
    this.byte((Math.min(literals, 15) << 4) | (matchLen ? Math.min(ml, 15) : 0))
    if (literals >= 15) this.extended(literals - 15)
    for (let i = literalStart; i < literalEnd; i++) this.byte(input[i])
    if (!matchLen) return
    this.byte(offset & 0xff)
    this.byte(offset >> 8)
    if (ml >= 15) this.extended(ml - 15)
  }
  result(): Uint8Array {
    return this.out.subarray(0, this.length)
  }
}

/**
 * Compresses `input` into one block. `depth` is how many earlier positions with the same hash
 * are tried for each match: 1 is the fast mode, more (a hash chain) is the high-compression mode.
 */
export function lz4CompressBlock(input: Uint8Array, depth = 1): Uint8Array {
  const writer = new BlockWriter(input.length + Math.floor(input.length / 255) + 16)
  const bits = 16
  const head = new Int32Array(1 << bits).fill(-1)
  const chain = depth > 1 ? new Int32Array(input.length).fill(-1) : undefined
  const matchEnd = input.length - LAST_LITERALS
  const lastStart = input.length - MF_LIMIT
  let anchor = 0
  let i = 0
  const insert = (p: number) => {
    const h = hash4(input, p, bits)
    if (chain) chain[p] = head[h]
    head[h] = p
  }
  while (i < lastStart) {
    let bestLen = 0
    let bestPos = -1
    let candidate = head[hash4(input, i, bits)]
    for (let tries = 0; candidate >= 0 && i - candidate <= MAX_OFFSET && tries < depth; tries++) {
      const len = matchLength(input, candidate, i, matchEnd)
      if (len > bestLen) {
        bestLen = len
        bestPos = candidate
      }
      candidate = chain ? chain[candidate] : -1
    }
    insert(i)
    if (bestLen < MIN_MATCH) {
      i++
      continue
    }
    writer.sequence(input, anchor, i, i - bestPos, bestLen)
    const end = i + bestLen
    for (let p = i + 1; p < end && p < lastStart; p++) insert(p)
    i = end
    anchor = i
  }
  writer.sequence(input, anchor, input.length, 0, 0)
  return writer.result()
}

/** LZ4_compressBound(): the most a block of `size` bytes can take. */
export function lz4CompressBound(size: number): number {
  return size + Math.floor(size / 255) + 16
}

export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string }

function readExtended(input: Uint8Array, at: { i: number }, base: number): number | undefined {
  let n = base
  for (;;) {
    if (at.i >= input.length) return undefined
    const b = input[at.i++]
    n += b
    if (b !== 255) return n
  }
}

/**
 * Decodes one block into at most `limit` bytes, failing as LZ4_decompress_safe() does: on an
 * offset before the output's start, a sequence past the input's end or an output over `limit`,
 * and on a block that does not end with a literals-only sequence.
 */
export function lz4DecompressBlock(input: Uint8Array, limit: number): DecodeResult {
  const out = new Uint8Array(limit)
  let o = 0
  const at = { i: 0 }
  while (at.i < input.length) {
    const token = input[at.i++]
    let literals = token >> 4
    if (literals === 15) {
      const n = readExtended(input, at, 15)
      if (n === undefined) return { ok: false, reason: 'lz4: literal length runs past the input' }
      literals = n
    }
    if (at.i + literals > input.length) return { ok: false, reason: 'lz4: literals run past the input' }
    if (o + literals > limit) return { ok: false, reason: `lz4: output exceeds the kernel's ${limit}-byte buffer` }
    out.set(input.subarray(at.i, at.i + literals), o)
    at.i += literals
    o += literals
    if (at.i === input.length) return { ok: true, data: out.slice(0, o) }
    if (at.i + 2 > input.length) return { ok: false, reason: 'lz4: offset runs past the input' }
    const offset = input[at.i] | (input[at.i + 1] << 8)
    at.i += 2
    if (offset === 0 || offset > o) return { ok: false, reason: `lz4: offset ${offset} points before the output` }
    let len = (token & 15) + MIN_MATCH
    if ((token & 15) === 15) {
      const n = readExtended(input, at, 15 + MIN_MATCH)
      if (n === undefined) return { ok: false, reason: 'lz4: match length runs past the input' }
      len = n
    }
    if (o + len > limit) return { ok: false, reason: `lz4: output exceeds the kernel's ${limit}-byte buffer` }
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset]
  }
  return { ok: false, reason: 'lz4: the block does not end in literals' }
}
