/**
 * The dmesg record header (docs/ramoops-format.md §6.2 step 4, §6.4 step 2): ramoops_write_kmsg_hdr() and the
 * vsscanf-based ramoops_read_kmsg_hdr(), which tries `====%lld.%lu-%c\n%n`, then `====%lld.%lu\n%n`.
 * Kernel vsscanf rules used below (lib/vsprintf.c): white space in the format matches any amount
 * of white space (none included); numeric conversions skip leading white space; %c and %n do not;
 * only signed conversions accept '-'; a conversion at the end of the input fails.
 */
import t from 'tap'
import { formatDmesgHeader, parseDmesgHeader } from '../../src/format/dmesgHeader.js'

const parse = (s: string | Buffer) => parseDmesgHeader(typeof s === 'string' ? Buffer.from(s, 'latin1') : s)
const h = (sec: bigint, nsec: bigint, compressed: boolean, length: number) => ({ sec, nsec, compressed, length })

t.test('the header the kernel writes', async (t) => {
  t.same(parse('====1700000000.012345-D\nPanic#1 Part1\n'), h(1700000000n, 12345000n, false, 24))
  t.same(parse('====1704067210.305249-C\n\xda\xbd'), h(1704067210n, 305249000n, true, 24), 'a-panic fixture header, compressed')
  t.same(parse('====0.000000-D\nx'), h(0n, 0n, false, 15))
})

t.test('microseconds take any number of digits', async (t) => {
  t.same(parse('====12.5678-D\nx'), h(12n, 5678000n, false, 14), '5678 means 5678 µs, not 0.5678 s')
  t.same(parse('====12.000005678-D\nx'), h(12n, 5678000n, false, 19), 'leading zeros')
  t.same(parse('====12.5-D\nx'), h(12n, 5000n, false, 11))
  t.same(parse('====1.1234567-D\nx'), h(1n, 1234567000n, false, 16), 'more than 6 digits: nsec may exceed one second')
})

t.test('white space before the numbers is skipped', async (t) => {
  t.same(parse('==== 12. 34-D\nx'), h(12n, 34000n, false, 14), 'after ==== and after the dot')
  t.same(parse('====\t\n12.\r34-C\nx'), h(12n, 34000n, true, 15))
  // white space between the digits and the dot does not match the literal '.'
  t.same(parse('====12 .34-D\nx'), h(0n, 0n, false, 0))
  // nor between the digits and the '-'
  t.same(
    parse('====12.34 -D\nx'),
    h(12n, 34000n, false, 10),
    'first format fails at "-"; the old format matches "====12.34" then any white space (here one space)',
  )
})

t.test('-X for any X: compressed only for C', async (t) => {
  t.same(parse('====1.000001-X\nabc'), h(1n, 1000n, false, 15))
  t.same(parse('====1.000001-c\nabc'), h(1n, 1000n, false, 15), 'lower-case c is not C')
  t.same(parse('====1.000001--\nabc'), h(1n, 1000n, false, 15))
  t.same(parse('====1.000001-\n\nabc'), h(1n, 1000n, false, 15), '%c takes the newline itself; the next newline is the trailing white space')
  t.same(parse('====1.000001- abc'), h(1n, 1000n, false, 14), '%c does not skip white space: a space is the type')
})

t.test('the newline is optional', async (t) => {
  t.same(parse('====1.000002-Cabc'), h(1n, 2000n, true, 14), 'payload right after the type character')
})

t.test('old header without -C/-D (3.10: ====%lu.%lu\\n)', async (t) => {
  t.same(parse('====1700000000.5\nPanic'), h(1700000000n, 5000n, false, 17))
  t.same(parse('====1.2xyz'), h(1n, 2000n, false, 7), 'any ====N.N prefix is a header; nothing after it is consumed')
  t.same(parse('====3.4'), h(3n, 4000n, false, 7), 'at the very end of the buffer')
})

