/**
 * dmesg compression per kernel generation (docs/ramoops-format.md §6.3). Streams are checked with Node's own zlib
 * (an independent implementation of the same formats), and the reference text is the kernel's
 * own record from the kernel-6.1/a-panic fixture.
 *
 * And a corrupt compressed record that fails to inflate must cost nothing once read: a daemon
 * reads the same corrupt records at every reboot. (zlib.inflateRawSync() kept ~11 KB per failure.)
 */
import { spawnSync } from 'node:child_process'
import zlib from 'node:zlib'
import t from 'tap'
import type { CompressionFlavour } from '../../src/format/kernelVersion.js'
import { compress, decompress, inflateLimit, scratchBufferSize } from '../../src/pstore/compression.js'
import { fixtureCase, noise } from '../helpers/fixtures.js'
import { productCommand, runProductsUninstrumented } from '../helpers/mount.js'
import { sourceBundle } from '../helpers/sourceBundle.js'

const FLAVOURS: CompressionFlavour[] = ['zlib-raw-15', 'crypto-deflate-11', 'zlib-wrapped-12']

/** The kernel's dmesg record in a-panic: zone 0 data after the 24-byte header `====1704067210.305249-C\n`, 9973 bytes. */
function kernelText(): Buffer {
  const after = fixtureCase('kernel-6.1', 'a-panic').read('region-after-panic.bin')
  const size = after.readInt32LE(8)
  const header = after.toString('latin1', 12, 12 + 24)
  if (header !== '====1704067210.305249-C\n' || size !== 9997) throw new Error(`unexpected a-panic zone 0: ${JSON.stringify(header)} size ${size}`)
  return zlib.inflateRawSync(after.subarray(12 + 24, 12 + size))
}

const text = kernelText()

t.test('the reference text', async (t) => {
  t.equal(text.length, 27652, 'kernel-6.1/a-panic listing: dmesg-ramoops-0 is 27652 bytes')
  t.equal(text.toString('latin1', 0, 14), 'Panic#1 Part1\n')
})

t.test('round trip for every flavour, with the stream format each kernel expects', async (t) => {
  for (const flavour of FLAVOURS) {
    const z = compress(flavour, text, 1 << 20)
    if (!z) {
      t.fail(`${flavour}: compress failed`)
      continue
    }
    t.ok(z.length < text.length / 2, `${flavour}: compressed to ${z.length} bytes`)
    const back = decompress(flavour, z, 1 << 20)
    t.ok(back.ok && back.data.equals(text), `${flavour}: inflates back to the text`)
    if (flavour === 'zlib-wrapped-12') {
      t.equal(z.subarray(0, 2).toString('hex'), '4889', 'zlib header: CM 8, CINFO 4 (window 2^12), FLEVEL 2 (level 6)')
      t.ok(zlib.inflateSync(z).equals(text), 'a standard zlib reader accepts it (adler32 included)')
    } else {
      t.ok(zlib.inflateRawSync(z).equals(text), `${flavour}: a standard raw-deflate reader accepts it`)
      t.throws(() => zlib.inflateSync(z), `${flavour}: no zlib header`)
    }
  }
})

t.test('our window-11 streams are readable by the 4.19-6.5 (crypto deflate, window 11) reader', async (t) => {
  // a 6.6+ writer in the simulator still limits itself to window 11
  const big = Buffer.concat([text, text.subarray(0, 13000)]) // 40652 bytes, more than one 16 KiB chunk
  for (const flavour of ['zlib-raw-15', 'crypto-deflate-11'] as const) {
    const z = compress(flavour, big, 1 << 20)!
    // Node's raw inflater with a 2 KiB window and 64-byte output chunks only keeps 2 KiB of history
    t.doesNotThrow(() => zlib.inflateRawSync(z, { windowBits: 11, chunkSize: 64 }), `${flavour}: no distance beyond 2048`)
    const r = decompress('crypto-deflate-11', z, 1 << 20)
    t.ok(r.ok && r.data.equals(big), `${flavour} stream read by the crypto-deflate-11 reader`)
  }
  // the kernel's own window-11 stream
  const after = fixtureCase('kernel-6.1', 'a-panic').read('region-after-panic.bin')
  const kernelStream = after.subarray(36, 12 + 9997)
  for (const flavour of ['crypto-deflate-11', 'zlib-raw-15'] as const) {
    const r = decompress(flavour, kernelStream, 56183)
    t.ok(r.ok && r.data.equals(text), `the 6.1 kernel's stream inflates with ${flavour}`)
  }
})

