/**
 * The target version where the bytes show it (docs/ramoops-format.md §3.2): ftrace signatures
 * hold LINUX_VERSION_CODE, sublevel included. `inspect` names a dump's version when it is not
 * the setup's, `--kernel auto` takes it from the dump, and `--help` says what the default means.
 */

import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { versionFromFtraceSignature } from '../../src/backend/ramoops/versionProbe.js'
import { fixtureCase, fixtureFlags } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const withoutKernel = (flags: string[]): string[] => flags.filter((f, i) => f !== '--kernel' && flags[i - 1] !== '--kernel')

async function inspectJson(
  t: Test,
  args: string[],
): Promise<{
  setup: { kernel: string }
  ftraceKernel?: { version: string; signature: string; matchesSetup: boolean }
  records: { name: string }[]
  zones: { type: string; bootOutcome: string }[]
}> {
  const r = await pstoreSim(['inspect', ...args, '--json'])
  t.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout.toString())
}

t.test('signature → version', async (t) => {
  t.same(versionFromFtraceSignature(0x43414384), { major: 6, minor: 1, patch: 192 }, 'the custom 6.1.192 kernel')
  t.same(versionFromFtraceSignature(0x43414e44), { major: 6, minor: 12, patch: 0 })
  t.same(versionFromFtraceSignature(0x43414e2f), { major: 6, minor: 12, patch: 107 }, "Debian's 6.12.107: 0x43474244 ^ 0x060c6b")
  t.equal(versionFromFtraceSignature(0x43474244), undefined, 'a dmesg/console/pmsg signature is no version')
  t.equal(versionFromFtraceSignature(0), undefined, 'a zeroed header is no version')
})

t.test('h2-ftrace-smp2 (kernel 6.1.192) inspected with the default target', async (t) => {
  const c = fixtureCase('kernel-6.1-custom', 'h2-ftrace-smp2')
  const image = c.file('region-after-panic.bin')
  const flags = withoutKernel(fixtureFlags('kernel-6.1-custom', 'h2-ftrace-smp2'))

  const text = await pstoreSim(['inspect', image, ...flags])
  t.equal(text.code, 0, text.stderr)
  t.match(
    text.stdout.toString(),
    /\nftrace {2}the ftrace zones are signed by kernel 6\.1\.192 \(0x43414384\), not the setup's 6\.12\.0: a 6\.12\.0 kernel would zap them at boot .*--kernel 6\.1\.192/,
  )
  const dflt = await inspectJson(t, [image, ...flags])
  t.same(dflt.ftraceKernel, { version: '6.1.192', signature: '0x43414384', matchesSetup: false })
  t.ok(
    dflt.zones.filter((z) => z.type === 'ftrace').every((z) => z.bootOutcome !== 'valid'),
    'and indeed 6.12.0 would not keep them',
  )

  const auto = await inspectJson(t, [image, ...flags, '--kernel', 'auto'])
  t.equal(auto.setup.kernel, '6.1.192', '--kernel auto')
  t.same(auto.ftraceKernel, { version: '6.1.192', signature: '0x43414384', matchesSetup: true })
  t.ok(
    auto.records.some((r) => r.name.startsWith('ftrace-')),
    'the ftrace records are read',
  )
  const quiet = await pstoreSim(['inspect', image, ...flags, '--kernel', 'auto'])
  t.notMatch(quiet.stdout.toString(), /\nftrace {2}/, 'no note when the versions agree')
})

t.test("Debian's kernel 6.1.192 (f1-all-zones after its boot): --kernel auto", async (t) => {
  const c = fixtureCase('kernel-6.1', 'f1-all-zones')
  const flags = withoutKernel(fixtureFlags('kernel-6.1', 'f1-all-zones'))
  const auto = await inspectJson(t, [c.file('region-after-boot.bin'), ...flags, '--kernel', 'auto'])
  t.equal(auto.setup.kernel, '6.1.192')
})

