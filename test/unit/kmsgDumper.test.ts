/**
 * pstore's kmsg dumper (docs/ramoops-format.md §6.1; fs/pstore/platform.c pstore_dump, kernel/printk
 * kmsg_dump_get_buffer): the `<Reason>#<n> Part1` line, the newest whole records that fit into
 * (buffer − line − 1) bytes, syslog-formatted log lines, and the reason filter.
 */

import zlib from 'node:zlib'
import t from 'tap'
import {
  buildDumpPart,
  dumpParts,
  formatConsoleRecord,
  formatSyslogRecord,
  logFromText,
  newestRecordsThatFit,
  REASON_NAMES,
  reasonIsDumped,
} from '../../src/pstore/kmsgDumper.js'

const TIME = { sec: 1704067210, nsec: 305249000 }

/** Ten 30-byte records: `<6>[    1.00000N] record N....\n`. */
const records = Array.from({ length: 10 }, (_, i) => `<6>[    1.00000${i}] record ${i}...\n`)

t.test('test records are what they claim', async (t) => {
  t.equal(records[0], '<6>[    1.000000] record 0...\n')
  t.ok(records.every((r) => r.length === 30))
})

t.test('newestRecordsThatFit: whole records, newest first, into room − 1 bytes', async (t) => {
  t.equal(newestRecordsThatFit(records, 301), records.join(''), '300 bytes fit into 301 − 1')
  t.equal(newestRecordsThatFit(records, 300), records.slice(1).join(''), '300 do not fit into 299: the oldest is dropped')
  t.equal(newestRecordsThatFit(records, 91), records.slice(7).join(''), '90 bytes = 3 newest records')
  t.equal(newestRecordsThatFit(records, 90), records.slice(8).join(''))
  t.equal(newestRecordsThatFit(records, 31), records[9])
  t.equal(newestRecordsThatFit(records, 30), '', 'not even the newest record fits: nothing')
  t.equal(newestRecordsThatFit(records, 0), '')
  t.equal(newestRecordsThatFit([], 1000), '')
  // a big record in the middle stops the walk: older small ones are not picked up past it
  const mixed = ['<6>[    0.000001] a\n', '<6>[    0.000002] ' + 'x'.repeat(100) + '\n', '<6>[    0.000003] b\n']
  t.equal(newestRecordsThatFit(mixed, 50), mixed[2], 'contiguous block only')
})

t.test('the dump line: <Reason>#<oopscount> Part1', async (t) => {
  t.same(REASON_NAMES, { panic: 'Panic', oops: 'Oops', emergency: 'Emergency', shutdown: 'Shutdown' })
  const line = (reason: 'panic' | 'oops' | 'emergency' | 'shutdown', n: number) =>
    Buffer.from(buildDumpPart({ reason, oopsCount: n, log: records, bufsize: 4084, compress: false, flavour: 'zlib-raw-15', time: TIME })!.payload)
      .toString('latin1')
      .split('\n')[0]
  t.equal(line('panic', 1), 'Panic#1 Part1')
  t.equal(line('oops', 2), 'Oops#2 Part1')
  t.equal(line('emergency', 3), 'Emergency#3 Part1')
  t.equal(line('shutdown', 12), 'Shutdown#12 Part1')
})

t.test('uncompressed part: line + newest records fitting bufsize − line − 1', async (t) => {
  // line "Panic#1 Part1\n" is 14 bytes
  const build = (bufsize: number) =>
    buildDumpPart({ reason: 'panic', oopsCount: 1, log: records, bufsize, compress: false, flavour: 'crypto-deflate-11', time: TIME })!
  const all = build(315) // room 301 → 300 bytes fit
  t.same([all.part, all.compressed, all.time], [1, false, TIME])
  t.equal(Buffer.from(all.payload).toString('latin1'), 'Panic#1 Part1\n' + records.join(''))
  const nine = build(314) // room 300 → 299 bytes: nine records
  t.equal(Buffer.from(nine.payload).toString('latin1'), 'Panic#1 Part1\n' + records.slice(1).join(''))
  t.equal(nine.payload.length, 14 + 270)
  const two = build(14 + 61)
  t.equal(Buffer.from(two.payload).toString('latin1'), 'Panic#1 Part1\n' + records[8] + records[9])
  const none = build(14 + 30)
  t.equal(Buffer.from(none.payload).toString('latin1'), 'Panic#1 Part1\n', 'no record fits: the line alone')
})