t.test('a window-15 stream with distances > 2048', async (t) => {
  const block = noise(3000, 7)
  const data = Buffer.concat([block, block]) // the second half is one long match at distance 3000
  const z15 = zlib.deflateRawSync(data, { windowBits: 15 })
  t.ok(z15.length < 3200, 'the encoder used the distance-3000 match')
  t.throws(() => zlib.inflateRawSync(z15, { windowBits: 11, chunkSize: 64 }), /too far back/, 'a window-11 reader with small output chunks cannot follow it')
  // The kernel's crypto deflate reader inflates the whole record in one zlib_inflate() call into
  // one output buffer (crypto/deflate.c __deflate_decompress); inflate_fast() only refuses a
  // distance beyond the output produced in that call plus the window, so it accepts this stream.
  t.doesNotThrow(() => zlib.inflateRawSync(z15, { windowBits: 11, chunkSize: 65536 }), 'a window-11 reader with one big output buffer follows it')
  const r11 = decompress('crypto-deflate-11', z15, 9075)
  t.ok(r11.ok && r11.data.equals(data), 'crypto-deflate-11 reader (one output buffer, as the kernel): accepted')
  const r15 = decompress('zlib-raw-15', z15, 12252)
  t.ok(r15.ok && r15.data.equals(data), 'zlib-raw-15 reader: accepted')
  // it is still refused when it does not fit the reader's buffer
  const small = decompress('crypto-deflate-11', z15, 5999)
  t.equal(small.ok, false, 'refused when the output buffer is one byte short')
})

t.test('zlib-wrapped streams are refused by raw readers, window-15 headers by the window-12 reader', async (t) => {
  const wrapped15 = zlib.deflateSync(text)
  const wrapped12 = zlib.deflateSync(text, { windowBits: 12, memLevel: 4 })
  for (const flavour of ['zlib-raw-15', 'crypto-deflate-11'] as const) {
    t.equal(decompress(flavour, wrapped15, 1 << 20).ok, false, `${flavour} refuses a zlib-wrapped stream`)
    t.equal(decompress(flavour, wrapped12, 1 << 20).ok, false, `${flavour} refuses a window-12 zlib stream`)
  }
  const ok12 = decompress('zlib-wrapped-12', wrapped12, 1 << 20)
  t.ok(ok12.ok && ok12.data.equals(text), 'the 3.11-4.16 reader accepts a window-12 zlib stream')
  const bad = decompress('zlib-wrapped-12', wrapped15, 1 << 20)
  t.equal(bad.ok, false, 'the window-12 reader refuses a header announcing a 32 KiB window')
  t.match(bad, { ok: false, reason: /window/ })
  t.equal(decompress('zlib-wrapped-12', zlib.deflateRawSync(text), 1 << 20).ok, false, 'and refuses a raw stream')
  // a corrupted adler32 is caught by the wrapped reader only
  const badAdler = Buffer.from(wrapped12)
  badAdler[badAdler.length - 1] ^= 0xff
  t.equal(decompress('zlib-wrapped-12', badAdler, 1 << 20).ok, false, 'adler32 mismatch')
})

