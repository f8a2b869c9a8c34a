/**
 * Region layout (docs/ramoops-format.md §2, ramoops_probe + ramoops_init_przs) and zone geometry (docs/ramoops-format.md §4.4).
 * All offsets and sizes below are computed by hand from the steps in docs/ramoops-format.md §2.
 */
import t from 'tap'
import { computeLayout, type RegionLayout, type ZoneGeometry, zoneGeometry } from '../../src/backend/ramoops/layout.js'
import { fromDts, fromModuleParams, ProbeError, type RamoopsSetup } from '../../src/backend/ramoops/ramoopsSetup.js'

const DBGC = 0x43474244

/** [type, index, offset, size] of every zone in region order. */
const summary = (layout: RegionLayout) => layout.zones.map((z) => [z.type, z.index, z.offset, z.size])

t.test('docs/ramoops-format.md §2 worked example: module params, 1 MiB, defaults, 4 CPUs, 6.2+', async (t) => {
  const config = fromModuleParams({ mem_size: 0x100000 }, { cpus: 4, kernel: '6.2.0' })
  const layout = computeLayout(config)
  // dump area = 0x100000 - 3 x 4096 = 1036288 = 253 x 4096
  t.equal(layout.dmesg.length, 253)
  for (const [i, zone] of layout.dmesg.entries()) {
    if (zone.offset !== i * 4096 || zone.size !== 4096 || zone.sig !== DBGC || zone.zapOld || zone.index !== i) {
      t.fail(`dmesg zone ${i}: ${JSON.stringify(zone)}`)
    }
  }
  t.same([layout.dmesg[0].offset, layout.dmesg[252].offset, layout.dmesg[252].size], [0, 0xfc000, 4096], 'dmesg 0..252 × 4096')
  t.same(layout.console && [layout.console.offset, layout.console.size, layout.console.sig, layout.console.zapOld], [0xfd000, 4096, DBGC, true])
  t.same(layout.pmsg && [layout.pmsg.offset, layout.pmsg.size, layout.pmsg.sig, layout.pmsg.zapOld], [0xfe000, 4096, DBGC, true])
  t.same(
    layout.ftrace.map((z) => [z.index, z.offset, z.size, z.zapOld]),
    [
      [0, 0xff000, 1024, false],
      [1, 0xff400, 1024, false],
      [2, 0xff800, 1024, false],
      [3, 0xffc00, 1024, false],
    ],
  )
  // 6.2.0: LINUX_VERSION_CODE 0x060200; 0x43474244 ^ 0x060200
  t.same(
    layout.ftrace.map((z) => z.sig),
    [0x43414044, 0x43414044, 0x43414044, 0x43414044],
  )
  t.equal(layout.usedEnd, 0x100000, 'no tail')
  t.equal(layout.zones.length, 253 + 1 + 1 + 4)
  const offsets = layout.zones.map((z) => z.offset)
  t.same(
    offsets,
    [...offsets].sort((a, b) => a - b),
    'zones listed in region order',
  )
})

t.test('the same setup on 6.1: ftrace before pmsg', async (t) => {
  const layout = computeLayout(fromModuleParams({ mem_size: 0x100000 }, { cpus: 4, kernel: '6.1.0' }))
  t.equal(layout.dmesg.length, 253)
  t.same(summary(layout).slice(253), [
    ['console', 0, 0xfd000, 4096],
    ['ftrace', 0, 0xfe000, 1024],
    ['ftrace', 1, 0xfe400, 1024],
    ['ftrace', 2, 0xfe800, 1024],
    ['ftrace', 3, 0xfec00, 1024],
    ['pmsg', 0, 0xff000, 4096],
  ])
  // 6.1.0: 0x060100 → 0x43474244 ^ 0x060100
  t.equal(layout.ftrace[0].sig, 0x43414344)
  t.equal(layout.usedEnd, 0x100000)
})

