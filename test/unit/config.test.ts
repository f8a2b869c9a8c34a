/**
 * Configuration from module parameters, the kernel command line and a device tree, and the
 * probe-time normalisation (docs/ramoops-format.md §1; fs/pstore/ram.c ramoops_register_dummy, ramoops_parse_dt,
 * ramoops_probe). Every expected value is written out by hand from docs/ramoops-format.md and the kernel code.
 *
 * And the --dts reader on hostile input: it must parse or refuse every file in time linear in its
 * size. (The regex reader it replaced backtracked exponentially: 20 pairs of "" took over a
 * minute.) Each case runs in a child process that reports the parser's own CPU time, so a
 * regression fails on that bound however busy the machine is (a hang: the test's time limit).
 */
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { fromCmdline, fromDts, fromModuleParams, ProbeError, parseCmdline, parseDtsTree, parseKernelInteger } from '../../src/backend/ramoops/ramoopsSetup.js'
import { productCommand, runProductsUninstrumented } from '../helpers/mount.js'
import { sourceBundle } from '../helpers/sourceBundle.js'

t.test('module parameters: defaults (ramoops_register_dummy)', async (t) => {
  const c = fromModuleParams({ mem_size: 0x100000 })
  t.equal(c.source, 'module')
  t.equal(c.memAddress, 0)
  t.equal(c.memSize, 1048576)
  t.equal(c.recordSize, 4096, 'record_size defaults to MIN_MEM_SIZE 4096')
  t.equal(c.consoleSize, 4096, 'console_size 4096')
  t.equal(c.ftraceSize, 4096, 'ftrace_size 4096')
  t.equal(c.pmsgSize, 4096, 'pmsg_size 4096')
  t.equal(c.eccSize, 0, 'ecc off')
  t.equal(c.eccBlockSize, 128)
  t.equal(c.maxReason, 2, 'neither max_reason nor dump_oops: KMSG_DUMP_OOPS')
  t.equal(c.ftracePerCpu, true, 'module parameters always set RAMOOPS_FLAG_FTRACE_PER_CPU')
  t.equal(c.cpus, 1)
  t.equal(c.wordBits, 64)
  t.equal(c.compress, true)
  t.same(c.frontends, { console: true, pmsg: true, ftrace: true })
  t.same(c.kernel, { major: 6, minor: 12, patch: 0 }, 'default target kernel 6.12.0')
})

t.test('module parameters: ecc=1 means 16 parity bytes, other values are raw', async (t) => {
  t.equal(fromModuleParams({ mem_size: 0x100000, ecc: 1 }).eccSize, 16)
  t.equal(fromModuleParams({ mem_size: 0x100000, ecc: 2 }).eccSize, 2)
  t.equal(fromModuleParams({ mem_size: 0x100000, ecc: 16 }).eccSize, 16)
  t.equal(fromModuleParams({ mem_size: 0x100000, ecc: 32 }).eccSize, 32)
  t.equal(fromModuleParams({ mem_size: 0x100000, ecc: 0 }).eccSize, 0)
})

t.test('module parameters: max_reason has priority, then dump_oops, then Oops', async (t) => {
  const m = (p: { max_reason?: number; dump_oops?: number }) => fromModuleParams({ mem_size: 0x100000, ...p }).maxReason
  t.equal(m({}), 2, 'default')
  t.equal(m({ max_reason: -1 }), 2, 'max_reason -1 = not set')
  t.equal(m({ max_reason: 0 }), 0, 'max_reason 0 is kept as 0 (the dumper reads it as Oops)')
  t.equal(m({ max_reason: 1 }), 1)
  t.equal(m({ max_reason: 4 }), 4)
  t.equal(m({ dump_oops: 0 }), 1, 'dump_oops=0: Panic only')
  t.equal(m({ dump_oops: 1 }), 2, 'dump_oops=1: Oops')
  t.equal(m({ dump_oops: 7 }), 2, 'any non-zero dump_oops: Oops')
  t.equal(m({ dump_oops: -1 }), 2, 'dump_oops -1 = not set')
  t.equal(m({ max_reason: 3, dump_oops: 0 }), 3, 'max_reason wins over dump_oops')
  t.equal(m({ max_reason: 0, dump_oops: 0 }), 0, 'max_reason 0 is set (>= 0), so dump_oops is ignored')
  t.equal(m({ max_reason: -1, dump_oops: 0 }), 1, 'max_reason -1 falls back to dump_oops')
})