t.test('images pstore-sim writes: 6.12.107, a 6.1 layout without even sizes, a capped sublevel', async (t) => {
  const dir = tempDir(t)
  const cases = [
    // Debian 6.12.107: same layout as the default, only the signature differs
    { kernel: '6.12.107', flags: ['--mem-size', '1M', '--ftrace-size', '8K', '--cpus', '2'], expect: '6.12.107' },
    // 6.1.50: ftrace before pmsg and odd dmesg zones (33451 bytes): the zones sit elsewhere
    {
      kernel: '6.1.50',
      flags: ['--mem-size', '0x10000a', '--record-size', '32K', '--console-size', '32K', '--pmsg-size', '4K', '--ftrace-size', '8K', '--cpus', '3'],
      expect: '6.1.50',
    },
    // LINUX_VERSION_CODE caps the sublevel at 255
    { kernel: '5.4.300', flags: ['--mem-size', '1M'], expect: '5.4.255' },
  ]
  for (const c of cases) {
    const image = path.join(dir, `${c.kernel}.bin`)
    const formatted = await pstoreSim(['format', image, ...c.flags, '--kernel', c.kernel])
    t.equal(formatted.code, 0, formatted.stderr)
    fs.rmSync(`${image}.json`) // a bare dump: only flags and the bytes
    const auto = await inspectJson(t, [image, ...c.flags, '--kernel', 'auto'])
    t.equal(auto.setup.kernel, c.expect, `${c.kernel}: --kernel auto gives ${c.expect}`)
    const other = await inspectJson(t, [image, ...c.flags])
    t.same(other.ftraceKernel?.version, c.expect, `${c.kernel}: the default setup is told the dump's version`)
    t.equal(other.ftraceKernel?.matchesSetup, false)
  }
  const capped = await pstoreSim(['inspect', path.join(dir, '5.4.300.bin'), '--mem-size', '1M'])
  t.match(capped.stdout.toString(), /signed by kernel 5\.4\.255 \(sublevel 255 or more\)/)
})

t.test('--kernel auto without a signed ftrace zone: one line, exit 1', async (t) => {
  const dir = tempDir(t)
  const zeroed = path.join(dir, 'zeroed.bin')
  fs.writeFileSync(zeroed, Buffer.alloc(0x10000))
  const cases: [string[], RegExp][] = [
    [
      ['inspect', zeroed, '--mem-size', '64K', '--kernel', 'auto'],
      /^pstore-sim: .*zeroed\.bin: --kernel auto: no ftrace zone holds a kernel-version signature .*; give the version, e\.g\. --kernel 6\.12\.0\n$/,
    ],
    [
      ['inspect', zeroed, '--mem-size', '64K', '--ftrace-size', '0', '--kernel', 'auto'],
      /^pstore-sim: .*zeroed\.bin: --kernel auto: this setup has no ftrace zone; give the version, e\.g\. --kernel 6\.12\.0\n$/,
    ],
    [
      ['format', path.join(dir, 'new.bin'), '--mem-size', '64K', '--kernel', 'auto'],
      /^pstore-sim: .*new\.bin: --kernel auto reads the version from an existing dump; format needs the target's version, e\.g\. --kernel 6\.12\.0\n$/,
    ],
  ]
  const disk = path.join(dir, 'disk.img')
  const blk = await pstoreSim([
    'format',
    disk,
    '--backend',
    'blk',
    '--disk-size',
    '256K',
    '--cmdline',
    'pstore_blk.kmsg_size=64 pstore_blk.best_effort=y pstore_blk.blkdev=/dev/vda',
  ])
  t.equal(blk.code, 0, `blk disk formatted ${blk.stderr}`)
  // was a RangeError with a stack trace
  cases.push([
    ['inspect', disk, '--kernel', 'auto'],
    /^pstore-sim: .*disk\.img: --kernel auto reads ramoops' ftrace zones; a pstore\/blk disk's records hold no version: give it, e\.g\. --kernel 6\.12\.0\n$/,
  ])
  for (const [args, message] of cases) {
    const r = await pstoreSim(args)
    t.equal(r.code, 1, args.join(' '))
    t.match(r.stderr, message)
  }
  t.notOk(fs.existsSync(path.join(dir, 'new.bin')), 'format created nothing')
})

t.test('--help says what the default target is', async (t) => {
  const r = await pstoreSim(['inspect', '--help'])
  const help = r.stdout.toString().replace(/\s+/g, ' ')
  t.match(help, /Default 6\.12\.0 = mainline v6\.12/)
  t.match(help, /Debian's 6\.12\.107: --kernel 6\.12\.107/)
  t.match(help, /"auto": the version a dump's ftrace zones show/)
})