t.test('ftrace signatures by version', async (t) => {
  const sig = (kernel: string) => computeLayout(fromModuleParams({ mem_size: 0x100000 }, { kernel })).ftrace[0].sig
  t.equal(sig('6.12.0'), 0x43414e44, 'docs/ramoops-format.md §3.2')
  t.equal(sig('6.6.0'), 0x43414444, 'docs/ramoops-format.md §3.2')
  t.equal(sig('4.19.0'), 0x43435144, 'docs/ramoops-format.md §3.2')
  t.equal(sig('6.1.192'), 0x43414384, 'the fixtures README: 0x0601C0 → 0x43414384')
  t.equal(sig('6.1.300'), 0x434143bb, 'sublevel clamped to 255: 0x0601FF')
})

t.test('dmesg zone size is dump_area / n, not record_size', async (t) => {
  const layout = computeLayout(fromModuleParams({ mem_size: 716800, record_size: 65536, console_size: 0, ftrace_size: 0, pmsg_size: 0 }))
  t.equal(layout.dmesg.length, 10, 'floor(716800 / 65536) = 10')
  t.same(
    layout.dmesg.map((z) => [z.offset, z.size]),
    Array.from({ length: 10 }, (_, i) => [i * 71680, 71680]),
    '10 zones of 71680',
  )
  t.equal(layout.usedEnd, 716800)
  t.equal(layout.console, undefined)
  t.equal(layout.pmsg, undefined)
  t.same(layout.ftrace, [])
})

t.test('odd zone sizes: rounded to even on 6.8+ and backported stable trees only', async (t) => {
  // 3 dmesg zones in 12291 bytes: 4097 each, odd
  const dmesgOnly = (kernel: string) =>
    computeLayout(fromModuleParams({ mem_size: 12291, record_size: 4096, console_size: 0, ftrace_size: 0, pmsg_size: 0 }, { kernel }))
  for (const kernel of ['6.8.0', '6.12.0', '6.1.192', '6.1.76', '6.6.15', '6.7.3', '5.15.148', '5.10.209']) {
    const l = dmesgOnly(kernel)
    t.same(
      summary(l),
      [
        ['dmesg', 0, 0, 4096],
        ['dmesg', 1, 4096, 4096],
        ['dmesg', 2, 8192, 4096],
      ],
      `${kernel}: 4097 & ~1 = 4096`,
    )
    t.equal(l.usedEnd, 12288, `${kernel}: 3 bytes of tail`)
  }
  for (const kernel of ['6.1.50', '6.1.75', '6.7.0', '6.7.2', '6.6.14', '6.5.0', '5.15.147', '5.4.0']) {
    const l = dmesgOnly(kernel)
    t.same(
      summary(l),
      [
        ['dmesg', 0, 0, 4097],
        ['dmesg', 1, 4097, 4097],
        ['dmesg', 2, 8194, 4097],
      ],
      `${kernel}: odd size kept`,
    )
    t.equal(l.usedEnd, 12291, `${kernel}: no tail`)
  }
  // per-CPU ftrace: 4096 / 3 = 1365 (odd)
  const ftrace = (kernel: string) =>
    computeLayout(fromModuleParams({ mem_size: 0x2000, record_size: 0, console_size: 0, pmsg_size: 0, ftrace_size: 4096 }, { kernel, cpus: 3 }))
  t.same(summary(ftrace('6.8.0')), [
    ['ftrace', 0, 0, 1364],
    ['ftrace', 1, 1364, 1364],
    ['ftrace', 2, 2728, 1364],
  ])
  t.equal(ftrace('6.8.0').usedEnd, 4092)
  t.same(summary(ftrace('6.7.0')), [
    ['ftrace', 0, 0, 1365],
    ['ftrace', 1, 1365, 1365],
    ['ftrace', 2, 2730, 1365],
  ])
  t.equal(ftrace('6.7.0').usedEnd, 4095)
  // console and pmsg sizes are powers of two: never odd, never touched
})

