/**
 * The compression algorithms of kernels 4.17–6.5. pstore.compress= as the kernels 4.19–6.5 run it
 * (fs/pstore/platform.c of 6.1): the text each algorithm's big_oops_buf_sz lets in, the -D
 * fallback where the compressed part does not fit psinfo->bufsize (the header, then the newest
 * bufsize − header bytes), which kernels take which algorithm, and where the choice comes from
 * (--compress, -o compress=, pstore.compress= on the command line, blk and ERST setups). Then the
 * compressors themselves (src/pstore/codecs/): round trips over the kernel's own panic text and
 * over random and repetitive data, decoders failing cleanly on truncated and random input (never
 * a throw, never more than the limit), and the limits each kernel applies. Streams the real
 * kernel wrote are checked in test/fuse/compress.fixtures.test.ts.
 */
import zlib from 'node:zlib'
import t from 'tap'
import { fromCmdline, fromModuleParams } from '../../src/backend/ramoops/ramoopsSetup.js'
import { resolveSetup } from '../../src/backend/setup.js'
import { parseMountOptionList } from '../../src/cli/mountOptions.js'
import { type CompressAlgorithm, parseKernelVersion } from '../../src/format/kernelVersion.js'
import { lz4CompressBlock, lz4CompressBound, lz4DecompressBlock } from '../../src/pstore/codecs/lz4.js'
import { lzoCompress, lzoDecompress, lzoWorstCompress } from '../../src/pstore/codecs/lzo.js'
import { crc32be, sw842Compress, sw842Decompress } from '../../src/pstore/codecs/sw842.js'
import { zstdCompress, zstdCompressBound, zstdDecompress } from '../../src/pstore/codecs/zstd.js'
import { decompress, scratchBufferSize } from '../../src/pstore/compression.js'
import { buildDumpPart, type DumpInput, formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'
import { fixtureCase } from '../helpers/fixtures.js'

const ALGORITHMS: CompressAlgorithm[] = ['deflate', 'lzo', 'lz4', 'lz4hc', '842', 'zstd']
const BUFSIZE = 33710

/** A small seeded generator (xorshift32): the same log and bytes on every run. */
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

/**
 * A kernel log of `count` records; `noisy`: each line carries 400 random base64 characters, so
 * that only the syslog prefixes repeat (deflate's Huffman codes save a quarter, lzo, lz4 and 842
 * only the prefixes: a few percent).
 */
function log(count: number, noisy: boolean): string[] {
  const next = random(7)
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return Array.from({ length: count }, (_, i) => {
    const text = noisy ? Array.from({ length: 400 }, () => b64[next() % 64]).join('') : `pstore-sim line ${i}: the quick brown fox jumps over the lazy dog`
    return formatSyslogRecord({ facility: 0, level: 6, uptimeUs: 1_000_000 + i * 17, text })
  })
}

const input = (algorithm: CompressAlgorithm, lines: string[]): DumpInput => ({
  reason: 'oops',
  oopsCount: 1,
  log: lines,
  bufsize: BUFSIZE,
  compress: true,
  flavour: 'crypto-deflate-11',
  algorithm,
  time: { sec: 1704067200, nsec: 0 },
})

t.test("big_oops_buf_sz for a 33,710-byte bufsize (the issue's measurements on 6.1.192)", async (t) => {
  const expected: Record<CompressAlgorithm, number> = { deflate: 56183, lzo: 35883, lz4: 33858, lz4hc: 33858, '842': 33710, zstd: 33888 }
  for (const a of ALGORITHMS) t.equal(scratchBufferSize('crypto-deflate-11', BUFSIZE, a), expected[a], a)
})

t.test('a part holds the newest whole records that fit below big_oops_buf_sz, compressed with the algorithm', async (t) => {
  const lines = log(2000, false)
  for (const a of ALGORITHMS) {
    const part = buildDumpPart(input(a, lines))
    if (!part) throw new Error('no part')
    t.ok(part.compressed, `${a}: compressed`)
    const limit = scratchBufferSize('crypto-deflate-11', BUFSIZE, a)
    const text = decompress('crypto-deflate-11', part.payload, limit, a)
    if (!text.ok) throw new Error(`${a}: ${text.reason}`)
    const body = text.data.toString('latin1')
    t.ok(body.startsWith('Oops#1 Part1\n'), `${a}: the header line`)
    t.ok(body.endsWith(lines[lines.length - 1]), `${a}: ends with the newest record`)
    const taken = body.length - 'Oops#1 Part1\n'.length
    // the most newest records (up to all but one) whose text fits in what was taken, summed once
    // (joining every suffix of the 2,000 lines again cost ~5 s of CPU)
    let newest = 0
    for (let length = 0; newest + 1 < lines.length && length + lines[lines.length - 1 - newest].length <= taken; newest++)
      length += lines[lines.length - 1 - newest].length
    const firstTaken = lines.length - newest
    t.ok(body.length <= limit - 1, `${a}: ${body.length} bytes, below ${limit}`)
    t.ok(body.length + lines[firstTaken - 1].length > limit - 1, `${a}: one more record would not fit`)
  }
})

t.test(
  'incompressible text: deflate and lzo store it -D (the header and the newest bufsize − header bytes), 842 -D whole; lz4, lz4hc and zstd still compress',
  async (t) => {
    const lines = log(2000, true)
    const header = 'Oops#1 Part1\n'
    for (const a of ALGORITHMS) {
      const part = buildDumpPart(input(a, lines))
      if (!part) throw new Error('no part')
      const limit = scratchBufferSize('crypto-deflate-11', BUFSIZE, a)
      if (a === '842') {
        // 842's big_oops_buf_sz is bufsize itself: the text always fits, so the -D record is the whole part
        t.notOk(part.compressed, `${a}: stored uncompressed (-ENOSPC)`)
        const text = Buffer.from(part.payload).toString('latin1')
        t.ok(
          text.startsWith(header + '<6>') && text.length <= BUFSIZE && lines.join('').endsWith(text.slice(header.length)),
          `${a}: the header and the whole records of the part (${text.length} bytes)`,
        )
      } else if (['deflate', 'lzo'].includes(a)) {
        t.notOk(part.compressed, `${a}: stored uncompressed`)
        t.equal(part.payload.length, BUFSIZE, `${a}: bufsize bytes`)
        const text = Buffer.from(part.payload).toString('latin1')
        t.ok(text.startsWith(header), `${a}: the header line first`)
        const all = lines.join('')
        t.ok(all.endsWith(text.slice(header.length)), `${a}: then the newest ${BUFSIZE - header.length} bytes of the text`)
        t.not(text[header.length], '<', `${a}: which starts mid-line`)
      } else {
        t.ok(part.compressed, `${a}: compressed`)
        t.ok(part.payload.length <= BUFSIZE, `${a}: ${part.payload.length} bytes fit bufsize`)
        t.ok(decompress('crypto-deflate-11', part.payload, limit, a).ok, `${a}: decompresses`)
      }
    }
  },
)

t.test('which kernels take which algorithm', async (t) => {
  const setup = (kernel: string, compress: string | boolean | undefined) => fromModuleParams({ mem_size: 0x100000 }, { kernel, compress })
  for (const kernel of ['4.19.0', '5.4.0', '5.10.0', '5.15.0', '6.1.192', '6.5.0']) {
    for (const a of ALGORITHMS) t.equal(setup(kernel, a).compressAlgorithm, a, `${kernel}: ${a}`)
    t.equal(setup(kernel, undefined).compressAlgorithm, 'deflate', `${kernel}: deflate by default`)
  }
  t.throws(
    () => setup('6.6.0', 'lz4'),
    /kernel 6\.6\.0 compresses pstore records with deflate only .*falls back to deflate/,
    '6.6 refuses lz4 in one line saying why',
  )
  t.throws(() => setup('6.12.107', 'zstd'), /deflate only/, '6.12 refuses zstd')
  t.equal(setup('6.12.0', 'deflate').compress, true, '6.12 takes deflate')
  t.equal(setup('6.12.0', 'none').compress, false, 'and none')
  t.throws(() => setup('4.14.0', 'lzo'), /modelled for kernels 4\.19 to 6\.5/, 'before 4.19: deflate only')
  t.throws(() => setup('6.1.0', 'lz5'), /unknown compression "lz5"/, 'an unknown name')
  t.equal(setup('6.1.0', true).compressAlgorithm, 'deflate', 'true: the default')
  t.equal(setup('6.1.0', false).compress, false, 'false: none')
  t.notOk(parseKernelVersion('6.5.0').major < 6)
})

t.test('where the choice comes from', async (t) => {
  t.equal(fromCmdline('ramoops.mem_size=0x100000 pstore.compress=zstd', { kernel: '5.10.0' }).compressAlgorithm, 'zstd', 'pstore.compress= on the command line')
  t.equal(
    fromCmdline('ramoops.mem_size=0x100000 pstore.compress=zstd', { kernel: '5.10.0', compress: 'lzo' }).compressAlgorithm,
    'lzo',
    '--compress over the command line',
  )
  t.equal(fromCmdline('ramoops.mem_size=0x100000 pstore.compress=none', { kernel: '5.10.0' }).compress, false, 'pstore.compress=none')
  t.throws(
    () => fromCmdline('ramoops.mem_size=0x100000 pstore.compress=lz4', { kernel: '6.12.0' }),
    /deflate only/,
    '6.12 with pstore.compress=lz4 on its command line',
  )
  t.same(parseMountOptionList('ro,compress=lz4hc').overrides?.target, { compress: 'lz4hc' }, '-o compress=lz4hc')
  t.throws(
    () => parseMountOptionList('compress=gzip'),
    /-o compress=gzip: takes deflate, lzo, lz4, lz4hc, 842, zstd, none/,
    '-o compress= with an unknown name',
  )
  const blk = resolveSetup({
    backend: 'blk',
    cmdline: 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y pstore.compress=842',
    diskSize: 0x40000,
    target: { kernel: '6.1.0' },
  })
  t.equal(blk.compressAlgorithm, '842', 'pstore/blk: pstore.compress= on its command line')
  const erst = resolveSetup({ backend: 'erst', erst: {}, target: { kernel: '5.15.0', compress: 'lz4' } })
  t.equal(erst.compressAlgorithm, 'lz4', 'ERST: the target option')
})

// The codecs themselves

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