t.test('an empty log gives no part', async (t) => {
  t.equal(buildDumpPart({ reason: 'panic', oopsCount: 1, log: [], bufsize: 4084, compress: true, flavour: 'zlib-raw-15', time: TIME }), undefined)
})

t.test('compressed part: the text comes from the bigger scratch buffer', async (t) => {
  // 200 records of 30 bytes = 6000 bytes; bufsize 4084.
  const log = Array.from({ length: 200 }, (_, i) => `<6>[ ${String(1000 + i).padStart(4)}.000000] rec ${String(i).padStart(3, '0')}....\n`)
  t.ok(log.every((r) => r.length === 30))
  // 6.6+: scratch 6806 → room 6806 − 14 − 1 = 6791 ≥ 6000: every record
  const p66 = buildDumpPart({ reason: 'oops', oopsCount: 1, log, bufsize: 4084, compress: true, flavour: 'zlib-raw-15', time: TIME })!
  t.equal(p66.compressed, true)
  t.ok(p66.payload.length <= 4084)
  t.equal(zlib.inflateRawSync(p66.payload).toString('latin1'), 'Oops#1 Part1\n' + log.join(''))
  // crypto era: scratch 9075 → all 6000 bytes too
  const p61 = buildDumpPart({ reason: 'oops', oopsCount: 1, log, bufsize: 4084, compress: true, flavour: 'crypto-deflate-11', time: TIME })!
  t.equal(p61.compressed, true)
  t.equal(zlib.inflateRawSync(p61.payload).toString('latin1'), 'Oops#1 Part1\n' + log.join(''))
  // a smaller zone: bufsize 2000 → 6.6 scratch 3333 → room 3333 − 13 − 1 = 3319 → 110 records (3300)
  const small = buildDumpPart({ reason: 'oops', oopsCount: 1, log, bufsize: 2000, compress: true, flavour: 'zlib-raw-15', time: TIME })!
  t.equal(zlib.inflateRawSync(small.payload).toString('latin1'), 'Oops#1 Part1\n' + log.slice(90).join(''))
  // crypto: 2000 → ratio 56 → 3571 → room 3571 − 13 − 1 = 3557 → 118 records (3540)
  const smallCrypto = buildDumpPart({ reason: 'oops', oopsCount: 1, log, bufsize: 2000, compress: true, flavour: 'crypto-deflate-11', time: TIME })!
  t.equal(zlib.inflateRawSync(smallCrypto.payload).toString('latin1'), 'Oops#1 Part1\n' + log.slice(82).join(''))
})

/** Incompressible printable records: 40 bytes each (`<6>` + 36 random printable characters + `\n`, as with printk.time=0). */
function randomRecords(count: number): string[] {
  let x = 12345
  const chars = '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~'
  return Array.from({ length: count }, (_, i) => {
    let s = ''
    for (let k = 0; k < 36; k++) {
      x = (x * 1103515245 + 12345) >>> 0
      s += chars[(x >>> 16) % chars.length]
    }
    return `<6>${s}\n`
  })
}

t.test('compression failure, crypto era: the line plus the last bytes of text', async (t) => {
  const log = randomRecords(30)
  t.ok(log.every((r) => r.length === 40))
  // bufsize 400 → scratch 400·100/60 = 666 → room 666 − 14 − 1 = 651 → 16 records (640 bytes)
  const text = log.slice(14).join('')
  const part = buildDumpPart({ reason: 'panic', oopsCount: 1, log, bufsize: 400, compress: true, flavour: 'crypto-deflate-11', time: TIME })!
  t.equal(part.compressed, false, '576 random characters do not deflate into 400 bytes')
  // copy_kmsg_to_buffer(): 14 + 640 > 400 → the line, then the last 400 − 14 = 386 bytes of text
  t.equal(Buffer.from(part.payload).toString('latin1'), 'Panic#1 Part1\n' + text.slice(640 - 386))
  t.equal(part.payload.length, 400)
})