t.test('unused tail: the a-panic fixture setup (6.1.192)', async (t) => {
  const config = fromModuleParams(
    { mem_address: 0x8000000, mem_size: 0x100000, record_size: 0x8000, console_size: 0x8000, ftrace_size: 0, pmsg_size: 0x1000, ecc: 0 },
    { kernel: '6.1.192' },
  )
  const layout = computeLayout(config)
  // dump area 1048576 - 32768 - 4096 = 1011712; n = 30; 1011712 / 30 = 33723 → even 33722
  t.equal(layout.dmesg.length, 30)
  t.same([layout.dmesg[0].size, layout.dmesg[29].offset], [33722, 29 * 33722])
  t.same([layout.console!.offset, layout.console!.size], [0xf6fcc, 0x8000], 'as the fixture analysis shows')
  t.same([layout.pmsg!.offset, layout.pmsg!.size], [0xfefcc, 0x1000])
  t.same(layout.ftrace, [])
  t.equal(layout.usedEnd, 1048524, 'end of zones')
  t.equal(config.memSize - layout.usedEnd, 52, '52 unused bytes at the end')
})

const dtsSetup = (kernel: string): RamoopsSetup =>
  fromDts(
    `/dts-v1/;
/ {
	#address-cells = <2>;
	#size-cells = <2>;
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 0x0 0x100000>;
			record-size = <0x4000>;
			console-size = <0x8000>;
			ftrace-size = <0x2000>;
			pmsg-size = <0x2000>;
		};
	};
};
`,
    { kernel, cpus: 4 },
  )

t.test('device-tree setups: a single ftrace zone whatever the CPU count', async (t) => {
  // dump area = 0x100000 - 0x8000 - 0x2000 - 0x2000 = 999424 = 61 × 16384
  const l61 = computeLayout(dtsSetup('6.1.192'))
  t.equal(l61.dmesg.length, 61)
  t.same([l61.dmesg[60].offset, l61.dmesg[60].size], [60 * 16384, 16384])
  t.same(summary(l61).slice(61), [
    ['console', 0, 0xf4000, 0x8000],
    ['ftrace', 0, 0xfc000, 0x2000],
    ['pmsg', 0, 0xfe000, 0x2000],
  ])
  t.equal(l61.ftrace[0].sig, 0x43414384)
  t.equal(l61.usedEnd, 0x100000)

  const l612 = computeLayout(dtsSetup('6.12.0'))
  t.equal(l612.dmesg.length, 61)
  t.same(summary(l612).slice(61), [
    ['console', 0, 0xf4000, 0x8000],
    ['pmsg', 0, 0xfc000, 0x2000],
    ['ftrace', 0, 0xfe000, 0x2000],
  ])
  t.equal(l612.ftrace[0].sig, 0x43414e44)
  t.equal(l612.usedEnd, 0x100000)

  // a DT setup that leaves a tail: record-size 0x6000 is rounded to 0x4000; mem 0x13345
  const tail = computeLayout(
    fromDts(
      '/ { reserved-memory { #address-cells = <1>; #size-cells = <1>; ramoops@0 { compatible = "ramoops"; reg = <0x0 0x13345>; record-size = <0x6000>; console-size = <0x1000>; }; }; };',
      { kernel: '6.12.0' },
    ),
  )
  // dump area 0x12345 = 74565; n = 4; 74565 / 4 = 18641 → even 18640; console at 4 × 18640 = 74560
  t.same(summary(tail), [
    ['dmesg', 0, 0, 18640],
    ['dmesg', 1, 18640, 18640],
    ['dmesg', 2, 37280, 18640],
    ['dmesg', 3, 55920, 18640],
    ['console', 0, 74560, 0x1000],
  ])
  t.equal(tail.usedEnd, 78656)
  t.equal(0x13345 - tail.usedEnd, 5, '1 byte of division remainder + 4 bytes of even-rounding (1 per zone), all at the end')
})

