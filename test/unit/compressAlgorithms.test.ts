/**
 * pstore.compress= as the kernels 4.19–6.5 run it (fs/pstore/platform.c of 6.1): the text each
 * algorithm's big_oops_buf_sz lets in, the -D fallback where the compressed part does not fit
 * psinfo->bufsize (the header, then the newest bufsize − header bytes), which kernels take which
 * algorithm, and where the choice comes from (--compress, -o compress=, pstore.compress= on the
 * command line, blk and ERST setups).
 */
import t from 'tap'
import { fromCmdline, fromModuleParams } from '../../src/backend/ramoops/ramoopsSetup.js'
import { resolveSetup } from '../../src/backend/setup.js'
import { parseMountOptionList } from '../../src/cli/mountOptions.js'
import { type CompressAlgorithm, parseKernelVersion } from '../../src/format/kernelVersion.js'
import { decompress, scratchBufferSize } from '../../src/pstore/compression.js'
import { buildDumpPart, type DumpInput, formatSyslogRecord } from '../../src/pstore/kmsgDumper.js'

const ALGORITHMS: CompressAlgorithm[] = ['deflate', 'lzo', 'lz4', 'lz4hc', '842', 'zstd']
const BUFSIZE = 33710

/** xorshift32: the same "random" log on every run. */
function random(seed: number): () => number {
  let s = seed
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