t.test('truncated and garbage streams are refused', async (t) => {
  for (const flavour of FLAVOURS) {
    const z = compress(flavour, text, 1 << 20)!
    t.equal(decompress(flavour, z.subarray(0, z.length >> 1), 1 << 20).ok, false, `${flavour}: half a stream`)
    t.equal(decompress(flavour, z.subarray(0, z.length - 1), 1 << 20).ok, false, `${flavour}: last byte missing`)
    t.equal(decompress(flavour, Buffer.alloc(0), 1 << 20).ok, false, `${flavour}: empty`)
    t.equal(decompress(flavour, Buffer.from([0xff, 0xff, 0xff, 0xff]), 1 << 20).ok, false, `${flavour}: reserved block type`)
  }
})

t.test('a decompression bomb is refused at the kernel buffer size', async (t) => {
  const bomb = zlib.deflateRawSync(Buffer.alloc(50_000_000))
  t.ok(bomb.length < 100_000, `50 MB of zeros deflate to ${bomb.length} bytes`)
  const r = decompress('zlib-raw-15', bomb, 3 * 4084)
  t.equal(r.ok, false)
  t.match(r, { ok: false, reason: /12252/ }, 'the error names the 12252-byte limit (3 × bufsize 4084)')
  const c = decompress('crypto-deflate-11', bomb, 9075)
  t.match(c, { ok: false, reason: /9075/ })
  const wrappedBomb = zlib.deflateSync(Buffer.alloc(50_000_000), { windowBits: 12 })
  t.match(decompress('zlib-wrapped-12', wrappedBomb, 9075), { ok: false, reason: /9075/ })
})

t.test('inflated size exactly at the limit is accepted, one byte over is not', async (t) => {
  const part = text.subarray(0, 1000)
  for (const flavour of FLAVOURS) {
    const z = compress(flavour, part, 1 << 20)!
    const exact = decompress(flavour, z, 1000)
    t.ok(exact.ok && exact.data.equals(part), `${flavour}: 1000 bytes into 1000`)
    t.equal(decompress(flavour, z, 999).ok, false, `${flavour}: 1000 bytes into 999`)
  }
})

t.test('compress refuses what does not fit', async (t) => {
  const random = noise(4000, 99)
  for (const flavour of FLAVOURS) {
    t.equal(compress(flavour, random, 100), undefined, `${flavour}: 4000 random bytes do not fit 100`)
    t.equal(compress(flavour, text, 1000), undefined, `${flavour}: the 27652-byte log does not fit 1000`)
  }
  t.ok(compress('zlib-raw-15', random, 1 << 20), '6.6+: no "not smaller" check')
  t.ok(compress('crypto-deflate-11', random, 1 << 20), 'crypto API: no "not smaller" check')
  t.equal(compress('zlib-wrapped-12', random, 1 << 20), undefined, '3.11-4.16: output not smaller than input → plain text')
})

t.test('scratch buffer and read limits (zbufsize_deflate, 6.6 sizing)', async (t) => {
  // 6.6+: bufsize · 100 / 60; read limit 3 · bufsize
  t.equal(scratchBufferSize('zlib-raw-15', 4084), 6806)
  t.equal(inflateLimit('zlib-raw-15', 4084), 12252)
  t.equal(scratchBufferSize('zlib-raw-15', 33710), 56183)
  t.equal(inflateLimit('zlib-raw-15', 33710), 101130)
  // crypto era: ratio 56 (1000-2000), 54 (2001-3000), 52 (3001-3999), 45 (4000-10000), else 60
  const cases: Array<[number, number]> = [
    [999, 1665],
    [1000, 1785],
    [1500, 2678],
    [2000, 3571],
    [2001, 3705],
    [2500, 4629],
    [3000, 5555],
    [3001, 5771],
    [3500, 6730],
    [3999, 7690],
    [4000, 8888],
    [4084, 9075],
    [10000, 22222],
    [10001, 16668],
    [33710, 56183],
  ]
  for (const [bufsize, expected] of cases) {
    t.equal(scratchBufferSize('crypto-deflate-11', bufsize), expected, `crypto ${bufsize}`)
    t.equal(inflateLimit('crypto-deflate-11', bufsize), expected, `crypto read limit ${bufsize} = scratch size`)
  }
  t.equal(scratchBufferSize('zlib-wrapped-12', 4084), 9075, '3.11-4.16 used the same sizing')
})