t.test('module parameters: mem_size 0 or absent means no device', async (t) => {
  t.throws(() => fromModuleParams({}), ProbeError)
  t.throws(() => fromModuleParams({ mem_size: 0, record_size: 4096 }), { name: 'ProbeError', message: /mem_size is 0/ })
})

t.test('kernel integers: 0x hex, leading-0 octal, decimal', async (t) => {
  t.equal(parseKernelInteger('0x100000', 'x'), 1048576)
  t.equal(parseKernelInteger('0X1F', 'x'), 31)
  t.equal(parseKernelInteger('040000', 'x'), 16384, 'octal')
  t.equal(parseKernelInteger('0', 'x'), 0)
  t.equal(parseKernelInteger('8192', 'x'), 8192)
  t.equal(parseKernelInteger('-1', 'x'), -1)
  t.throws(() => parseKernelInteger('08', 'ramoops.x'), { name: 'ProbeError', message: /ramoops\.x/ }, '8 is not an octal digit')
  t.throws(() => parseKernelInteger('1M', 'ramoops.mem_size'), { name: 'ProbeError', message: /ramoops\.mem_size/ }, 'no memparse suffixes for ulong params')
  t.throws(() => parseKernelInteger('', 'x'), ProbeError)
})

t.test('command line: ramoops.* words, other words ignored', async (t) => {
  const cmdline =
    'BOOT_IMAGE=/vmlinuz root=/dev/vda1 console=ttyS0,115200 ramoops.mem_address=0x8000000 ramoops.mem_size=0x100000 ' +
    'ramoops.record_size=0x8000 ramoops.console_size=040000 ramoops.pmsg_size=8192 ramoops.ftrace_size=0 ramoops.ecc=1 quiet'
  const c = fromCmdline(cmdline)
  t.equal(c.memAddress, 0x8000000)
  t.equal(c.memSize, 0x100000)
  t.equal(c.recordSize, 0x8000)
  t.equal(c.consoleSize, 16384, 'octal 040000')
  t.equal(c.pmsgSize, 8192, 'decimal')
  t.equal(c.ftraceSize, 0)
  t.equal(c.eccSize, 16, 'ecc=1 → 16')
  t.equal(c.ftracePerCpu, true)
  t.equal(c.maxReason, 2)
  t.equal(c.source, 'module')
})

t.test('command line: sizes left out take the module defaults', async (t) => {
  const c = fromCmdline('ramoops.mem_size=0x100000 ramoops.record_size=0x8000')
  t.equal(c.recordSize, 0x8000)
  t.equal(c.consoleSize, 4096)
  t.equal(c.ftraceSize, 4096)
  t.equal(c.pmsgSize, 4096)
})

t.test('command line: dashes equal underscores in parameter names (parameq)', async (t) => {
  const c = fromCmdline('ramoops.mem_size=0x100000 ramoops.record-size=0x2000 ramoops.max-reason=1')
  t.equal(c.recordSize, 0x2000)
  t.equal(c.maxReason, 1)
})

t.test('command line: max_reason and dump_oops', async (t) => {
  t.equal(fromCmdline('ramoops.mem_size=0x100000 ramoops.dump_oops=0').maxReason, 1)
  t.equal(fromCmdline('ramoops.mem_size=0x100000 ramoops.max_reason=4 ramoops.dump_oops=0').maxReason, 4)
})

t.test('command line: pstore.compress and pstore.kmsg_bytes', async (t) => {
  t.equal(fromCmdline('ramoops.mem_size=0x100000 pstore.compress=none').compress, false)
  t.equal(fromCmdline('ramoops.mem_size=0x100000 pstore.compress=deflate').compress, true)
  t.same(parseCmdline('pstore.kmsg_bytes=0x4000').pstore, { kmsgBytes: 16384 })
  t.same(parseCmdline('ramoops.mem_type=2 ramoops.mem_name=oops').params, {}, 'mem_type and mem_name do not change the format')
})

