/**
 * The compressors of kernels 4.17–6.5 (src/pstore/codecs/): round trips over the kernel's own
 * panic text and over random and repetitive data, decoders failing cleanly on truncated and
 * random input (never a throw, never more than the limit), and the limits each kernel applies.
 * Streams the real kernel wrote are checked in test/compress-kernel.test.ts.
 */
import zlib from 'node:zlib'
import t from 'tap'
import { lz4CompressBlock, lz4CompressBound, lz4DecompressBlock } from '../../src/pstore/codecs/lz4.js'
import { lzoCompress, lzoDecompress, lzoWorstCompress } from '../../src/pstore/codecs/lzo.js'
import { crc32be, sw842Compress, sw842Decompress } from '../../src/pstore/codecs/sw842.js'
import { zstdCompress, zstdCompressBound, zstdDecompress } from '../../src/pstore/codecs/zstd.js'
import { fixtureCase } from '../helpers/fixtures.js'

type Decode = (input: Uint8Array, limit: number) => { ok: true; data: Uint8Array } | { ok: false; reason: string }
const CODECS: Record<string, { compress: (input: Uint8Array) => Uint8Array; decompress: Decode }> = {
  lz4: { compress: (i) => lz4CompressBlock(i), decompress: lz4DecompressBlock },
  lz4hc: { compress: (i) => lz4CompressBlock(i, 256), decompress: lz4DecompressBlock },
  lzo: { compress: lzoCompress, decompress: lzoDecompress },
  '842': { compress: sw842Compress, decompress: sw842Decompress },
  zstd: { compress: zstdCompress, decompress: zstdDecompress },
}

function kernelText(): Buffer {
  const after = fixtureCase('kernel-6.1', 'a-panic').read('region-after-panic.bin')
  const size = after.readInt32LE(8)
  return zlib.inflateRawSync(after.subarray(12 + 24, 12 + size))
}

/** A small seeded generator (xorshift32): the same bytes on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s
  }
}

function sample(seed: number, length: number, alphabet: number): Uint8Array {
  const next = random(seed)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) {
    // runs copied from earlier output (matches), then fresh bytes from a small or full alphabet
    if (i > 16 && next() % 4 === 0) {
      const from = next() % i
      const run = Math.min(length - i, 3 + (next() % 40))
      for (let k = 0; k < run; k++) out[i + k] = out[from + k]
      i += run - 1
    } else out[i] = next() % alphabet
  }
  return out
}

const text = kernelText()

t.test('each codec gives the kernel panic text back, smaller', async (t) => {
  for (const [name, codec] of Object.entries(CODECS)) {
    const z = codec.compress(text)
    const back = codec.decompress(z, text.length)
    t.ok(back.ok && Buffer.from(back.data).equals(text), `${name}: ${text.length} bytes → ${z.length} → the same text`)
    // 842 keeps 8-byte chunks whole (matches only at 2/4/8-byte alignment): it saves far less
    t.ok(z.length < text.length * (name === '842' ? 0.7 : 0.5), `${name}: compressed to ${((100 * z.length) / text.length).toFixed(0)}%`)
    const short = codec.decompress(z, text.length - 1)
    t.notOk(short.ok, `${name}: a limit one byte short fails (${short.ok ? '' : short.reason})`)
  }
})

t.test('round trips over random, repetitive, zero and odd-length data', async (t) => {
  const inputs: Uint8Array[] = [new Uint8Array(0), Uint8Array.of(7), new Uint8Array(5000), new Uint8Array(4096).fill(0x41)]
  for (let seed = 1; seed <= 60; seed++) inputs.push(sample(seed, (seed * 977) % 9000, seed % 3 === 0 ? 256 : 1 + (seed % 20)))
  for (const [name, codec] of Object.entries(CODECS)) {
    let good = 0
    for (const input of inputs) {
      const back = codec.decompress(codec.compress(input), input.length + 64)
      if (back.ok && Buffer.from(back.data).equals(Buffer.from(input))) good++
      else t.fail(`${name}: ${input.length}-byte input did not round-trip (${back.ok ? 'other bytes' : back.reason})`)
    }
    t.equal(good, inputs.length, `${name}: ${good} inputs round-trip`)
  }
})

t.test('decoders reject truncated and random streams without throwing or overrunning', async (t) => {
  const next = random(99)
  for (const [name, codec] of Object.entries(CODECS)) {
    const z = codec.compress(text)
    let rejected = 0
    // 842's last up to 7 bytes are padding: cut into its CRC and END at least
    const cuts = name === '842' ? [8, 10, 13, 17, 33] : [1, 2, 3, 5, 9]
    for (const cut of [...cuts, Math.floor(z.length / 2)]) {
      const r = codec.decompress(z.subarray(0, z.length - cut), text.length)
      if (!r.ok) rejected++
    }
    t.equal(rejected, 6, `${name}: every truncated stream is refused`)
    let sane = 0
    for (let n = 0; n < 300; n++) {
      const junk = Uint8Array.from({ length: 1 + (next() % 300) }, () => next() & 0xff)
      const r = codec.decompress(junk, 4096)
      if (!r.ok || r.data.length <= 4096) sane++
    }
    t.equal(sane, 300, `${name}: 300 random inputs end in a refusal or at most the limit`)
    for (let n = 0; n < 100; n++) {
      const flipped = Uint8Array.from(z)
      flipped[next() % flipped.length] ^= 1 << (next() % 8)
      const r = codec.decompress(flipped, text.length)
      if (r.ok && r.data.length > text.length) t.fail(`${name}: a flipped bit overran the limit`)
    }
  }
})

t.test('the scratch sizes of platform.c for a 33,710-byte bufsize', async (t) => {
  t.equal(lzoWorstCompress(33710), 35883, 'lzo: lzo1x_worst_compress')
  t.equal(lz4CompressBound(33710), 33858, 'lz4/lz4hc: LZ4_compressBound')
  t.equal(zstdCompressBound(33710), 33888, 'zstd: zstd_compress_bound')
})

t.test('842 details from the format description', async (t) => {
  t.equal(crc32be(Buffer.from('123456789')), 0x89a1897f, 'CRC-32/MPEG-2 less the inversions: crc32_be(0, "123456789")')
  const z = sw842Compress(Buffer.from('abc'))
  t.equal(z.length % 8, 0, 'zero-padded to a multiple of 8 bytes')
  t.equal(z[0] >> 3, 0x1d, 'a 3-byte input is one short-data template')
  const zeros = sw842Compress(new Uint8Array(64))
  t.equal(zeros[0] >> 3, 0x1c, '8 zero bytes are the ZEROS template')
  const bad = Uint8Array.from(sw842Compress(text))
  bad[bad.length - 9] ^= 0xff
  const r = sw842Decompress(bad, text.length)
  t.notOk(r.ok, 'a damaged stream fails its CRC or decoding')
})

t.test('zstd: one frame with the kernel header (single segment, 2-byte content size, no checksum)', async (t) => {
  const z = zstdCompress(text)
  t.same([...z.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], 'zstd magic')
  t.equal(z[4], 0x60, 'frame header descriptor 0x60')
  t.equal(z[5] | (z[6] << 8), text.length - 256, 'content size − 256 in 2 bytes')
})