t.test("crypto-deflate-11 accepts distances beyond the 2 KiB window within one output buffer, as the kernel's single zlib_inflate() call does", async (t) => {
  // random bytes, then a copy of 3000 of them from 12000 bytes back: needs a 32 KiB window
  let seed = 42
  const rnd = (n: number) => Buffer.from(Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24))
  const a = rnd(15000)
  const data = Buffer.concat([a, a.subarray(12000, 15000), rnd(100)])
  const z = zlib.deflateRawSync(data, { windowBits: 15 })
  const r = decompress('crypto-deflate-11', z, 56183)
  t.ok(r.ok && r.data.equals(data), 'inflated in full (18100 bytes, past the 16 KiB mark)')
  const short = decompress('crypto-deflate-11', z, data.length - 1)
  t.notOk(short.ok, 'one byte short of the output buffer: refused')
})

t.test('a short text never compresses to a stream that starts with white space', async (t) => {
  for (const text of ['Panic#1 Part1\nfirst\nsecond\n', 'Shutdown#1 Part1\n<6>[    0.000001] x\n', 'Oops#1 Part1\n']) {
    for (const flavour of ['zlib-raw-15', 'crypto-deflate-11'] as const) {
      const out = compress(flavour, Buffer.from(text), 4096)!
      t.notOk(
        [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0].includes(out[0]),
        `${flavour} ${JSON.stringify(text.slice(0, 8))}: first byte 0x${out[0].toString(16)}`,
      )
      t.equal(zlib.inflateRawSync(out).toString(), text, 'and any inflater reads it back')
    }
  }
})

// Memory after failed inflates: bounded

// the probe runs without tap's per-process hook (helpers/mount.ts): a clean Node
runProductsUninstrumented()

const compressionJs = await sourceBundle('pstore/compression.ts')

// In its own process, with --expose-gc: the figures are then this loop's alone.
const probe = `
const { decompress } = await import(${JSON.stringify(compressionJs)})
const zlib = await import('node:zlib')
const good = zlib.deflateRawSync(Buffer.from('a line of kernel log text\\n'.repeat(120)))
const inputs = [
  Buffer.from([0x0b, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a]), // invalid block type
  good.subarray(0, good.length - 9), // truncated
  Buffer.concat([good.subarray(0, 20), Buffer.alloc(40, 0xa5)]), // corrupt tail
]
let failures = 0
const run = (n) => { for (let i = 0; i < n; i++) if (!decompress('zlib-raw-15', inputs[i % 3], 12252).ok) failures++ }
run(1000)
globalThis.gc(); const before = process.memoryUsage()
run(10000)
await new Promise((r) => setTimeout(r, 50)); globalThis.gc()
const after = process.memoryUsage()
console.log(JSON.stringify({ failures, rss: after.rss - before.rss, external: after.external - before.external, heap: after.heapUsed - before.heapUsed }))
`

t.test('10,000 failed inflates: memory stays bounded', async (t) => {
  const r = spawnSync(...productCommand(process.execPath, ['--expose-gc', '--input-type=module', '-e', probe]), { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const m = JSON.parse(r.stdout) as { failures: number; rss: number; external: number; heap: number }
  t.equal(m.failures, 11000, 'every inflate failed')
  const MB = 1024 * 1024
  // Generous bounds (RSS keeps freed heap pages): the leak was ~117 MB of external memory.
  t.ok(m.external < 8 * MB, `external memory grew ${(m.external / MB).toFixed(1)} MB`)
  t.ok(m.heap < 8 * MB, `heap grew ${(m.heap / MB).toFixed(1)} MB`)
  t.ok(m.rss < 64 * MB, `RSS grew ${(m.rss / MB).toFixed(1)} MB`)
})