t.test('command line: an unknown ramoops parameter is named', async (t) => {
  t.throws(() => fromCmdline('ramoops.mem_size=0x100000 ramoops.record_sz=4096'), {
    name: 'ProbeError',
    message: /ramoops\.record_sz/,
  })
  t.throws(() => fromCmdline('ramoops.mem_size=0x100000 ramoops.boot_log_size=4096'), { name: 'ProbeError', message: /ramoops\.boot_log_size/ })
})

t.test('command line: a bad number is named', async (t) => {
  t.throws(() => fromCmdline('ramoops.mem_size=1M'), { name: 'ProbeError', message: /ramoops\.mem_size/ })
  t.throws(() => fromCmdline('ramoops.mem_size=0x100000 ramoops.record_size=0xZZ'), { name: 'ProbeError', message: /ramoops\.record_size/ })
})

t.test('command line without mem_size: no device', async (t) => {
  t.throws(() => fromCmdline('console=ttyS0 ramoops.record_size=0x8000'), { name: 'ProbeError', message: /mem_size/ })
})

// ---------------------------------------------------------------------------------------------
// Device tree

const dts = (node: string, options: { parentCells?: [number, number]; parent?: string; rootCells?: [number, number] } = {}) => {
  const [pa, ps] = options.parentCells ?? [2, 2]
  const [ra, rs] = options.rootCells ?? [2, 2]
  const parent = options.parent ?? 'reserved-memory'
  return `/dts-v1/;

/ {
	model = "Example board";
	compatible = "vendor,board";
	#address-cells = <${ra}>;
	#size-cells = <${rs}>;

	memory@80000000 {
		device_type = "memory";
		reg = <0x0 0x80000000 0x0 0x40000000>;
	};

	${parent} {
		#address-cells = <${pa}>;
		#size-cells = <${ps}>;
		ranges;

		/* the firmware log lives here too */
		fw_log: fw-log@8e000000 {
			reg = <0x0 0x8e000000 0x0 0x1000>;
			no-map;
		};

${node}
	};
};
`
}

t.test('device tree: a realistic /reserved-memory node (2+2 cells)', async (t) => {
  const c = fromDts(
    dts(`		ramoops: ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 0x0 0x100000>;
			record-size = <0x4000>;
			console-size = <0x8000>;
			ftrace-size = <0x2000>;
			pmsg-size = <0x2000>;
			ecc-size = <16>;
		};`),
  )
  t.equal(c.source, 'devicetree')
  t.equal(c.memAddress, 0x8f000000)
  t.equal(c.memSize, 0x100000)
  t.equal(c.recordSize, 0x4000)
  t.equal(c.consoleSize, 0x8000)
  t.equal(c.ftraceSize, 0x2000)
  t.equal(c.pmsgSize, 0x2000)
  t.equal(c.eccSize, 16)
  t.equal(c.maxReason, 2, 'default max-reason: Oops')
  t.equal(c.ftracePerCpu, false, 'DT flags default 0: one ftrace zone')
})

t.test('device tree: 64-bit address in two cells', async (t) => {
  const c = fromDts(
    dts(`		ramoops@100000000 {
			compatible = "ramoops";
			reg = <0x1 0x0 0x0 0x200000>;
			record-size = <0x1000>;
		};`),
  )
  t.equal(c.memAddress, 2 ** 32)
  t.equal(c.memSize, 0x200000)
})

t.test('device tree: 1+1 cells', async (t) => {
  const c = fromDts(
    dts(
      `		ramoops@9ff00000 {
			compatible = "ramoops";
			reg = <0x9ff00000 0x100000>;
			record-size = <0x4000>;
			console-size = <0x4000>;
		};`,
      { parentCells: [1, 1], rootCells: [1, 1] },
    )
      .replace('reg = <0x0 0x8e000000 0x0 0x1000>', 'reg = <0x8e000000 0x1000>')
      .replace('reg = <0x0 0x80000000 0x0 0x40000000>', 'reg = <0x80000000 0x40000000>'),
  )
  t.equal(c.memAddress, 0x9ff00000)
  t.equal(c.memSize, 0x100000)
  t.equal(c.recordSize, 0x4000)
  t.equal(c.consoleSize, 0x4000)
})

