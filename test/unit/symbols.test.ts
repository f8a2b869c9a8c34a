import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { formatUnknownAddress, SymbolTable } from '../../src/pstore/symbols.js'
import { systemMapPath } from '../helpers/fixtures.js'

// A miniature System.map in `nm -n` order, with the features kallsyms cares about.
const MAP = [
  '0000000000000000 D __per_cpu_start', // data, outside text: not a kallsyms symbol
  '0000000000001000 A phys_startup_64', // absolute: ignored
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T _text',
  'ffffffff81000000 T startup_64', // alias run: fewest leading underscores wins
  'ffffffff81000100 W weak_fn', // weak sorts after the strong alias
  'ffffffff81000100 t strong_fn',
  'ffffffff81000200 T __start_thing', // looks linker-provided: sorts after the other alias
  'ffffffff81000200 T real_thing',
  'ffffffff81000300 t local_fn',
  'ffffffff81000340 T last_text_fn',
  'ffffffff81000400 T __text_end_marker', // same address as _etext: dropped
  'ffffffff81000400 T _etext',
  'ffffffff81100000 D some_data', // between the ranges: not kallsyms
  'ffffffff81200000 T _sinittext',
  'ffffffff81200000 T early_init_fn',
  'ffffffff81200080 t init_helper',
  'ffffffff81200100 T _einittext',
  'ffffffff81300000 B _end',
  '',
].join('\n')

t.test('parses System.map and keeps what kallsyms keeps', async (t) => {
  const st = SymbolTable.parseSystemMap(MAP, 'mini.map')
  t.same(
    st.symbols.map((s) => s.name),
    [
      'startup_64',
      '_stext',
      '_text',
      'strong_fn',
      'weak_fn',
      'real_thing',
      '__start_thing',
      'local_fn',
      'last_text_fn',
      '_etext',
      'early_init_fn',
      '_sinittext',
      'init_helper',
      '_einittext',
    ],
  )
  const byName = new Map(st.symbols.map((s) => [s.name, s]))
  t.equal(byName.get('startup_64')?.size, 0x100n, 'size = distance to the next higher address')
  t.equal(byName.get('_text')?.size, 0x100n)
  t.equal(byName.get('last_text_fn')?.size, 0xc0n, 'last text symbol ends at _etext')
  t.equal(byName.get('init_helper')?.size, 0x80n, 'last init symbol ends at _einittext')
  t.notOk(byName.has('some_data'))
  t.notOk(byName.has('__per_cpu_start'))
  t.notOk(byName.has('phys_startup_64'))
  t.notOk(byName.has('__text_end_marker'))
})

t.test('lookup at a symbol start, inside, before the first, after the last', async (t) => {
  const st = SymbolTable.parseSystemMap(MAP, 'mini.map')
  t.same(st.lookup(0xffffffff81000000n), { name: 'startup_64', offset: 0n, size: 0x100n }, 'alias run start')
  t.same(st.lookup(0xffffffff810000ffn), { name: 'startup_64', offset: 0xffn, size: 0x100n })
  t.same(st.lookup(0xffffffff81000100n), { name: 'strong_fn', offset: 0n, size: 0x100n }, 'strong beats weak')
  t.same(st.lookup(0xffffffff81000234n), { name: 'real_thing', offset: 0x34n, size: 0x100n })
  t.same(st.lookup(0xffffffff81000310n), { name: 'local_fn', offset: 0x10n, size: 0x40n })
  t.same(st.lookup(0xffffffff810003ffn), { name: 'last_text_fn', offset: 0xbfn, size: 0xc0n })
  t.same(st.lookup(0xffffffff812000a0n), { name: 'init_helper', offset: 0x20n, size: 0x80n })
  t.equal(st.lookup(0xffffffff80ffffffn), undefined, 'before the first symbol')
  t.equal(st.lookup(0n), undefined)
  t.equal(st.lookup(0xffffffff81000400n), undefined, '_etext itself is outside [_stext, _etext)')
  t.equal(st.lookup(0xffffffff81100000n), undefined, 'data symbols do not resolve')
  t.equal(st.lookup(0xffffffff81200100n), undefined, 'at _einittext')
  t.equal(st.lookup(0xffffffffffffffffn), undefined, 'after the last')
  t.throws(() => st.lookup(-1n), RangeError)
  t.throws(() => st.lookup(1n << 64n), RangeError)
})

t.test('%ps and %pS formatting', async (t) => {
  const st = SymbolTable.parseSystemMap(MAP)
  t.equal(st.formatShort(0xffffffff81000310n), 'local_fn')
  t.equal(st.formatLong(0xffffffff81000310n), 'local_fn+0x10/0x40')
  t.equal(st.formatLong(0xffffffff81000300n), 'local_fn+0x0/0x40', "the kernel's %#lx prints 0 as 0x0")
  t.equal(st.formatShort(0xffffffff81100000n), '0xffffffff81100000', 'unknown: 0x%lx')
  t.equal(st.formatLong(0x1234n), '0x1234', 'unknown: no padding')
  t.equal(st.formatLong(0n), '0x0')
  t.equal(formatUnknownAddress(0xabcn), '0xabc')
})