t.test('compression failure, 6.6+: the first bufsize bytes of line + text', async (t) => {
  const log = randomRecords(30)
  // 6.6 scratch is also 666 → the same 16 records
  const text = 'Panic#1 Part1\n' + log.slice(14).join('')
  const part = buildDumpPart({ reason: 'panic', oopsCount: 1, log, bufsize: 400, compress: true, flavour: 'zlib-raw-15', time: TIME })!
  t.equal(part.compressed, false)
  t.equal(Buffer.from(part.payload).toString('latin1'), text.slice(0, 400), 'the newest lines are the ones lost')
})

t.test('logFromText: plain lines become KERN_INFO records 1 µs apart', async (t) => {
  t.same(logFromText('first line\nsecond line\n', 1), ['<6>[    0.000001] first line\n', '<6>[    0.000002] second line\n'])
  t.same(logFromText('no newline at end', 2_500_000), ['<6>[    2.500000] no newline at end\n'])
  t.same(logFromText('a\n\nb', 0), ['<6>[    0.000000] a\n', '<6>[    0.000001] \n', '<6>[    0.000002] b\n'], 'empty lines are records too')
  t.same(logFromText('x', 123456_789012), ['<6>[123456.789012] x\n'], 'seconds wider than 5 digits are not cut')
  t.same(logFromText('warn', 0, 4), ['<4>[    0.000000] warn\n'], 'level')
  // lines that already carry a syslog prefix are kept verbatim
  t.same(logFromText('<3>[   12.345678] boom\nplain\n<12>[    0.000001] from user\n', 5), [
    '<3>[   12.345678] boom\n',
    '<6>[    0.000006] plain\n',
    '<12>[    0.000001] from user\n',
  ])
  t.same(logFromText('<4>no time\n', 0), ['<4>no time\n'], 'prefix without time (printk.time=0)')
})

t.test('formatSyslogRecord and formatConsoleRecord', async (t) => {
  t.equal(formatSyslogRecord({ facility: 0, level: 6, uptimeUs: 3_340_123, text: 'hello' }), '<6>[    3.340123] hello\n')
  t.equal(formatSyslogRecord({ facility: 1, level: 4, uptimeUs: 0, text: 'user' }), '<12>[    0.000000] user\n', '/dev/kmsg: facility 1')
  t.equal(
    formatSyslogRecord({ facility: 0, level: 0, uptimeUs: 10_000_001, text: 'line one\nline two' }),
    '<0>[   10.000001] line one\n<0>[   10.000001] line two\n',
    'the prefix repeats on every line',
  )
  t.equal(formatConsoleRecord({ facility: 0, level: 6, uptimeUs: 3_340_123, text: 'hello' }), '[    3.340123] hello\n', 'console: no <P>')
  t.equal(formatConsoleRecord({ facility: 0, level: 6, uptimeUs: 99999_999999, text: 'a\nb' }), '[99999.999999] a\n[99999.999999] b\n')
})

t.test('reasonIsDumped: reason ≤ max_reason, max_reason 0 meaning Oops', async (t) => {
  const table: Array<[number, boolean, boolean, boolean, boolean]> = [
    // max_reason, panic, oops, emergency, shutdown
    [0, true, true, false, false],
    [1, true, false, false, false],
    [2, true, true, false, false],
    [3, true, true, true, false],
    [4, true, true, true, true],
    [5, true, true, true, true],
  ]
  for (const [max, panic, oops, emergency, shutdown] of table) {
    t.same(
      [reasonIsDumped('panic', max), reasonIsDumped('oops', max), reasonIsDumped('emergency', max), reasonIsDumped('shutdown', max)],
      [panic, oops, emergency, shutdown],
      `max_reason ${max}`,
    )
  }
})