t.test('device tree: sizes default to 0 (a disabled zone type)', async (t) => {
  const c = fromDts(
    dts(`		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 0x0 0x100000>;
			record-size = <0x4000>;
		};`),
  )
  t.equal(c.recordSize, 0x4000)
  t.equal(c.consoleSize, 0, 'no 4096 default in DT')
  t.equal(c.ftraceSize, 0)
  t.equal(c.pmsgSize, 0)
  t.equal(c.eccSize, 0)
})

const node = (props: string) => `		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 0x0 0x100000>;
${props}
		};`

t.test('device tree: flags bit 0 is FTRACE_PER_CPU', async (t) => {
  const flags = (v: number) => fromDts(dts(node(`			record-size = <0x4000>;\n			ftrace-size = <0x4000>;\n			flags = <${v}>;`))).ftracePerCpu
  t.equal(flags(0), false)
  t.equal(flags(1), true)
  t.equal(flags(2), false, 'bit 1 is not per-CPU')
  t.equal(flags(3), true)
})

t.test('device tree: ecc-size is taken raw (no 1 → 16)', async (t) => {
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			ecc-size = <1>;'))).eccSize, 1)
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			ecc-size = <32>;'))).eccSize, 32)
})

t.test('device tree: no-dump-oops, max-reason', async (t) => {
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			no-dump-oops;'))).maxReason, 1, 'no-dump-oops → Panic')
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			max-reason = <4>;'))).maxReason, 4)
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			no-dump-oops;\n			max-reason = <3>;'))).maxReason, 3, 'max-reason overrides no-dump-oops')
  t.equal(fromDts(dts(node('			record-size = <0x4000>;\n			max-reason = <0>;'))).maxReason, 0)
})

t.test('device tree: unbuffered and mem-type do not change the format', async (t) => {
  const c = fromDts(dts(node('			record-size = <0x4000>;\n			unbuffered;\n			mem-type = <2>;')))
  t.equal(c.recordSize, 0x4000)
  t.equal(c.memSize, 0x100000)
})

t.test('device tree: a u32 above INT_MAX is refused, INT_MAX itself accepted', async (t) => {
  t.throws(() => fromDts(dts(node('			record-size = <0x80000000>;'))), { name: 'ProbeError', message: /record-size/ })
  t.throws(() => fromDts(dts(node('			record-size = <0x4000>;\n			max-reason = <0xffffffff>;'))), { name: 'ProbeError', message: /max-reason/ })
  t.throws(() => fromDts(dts(node('			record-size = <0x4000>;\n			console-size = <0x80000001>;'))), { name: 'ProbeError', message: /console-size/ })
  const c = fromDts(dts(node('			record-size = <0x7fffffff>;')))
  t.equal(c.recordSize, 0x40000000, '0x7fffffff accepted, then rounded down to a power of two')
})

t.test('device tree: an empty u32 property fails the probe', async (t) => {
  // of_property_read_u32 on a zero-length property: -EOVERFLOW, not the default
  t.throws(() => fromDts(dts(node('			record-size;'))), { name: 'ProbeError', message: /record-size/ })
})