t.test('CONFIG_KALLSYMS_ALL keeps data symbols', async (t) => {
  const st = SymbolTable.parseSystemMap(MAP, 'mini.map', { allSymbols: true })
  t.same(st.lookup(0xffffffff81100010n), { name: 'some_data', offset: 0x10n, size: 0x100000n })
  t.equal(st.formatLong(0xffffffff812ffff0n), '_einittext+0xffef0/0xfff00', 'up to _end')
  t.equal(st.lookup(0xffffffff81300000n), undefined, 'at _end')
  t.throws(() => SymbolTable.parseSystemMap('ffffffff81000000 T foo\n', 'x.map', { allSymbols: true }), /x\.map: _stext or _end/)
})

t.test('maps without _stext/_etext: text symbols, the last one closes the range', async (t) => {
  const st = SymbolTable.parseSystemMap(['c0008000 T alpha', 'c0008040 t beta', 'c0009000 D data_obj', 'c0008100 T end_marker'].join('\r\n'))
  t.same(
    st.symbols.map((s) => [s.name, s.size]),
    [
      ['alpha', 0x40n],
      ['beta', 0xc0n],
      ['end_marker', 0n],
    ],
  )
  t.equal(st.formatLong(0xc0008044n), 'beta+0x4/0xc0')
  t.equal(st.formatShort(0xc0008100n), '0xc0008100')
  t.equal(st.formatShort(0xc0007fffn), '0xc0007fff')
})

t.test('bad input: clear errors with file name and line number', async (t) => {
  t.throws(() => SymbolTable.parseSystemMap('ffffffff81000000 T _stext\nnot a symbol line\n', 'bad.map'), {
    message: /^bad\.map:2: malformed System\.map line "not a symbol line"/,
  })
  t.throws(() => SymbolTable.parseSystemMap('ffffffff81000000 T\n', 'bad.map'), { message: /^bad\.map:1: malformed/ })
  t.throws(() => SymbolTable.parseSystemMap('xyz T foo\n', 'bad.map'), { message: /^bad\.map:1: malformed/ })
  t.throws(() => SymbolTable.parseSystemMap('\n\nffffffff81000000 TT foo\n', 'bad.map'), { message: /^bad\.map:3: / })
  t.throws(() => SymbolTable.parseSystemMap('ffffffff81000000 T foo bar\n', 'bad.map'), { message: /^bad\.map:1: / })
  t.throws(() => SymbolTable.parseSystemMap('1ffffffff81000000 T foo\n', 'bad.map'), { message: /^bad\.map:1: .*64 bits/ })
  t.throws(() => SymbolTable.parseSystemMap('\n  \n', 'empty.map'), { message: /^empty\.map: no symbols/ })
  t.throws(() => SymbolTable.parseSystemMap('garbage'), { message: /^System\.map:1: / }, 'default file name')

  const dir = await mkdtemp(path.join(os.tmpdir(), 'symbols-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const bad = path.join(dir, 'System.map')
  await writeFile(bad, 'ffffffff81000000 T _stext\nffffffff81000010 T ok\n\x00\x01binary\n')
  await t.rejects(SymbolTable.load(bad), { message: new RegExp(`^${bad.replace(/[.]/g, '\\.')}:3: malformed`) })
  const missing = path.join(dir, 'nope.map')
  await t.rejects(SymbolTable.load(missing), { message: new RegExp(`cannot read symbol map ${missing.replace(/[.]/g, '\\.')}`) })
  const good = path.join(dir, 'good.map')
  await writeFile(good, MAP)
  t.equal((await SymbolTable.load(good)).formatShort(0xffffffff81000000n), 'startup_64')
})

t.test('the kernel-6.1-custom System.map', async (t) => {
  const st = await SymbolTable.load(systemMapPath())
  t.same(st.lookup(0xffffffff81157433n), { name: 'persistent_ram_write', offset: 0x3an, size: 0xc5n })
  t.equal(st.formatLong(0xffffffff81157433n), 'persistent_ram_write+0x3a/0xc5')
  t.equal(st.formatShort(0xffffffff8115710an), 'buffer_size_add')
  t.equal(st.formatShort(0xffffffff81000000n), 'startup_64', '_stext/_text/startup_64 alias: startup_64')
  t.equal(st.formatLong(0xffffffff816008e4n), '__SCT__tp_func_ma_write+0x4/0x8', 'last text symbol ends at _etext')
  t.equal(st.formatShort(0xffffffff816008e8n), '0xffffffff816008e8', '_etext and beyond: unknown')
  t.equal(st.formatShort(0xffffffff81800000n), '0xffffffff81800000', 'rodata: unknown without KALLSYMS_ALL')
  t.equal(st.formatLong(0xffffffff81b34923n), 'vmemmap_populate_print_last+0x0/0x1', 'weak init symbol up to _einittext')
  t.equal(st.formatLong(0xffffffff81b09000n), 'early_idt_handler_array+0x0/0x120')
  t.notOk(
    st.symbols.some((s) => s.name === '__static_call_text_end'),
    'symbol at _etext dropped',
  )
  // 18636 System.map lines fall in [_stext, _etext] or [_sinittext, _einittext], minus the one on _etext
  t.equal(st.symbols.length, 18635)
})