t.test('dumpParts: part after part backwards through the log, until kmsg_bytes or the log ends', async (t) => {
  const base = { reason: 'oops' as const, oopsCount: 3, log: records, bufsize: 100, compress: false, flavour: 'zlib-raw-15' as const, time: TIME }
  // 100-byte parts: `Oops#3 Part1\n` is 13 bytes, 86 − 1 of room holds two 30-byte records.
  const all = dumpParts({ ...base, kmsgBytes: 10240 }, () => 'ok')
  t.equal(all.length, 5, 'ten records, two per part: five parts, then the log is used up')
  t.same(
    all.map(({ part }) => part.part),
    [1, 2, 3, 4, 5],
  )
  t.equal(Buffer.from(all[0].part.payload).toString('latin1'), 'Oops#3 Part1\n' + records[8] + records[9], 'part 1: the newest records')
  t.equal(Buffer.from(all[1].part.payload).toString('latin1'), 'Oops#3 Part2\n' + records[6] + records[7], 'part 2 ends where part 1 began')
  t.equal(Buffer.from(all[4].part.payload).toString('latin1'), 'Oops#3 Part5\n' + records[0] + records[1], 'the last part: the oldest records')

  // total counts the bytes handed over: 73 after part 1, 146 after part 2 ≥ 140.
  t.equal(dumpParts({ ...base, kmsgBytes: 140 }, () => 'ok').length, 2, 'kmsg_bytes 140 stops after part 2')
  t.equal(dumpParts({ ...base, kmsgBytes: 73 }, () => 'ok').length, 1, 'exactly reached after part 1: no part 2')
  t.equal(dumpParts({ ...base, kmsgBytes: 74 }, () => 'ok').length, 2, 'one byte short: part 2 is written')

  const answers: number[] = []
  const refused = dumpParts({ ...base, kmsgBytes: 10240 }, (part) => {
    answers.push(part.part)
    return part.part === 1 ? 'stored' : 'ENOSPC'
  })
  t.same(answers, [1, 2, 3, 4, 5], 'a refused part does not stop the loop (platform.c goes on after an error)')
  t.same(
    refused.map((r) => r.result),
    ['stored', 'ENOSPC', 'ENOSPC', 'ENOSPC', 'ENOSPC'],
  )
  t.same(
    dumpParts({ ...base, log: [], kmsgBytes: 10240 }, () => 'ok'),
    [],
    'an empty log: no part',
  )
  t.same(dumpParts({ ...base, kmsgBytes: 10240 }, () => 0)[0]?.part, buildDumpPart(base), 'part 1 is buildDumpPart()')
})

t.test('dumpParts: compressed parts count their compressed size', async (t) => {
  const long = Array.from({ length: 400 }, (_, i) => `<6>[    2.${String(i).padStart(6, '0')}] the same words again and again ${i}\n`)
  const parts = dumpParts(
    { reason: 'panic', oopsCount: 1, log: long, bufsize: 1024, compress: true, flavour: 'zlib-raw-15', time: TIME, kmsgBytes: 10240 },
    () => 0,
  )
  t.ok(parts.length > 1, 'more than one part')
  t.ok(
    parts.every(({ part }) => part.compressed),
    'every part compressed',
  )
  const text = parts.map(({ part }) => zlib.inflateRawSync(Buffer.from(part.payload)).toString('latin1'))
  t.match(text[0], /^Panic#1 Part1\n/)
  t.match(text[1], /^Panic#1 Part2\n/)
  t.ok(text[0].endsWith(long[399]), 'part 1 ends with the newest record')
  const firstOfPart1 = text[0].split('\n')[1] + '\n'
  t.ok(text[1].endsWith(long[long.indexOf(firstOfPart1) - 1]), 'part 2 ends with the record before part 1 began')
  const sizes = parts.map(({ part }) => part.payload.length)
  t.ok(sizes.slice(0, -1).reduce((a, b) => a + b, 0) < 10240, 'it went on while the compressed total was below kmsg_bytes')
})