t.test('device tree: Chromebook quirk outside /reserved-memory', async (t) => {
  const chromebook = `/dts-v1/;
/ {
	#address-cells = <1>;
	#size-cells = <1>;

	ramoops {
		compatible = "ramoops";
		reg = <0x9ff00000 0x100000>;
		record-size = <0x20000>;
	};
};
`
  const c = fromDts(chromebook)
  t.equal(c.memAddress, 0x9ff00000)
  t.equal(c.memSize, 0x100000)
  t.equal(c.recordSize, 0x20000)
  t.equal(c.consoleSize, 0x20000, 'console_size = record_size')
  t.equal(c.pmsgSize, 0x20000, 'pmsg_size = record_size')
  t.equal(c.ftraceSize, 0)

  // the same node under a parent that is not reserved-memory
  const other = fromDts(dts(node('			record-size = <0x4000>;'), { parent: 'soc' }))
  t.equal(other.consoleSize, 0x4000, 'parent "soc": quirk applies')
  t.equal(other.pmsgSize, 0x4000)

  // a unit address does not change the node name the kernel compares
  const withUnit = fromDts(dts(node('			record-size = <0x4000>;'), { parent: 'reserved-memory@0' }))
  t.equal(withUnit.consoleSize, 0, 'reserved-memory@0 is still reserved-memory: no quirk')

  // any of console/ftrace/pmsg/ecc set: no quirk
  const withEcc = fromDts(dts(node('			record-size = <0x4000>;\n			ecc-size = <16>;'), { parent: 'soc' }))
  t.equal(withEcc.consoleSize, 0, 'ecc-size set: no quirk')
  t.equal(withEcc.pmsgSize, 0)
  const withFtrace = fromDts(dts(node('			record-size = <0x4000>;\n			ftrace-size = <0x1000>;'), { parent: 'soc' }))
  t.equal(withFtrace.consoleSize, 0, 'ftrace-size set: no quirk')
  t.equal(withFtrace.pmsgSize, 0)
  const withConsole = fromDts(dts(node('			record-size = <0x4000>;\n			console-size = <0x1000>;'), { parent: 'soc' }))
  t.equal(withConsole.consoleSize, 0x1000)
  t.equal(withConsole.pmsgSize, 0, 'console-size set: pmsg stays 0')
})

t.test('device tree: failures', async (t) => {
  t.throws(() => fromDts('/dts-v1/;\n/ { chosen { bootargs = "console=ttyS0"; }; };\n'), { name: 'ProbeError', message: /compatible = "ramoops"/ })
  t.throws(() => fromDts(dts(node('').replace(/\s*reg = <[^>]*>;/, ''))), { name: 'ProbeError', message: /reg/ }, 'no reg')
  t.throws(
    () => fromDts(dts(node('			record-size = <0x4000>;').replace('reg = <0x0 0x8f000000 0x0 0x100000>', 'reg = <0x8f000000 0x100000>'))),
    { name: 'ProbeError', message: /reg/ },
    'reg too short for 2+2 cells',
  )
  t.throws(() => fromDts(dts(node('			record-size = <0x4000>;').replace('};', ''))), ProbeError, 'unbalanced braces')
  t.throws(() => fromDts(dts(node(''))), { name: 'ProbeError', message: /must be non-zero/ }, 'every size 0 (DT defaults)')
})

// ---------------------------------------------------------------------------------------------
// Normalisation (ramoops_probe)

t.test('sizes that are not powers of two are rounded down; mem_size is not', async (t) => {
  const c = fromModuleParams({ mem_size: 1000000, record_size: 5000, console_size: 0x3000, ftrace_size: 1, pmsg_size: 4095 })
  t.equal(c.memSize, 1000000, 'mem_size untouched')
  t.equal(c.recordSize, 4096, '5000 → 4096')
  t.equal(c.consoleSize, 8192, '0x3000 → 0x2000')
  t.equal(c.ftraceSize, 1, '1 is a power of two')
  t.equal(c.pmsgSize, 2048, '4095 → 2048')
  const d = fromModuleParams({ mem_size: 0x100000, record_size: 0x8000, console_size: 0x10001, pmsg_size: 0x7fffffff })
  t.equal(d.recordSize, 0x8000, 'powers of two stay')
  t.equal(d.consoleSize, 0x10000)
  t.equal(d.pmsgSize, 0x40000000)
  const e = fromDts(dts(node('			record-size = <12288>;\n			pmsg-size = <6000>;')))
  t.equal(e.recordSize, 8192, 'DT sizes are rounded too')
  t.equal(e.pmsgSize, 4096)
})