t.test('disabled zone types take no space', async (t) => {
  const l = computeLayout(fromModuleParams({ mem_size: 0x10000, record_size: 0, console_size: 0x1000, ftrace_size: 0, pmsg_size: 0x1000 }))
  t.same(summary(l), [
    ['console', 0, 0, 0x1000],
    ['pmsg', 0, 0x1000, 0x1000],
  ])
  t.equal(l.usedEnd, 0x2000)
})

t.test('"no room" and zero-count failures', async (t) => {
  t.throws(
    () => computeLayout(fromModuleParams({ mem_size: 8192 })),
    { name: 'ProbeError', message: /no room/ },
    'console+ftrace+pmsg (12288) > mem_size (8192)',
  )
  t.throws(
    () => computeLayout(fromModuleParams({ mem_size: 16384, record_size: 8192 })),
    { name: 'ProbeError', message: /record count == 0/ },
    '4096 bytes left for 8192-byte records',
  )
  t.throws(() => computeLayout(fromModuleParams({ mem_size: 0x1000, record_size: 0, console_size: 0x2000, ftrace_size: 0, pmsg_size: 0 })), {
    name: 'ProbeError',
    message: /no room/,
  })
  t.throws(
    () => computeLayout(fromModuleParams({ mem_size: 0x2000, record_size: 0, console_size: 0x1000, ftrace_size: 4, pmsg_size: 0 }, { cpus: 8 })),
    { name: 'ProbeError', message: /zone size == 0/ },
    'ftrace 4 bytes over 8 CPUs',
  )
  t.throws(
    () => computeLayout(fromModuleParams({ mem_size: 0x100, record_size: 0, console_size: 32, ftrace_size: 0, pmsg_size: 0, ecc: 16 })),
    { name: 'ProbeError', message: /console zone 0: invalid ecc_size/ },
    'a 32-byte zone: R = 20, K = 1, P = 32 >= R',
  )
  t.doesNotThrow(
    () => computeLayout(fromModuleParams({ mem_size: 0x100, record_size: 0, console_size: 64, ftrace_size: 0, pmsg_size: 0, ecc: 16 })),
    'a 64-byte zone: R = 52, K = 1, P = 32 < R',
  )
  t.throws(() => computeLayout(fromModuleParams({ mem_size: 2 ** 20, record_size: 2 ** 30 })), ProbeError, 'record_size larger than the region')
})

t.test('zoneGeometry: docs/ramoops-format.md §4.4 table', async (t) => {
  const g = (z: number, e: number) => zoneGeometry(z, e, 128) as ZoneGeometry
  t.same(g(4096, 0), { capacity: 4084, eccBlocks: 0, parityOffset: 4096, headerParityOffset: 4096 })
  t.same(g(4096, 16), { capacity: 3604, eccBlocks: 29, parityOffset: 3616, headerParityOffset: 4080 })
  t.same(g(1024, 16), { capacity: 884, eccBlocks: 7, parityOffset: 896, headerParityOffset: 1008 })
  t.same(g(2048, 16), { capacity: 1780, eccBlocks: 15, parityOffset: 1792, headerParityOffset: 2032 })
  t.same(g(65536, 16), { capacity: 58228, eccBlocks: 455, parityOffset: 58240, headerParityOffset: 65520 })
  for (const [z, e] of [
    [4096, 16],
    [1024, 16],
    [2048, 16],
    [65536, 16],
  ]) {
    const geo = g(z, e)
    t.equal(geo.headerParityOffset + e, z, `${z}/${e}: the zone is used to its last byte`)
  }
  // a-panic's dmesg zone: 33722 - 12
  t.equal(g(33722, 0).capacity, 33710)
  t.type(zoneGeometry(12, 0, 128), 'string', 'a 12-byte zone has no data area')
  t.type(zoneGeometry(100, 64, 128), 'string', 'R = 88, K = 1, P = 128 ≥ 88: refused')
})