t.test('all trailing white space is consumed, payload bytes included', async (t) => {
  t.same(parse('====1.000002-C\n\r\t \x0b\x0cpayload'), h(1n, 2000n, true, 20))
  const payload = Buffer.from([0x0d, 0x20, 0x78, 0x9c])
  const buf = Buffer.concat([Buffer.from('====1.000002-C\n', 'latin1'), payload])
  t.same(parseDmesgHeader(buf), h(1n, 2000n, true, 17), 'a compressed stream starting 0x0D 0x20 loses two bytes')
  // lib/ctype.c classes 0xA0 (Latin-1 NBSP) as white space too
  t.same(parse('====1.000002-C\n\xa0\x78'), h(1n, 2000n, true, 16))
  // other control bytes are not white space
  t.same(parse('====1.000002-C\n\x00\x01'), h(1n, 2000n, true, 15))
  t.same(parse('====1.000002-C\n\x1c'), h(1n, 2000n, true, 15))
  // a payload made only of white space is eaten whole
  t.same(parse('====1.000002-D\n   \n'), h(1n, 2000n, false, 19))
})

t.test('negative seconds', async (t) => {
  t.same(parse('====-5.000001-D\nx'), h(-5n, 1000n, false, 16))
  t.same(parse('====-1700000000.999999-D\nx'), h(-1700000000n, 999999000n, false, 25))
  t.same(parse('====- 5.000001-D\nx'), h(0n, 0n, false, 0), 'the sign must be followed by a digit')
  t.same(parse('====5.-1-D\nx'), h(0n, 0n, false, 0), 'unsigned %lu takes no sign: only 1 conversion')
  t.same(parse('====+5.000001-D\nx'), h(0n, 0n, false, 0), 'no plus sign')
})

t.test('no header → length 0', async (t) => {
  for (const s of ['', 'hello', '===1.000001-D\n', '====', '====.5-D\n', '====1-D\n', '====1.', '====1.x-D\n', ' ====1.000001-D\n', '====x1.2-D\n']) {
    t.same(parse(s), h(0n, 0n, false, 0), JSON.stringify(s))
  }
  t.same(parseDmesgHeader(Buffer.from([0x78, 0x9c, 0x01, 0x02])), h(0n, 0n, false, 0), 'binary garbage')
})

t.test('a header at the very end of the buffer', async (t) => {
  t.same(parse('====5.000001-D'), h(5n, 1000n, false, 14), 'type character is the last byte: 3 conversions, length = whole buffer')
  t.same(parse('====5.000001-D\n'), h(5n, 1000n, false, 15))
  // "-" is the last byte: %c fails at the end, the old format then matches "====5.000001"
  t.same(parse('====5.000001-'), h(5n, 1000n, false, 12))
  t.same(parse('====5.000001'), h(5n, 1000n, false, 12))
})

t.test('formatDmesgHeader: ====%lld.%06lu-%c\\n', async (t) => {
  t.equal(formatDmesgHeader(1700000000, 12345000, false), '====1700000000.012345-D\n')
  t.equal(formatDmesgHeader(1704067210, 305249000, true), '====1704067210.305249-C\n')
  t.equal(formatDmesgHeader(0, 0, true), '====0.000000-C\n')
  t.equal(formatDmesgHeader(5, 999999999, false), '====5.999999-D\n', 'nsec / 1000, truncated')
  t.equal(formatDmesgHeader(5, 999, false), '====5.000000-D\n')
  t.equal(formatDmesgHeader(5, 1000, false), '====5.000001-D\n')
  t.equal(formatDmesgHeader(-3n, 1000, false), '====-3.000001-D\n', 'signed seconds')
  t.equal(formatDmesgHeader(12345678901234n, 7000, false), '====12345678901234.000007-D\n')
  // what the writer produces, the reader reads back
  const written = formatDmesgHeader(1704067210, 305249000, false)
  t.same(parse(written + 'Panic#1 Part1\n'), h(1704067210n, 305249000n, false, written.length))
})