t.test('probe failures have clear messages', async (t) => {
  t.throws(() => fromModuleParams({ mem_size: 0x100000, record_size: 0, console_size: 0, ftrace_size: 0, pmsg_size: 0 }), {
    name: 'ProbeError',
    message: 'The memory size and the record/console size must be non-zero',
  })
  t.throws(() => fromModuleParams({ mem_size: 0 }), { name: 'ProbeError', message: /mem_size is 0/ })
  t.throws(() => fromModuleParams({ mem_size: 0x100000, record_size: -4096 }), { name: 'ProbeError', message: /recordSize/ })
  t.throws(() => fromModuleParams({ mem_size: 1048576.5 }), ProbeError, 'fractional mem_size')
  t.throws(
    () => fromModuleParams({ mem_size: 0x100000, ecc: 200 }),
    { name: 'ProbeError', message: /ecc/ },
    'ecc 200 cannot form an RS(255) codeword with 128-byte blocks',
  )
  t.throws(() => fromModuleParams({ mem_size: 0x100000 }, { cpus: 0 }), { name: 'ProbeError', message: /cpus/ })
  // only one zone type is enough
  const onlyConsole = fromModuleParams({ mem_size: 0x100000, record_size: 0, console_size: 0x1000, ftrace_size: 0, pmsg_size: 0 })
  t.equal(onlyConsole.consoleSize, 0x1000)
})

t.test('target options', async (t) => {
  const c = fromModuleParams({ mem_size: 0x100000 }, { kernel: '6.1.192', cpus: 4, wordBits: 32, compress: false, frontends: { ftrace: false } })
  t.same(c.kernel, { major: 6, minor: 1, patch: 192 })
  t.equal(c.cpus, 4)
  t.equal(c.wordBits, 32)
  t.equal(c.compress, false)
  t.same(c.frontends, { console: true, pmsg: true, ftrace: false })
  t.equal(c.quirks.pmsgBeforeFtrace, false, '6.1: ftrace before pmsg')
  t.equal(c.quirks.compression, 'crypto-deflate-11')
  t.equal(c.quirks.evenZoneSizes, true, '6.1.192 carries the even-size backport')
  t.equal(fromModuleParams({ mem_size: 0x100000 }, { kernel: '6.1.0', quirks: { evenZoneSizes: true } }).quirks.evenZoneSizes, true, 'quirk override')
})

t.test('stable backports: 6.1.192 checks the start of empty zones (CVE-2023-53331 fix, 6.1.53+)', async (t) => {
  const q = (kernel: string) => fromModuleParams({ mem_size: 0x100000 }, { kernel }).quirks.emptyZoneChecksStart
  t.equal(q('6.1.192'), true)
  t.equal(q('6.1.53'), true)
  t.equal(q('6.1.52'), false)
  t.equal(q('5.10.195'), true)
  t.equal(q('6.6.0'), true)
  t.equal(q('6.3.0'), false)
})

t.test('device tree: #address-cells/#size-cells come from the nearest ancestor, root default 1', async (t) => {
  const dts = `/ { #address-cells = <1>; #size-cells = <1>;
    soc { ramoops@9ff00000 { compatible = "ramoops"; reg = <0x9ff00000 0x100000>; record-size = <0x4000>; }; };
  };`
  const c = fromDts(dts)
  t.equal(c.memAddress, 0x9ff00000)
  t.equal(c.memSize, 0x100000)
  const bare = fromDts(`/ { ramoops { compatible = "ramoops"; reg = <0x1000 0x2000>; record-size = <0x800>; }; };`)
  t.same([bare.memAddress, bare.memSize], [0x1000, 0x2000], 'no cells anywhere: 1 and 1')
})

// ---------------------------------------------------------------------------------------------
// The --dts reader on hostile input (linear time)

// the children run the bundle without tap's per-process hook (helpers/mount.ts): a clean Node
runProductsUninstrumented()

const configJs = await sourceBundle('backend/ramoops/ramoopsSetup.ts')
const KB100 = 100 * 1024
const fill = (unit: string, size = KB100) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size)

const hostile: Record<string, string> = {
  'pairs of "" after =, no terminator': 'a = ' + fill('""'),
  '20 pairs of ""': 'x = ' + '""'.repeat(20),
  'the 79-byte shape: quotes and brackets': 'r = "<[' + '"<"['.repeat(18) + '\n',
  'unterminated strings': fill('a = "'),
  'unterminated cells': fill('a = <'),
  'unterminated block comments': fill('/*'),
  'comment openers and closers': fill('/*/'),
  'line comments without newline': fill('//'),
  'names without terminator': fill('abc '),
  'nested opens': fill('n {'),
  'closers only': fill('};'),
  'equals signs': fill('= '),
  'deep valid nesting': fill('n { ', KB100 / 2) + fill('}; ', KB100 / 2),
  'unterminated comment after line comments': fill('// x\n', KB100 / 2) + '/*' + fill('a', KB100 / 2),
  'many properties': '/ { ' + fill('p = <1 2 3>; q = "s"; ') + ' };',
}

t.test('hostile device trees parse or fail fast', async (t) => {
  // one process for every input (a Node start each cost more than the parses): each input's
  // outcome and the parser's own CPU time, one JSON line each, in order
  const script = `
const { parseDtsTree, fromDts } = await import(${JSON.stringify(configJs)})
const inputs = JSON.parse(require('fs').readFileSync(0, 'utf8'))
for (const input of inputs) {
  const t0 = process.cpuUsage()
  let outcome
  try { parseDtsTree(input, 'hostile.dts'); outcome = 'parsed'; try { fromDts(input, {}, 'hostile.dts') } catch (e) { if (e.name !== 'ProbeError') throw e } } catch (e) { outcome = e.name + ': ' + e.message.slice(0, 60) }
  const used = process.cpuUsage(t0)
  console.log(JSON.stringify({ outcome, ms: (used.user + used.system) / 1000 }))
}
`.replace("require('fs')", "(await import('node:fs')).default")
  const cases = Object.entries(hostile)
  const r = spawnSync(...productCommand(process.execPath, ['--input-type=module', '-e', script]), {
    input: JSON.stringify(cases.map(([, input]) => input)),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  t.equal(r.signal, null, `finished: ${r.stderr}`)
  const results = r.stdout.split('\n').filter(Boolean)
  for (const [i, [name]] of cases.entries()) {
    t.ok(results[i] !== undefined, `${name}: finished`)
    if (results[i] === undefined) continue
    const { outcome, ms } = JSON.parse(results[i]) as { outcome: string; ms: number }
    t.ok(outcome === 'parsed' || outcome.startsWith('ProbeError'), `${name}: ${outcome}`)
    // Linear work on 100 KB is milliseconds of CPU; 2 s of the parser's own CPU time is a
    // complexity bound (the backtracking reader needed minutes for 44 bytes) that CPU time, unlike
    // wall time, keeps however busy the machine is.
    t.ok(ms < 2000, `${name}: ${ms.toFixed(1)} ms of CPU`)
  }
})

t.test('the scanner still reads real device trees', async (t) => {
  const tree = parseDtsTree(`/dts-v1/;
/* a comment with "quotes" and { braces } */
/ {
	#address-cells = <2>; // line comment
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ramoops@8f000000 {
			compatible = "ramoops";
			reg = <0x0 0x8f000000 /* base */ 0x0 0x100000>;
			record-size = <0x4000>;
			label = "a;b{c}";
			no-dump-oops;
		};
	};
};
`)
  const node = tree.children[0].children[0].children[0]
  t.equal(node.name, 'ramoops@8f000000')
  t.equal(node.props.get('label'), '"a;b{c}"', 'separators inside strings are text')
  t.equal(node.props.get('no-dump-oops'), null)
  t.equal(node.props.get('reg'), '<0x0 0x8f000000   0x0 0x100000>')
  const config = fromDts(
    `/ { reserved-memory { #address-cells = <1>; #size-cells = <1>; r { compatible = "ramoops"; reg = <0x1000 0x10000>; record-size = <0x1000>; }; }; };`,
  )
  t.equal(config.memSize, 0x10000)
  t.throws(() => parseDtsTree('a = "open;'), ProbeError, 'an unterminated string is refused')
  t.throws(() => parseDtsTree(';'), ProbeError, 'an empty statement is refused')
  t.throws(() => parseDtsTree('n { a; '), { message: /not closed/ })
})
