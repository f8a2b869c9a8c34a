/**
 * Item 9: every command checks every argument before it writes anything. Each bad invocation
 * runs through the real CLI; it must exit 1 with exactly one stderr line naming the argument,
 * no stack trace, and leave the image, its sidecar and its state file byte for byte as they were.
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { assertOneLine, files, OLD_SETUP, oldTargetImage } from '../helpers/cliChecks.js'
import { cliJs, pstoreSim, run, runProductsUninstrumented, tempDir } from '../helpers/mount.js'

// the CLI's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

interface BadCase {
  args: string[]
  /** What the one stderr line must name. */
  names: RegExp
  input?: string
}

const IMG = '@IMG'
const OLD = '@OLD'

const cases: BadCase[] = [
  { args: ['panic', IMG, '--time', 'abc'], names: /--time: "abc" is not a time/ },
  { args: ['panic', IMG, '--time', '1e300'], names: /--time/ },
  { args: ['panic', IMG, '--time', '99999999999999999'], names: /--time: .* out of range/ },
  { args: ['panic', IMG, '--log', '@DIR/missing.log'], names: /missing\.log: cannot read/ },
  { args: ['panic', IMG, '--reason', 'bogus'], names: /reason/ },
  { args: ['panic', IMG, '--max-reason', 'abc'], names: /--max-reason: "abc" is not a whole number/ },
  { args: ['panic', IMG, '--max-reason', '-5'], names: /--max-reason: -5 is out of range/ },
  { args: ['panic', IMG, '--ecc', 'x'], names: /--ecc/ },
  { args: ['panic', IMG, '--ecc', '200'], names: /--ecc: 200 is out of range/ },
  { args: ['panic', IMG, '--cpus', '0'], names: /--cpus: 0 is out of range/ },
  { args: ['panic', IMG, '--cpus', '2.5'], names: /--cpus/ },
  { args: ['panic', IMG, '--word-size', '48'], names: /word-size/ },
  { args: ['panic', IMG, '--mem-size', 'lots'], names: /--mem-size: "lots" is not a size/ },
  { args: ['panic', IMG, '--kernel', 'abc'], names: /kernel|abc/ },
  { args: ['panic', IMG, '--frontends', 'bogus'], names: /--frontends: unknown frontend "bogus"/ },
  { args: ['panic', IMG, '--dts', '@DIR/missing.dts'], names: /missing\.dts: cannot read/ },
  { args: ['panic', IMG, '--bogus'], names: /Unknown argument: bogus/ },
  { args: ['corrupt', IMG, '--random', '-1'], names: /--random: -1 is out of range/ },
  { args: ['corrupt', IMG, '--random', '1', '--seed', 'abc'], names: /--seed: "abc" is not a whole number/ },
  { args: ['corrupt', IMG, '--random', '1', '--max-per-block', '0'], names: /--max-per-block/ },
  { args: ['corrupt', IMG, '--flip', '10:1', '--flip', '70000:1'], names: /--flip: offset 70000 is outside the 65536-byte region/ },
  { args: ['corrupt', IMG, '--flip', '10:9'], names: /--flip 10:9/ },
  { args: ['corrupt', IMG, '--flip', '10:1', '--random', '1', '--zone', 'dmesg:99'], names: /--zone: no zone "dmesg:99"/ },
  { args: ['corrupt', IMG], names: /--random N and\/or --flip/ },
  { args: ['ftrace', IMG], input: '0 1ffffffffffffffff 0\n', names: /stdin:1: ip 0x1ffffffffffffffff does not fit 64 bits/ },
  { args: ['ftrace', IMG], input: '0 1 2\n4294967296 1 0\n', names: /stdin:2: CPU 4294967296/ },
  {
    args: ['ftrace', IMG, '--word-size', '32'],
    input: '0 1 2\n0 ffffffff81000000 0\n',
    names: /stdin: ftrace record 2: ip 0xffffffff81000000 does not fit the target's 32-bit word/,
  },
  { args: ['ftrace', IMG], input: '0 1 2\n0 zz 0\n', names: /stdin:2: expected "cpu ip parent_ip"/ },
  { args: ['ftrace', IMG], input: '9 1 2\n', names: /CPU 9 has no ftrace zone/ },
  { args: ['console', OLD, 'hello'], names: /console zone: its header's start 5000 is outside its \d+-byte ring.*refuses/ },
  { args: ['pmsg', OLD, 'hello'], names: /pmsg zone: its header's start 5000/ },
  { args: ['inspect', '@DIR/missing.img'], names: /missing\.img: no such image/ },
  { args: ['inspect', IMG, '--cpus', 'many'], names: /--cpus/ },
  { args: ['format', IMG, '--mem-size', '64K'], names: /already exists; pass --force/ },
  { args: ['format', '@DIR/new.img', '--mem-size', '64K', '--max-reason', 'abc'], names: /--max-reason/ },
  { args: ['format', '@DIR/new.img', '--mem-size', '64K', '--record-size', '128K'], names: /dmesg record count == 0/ },
  {
    args: ['format', '@DIR/new.img', '--mem-size', '0xffffffff', '--record-size', '0x80000000', '--console-size', '0x90000000'],
    names: /new\.img: the kernel would refuse this setup: dmesg record count == 0/,
  },
  { args: ['format', '@DIR/new.img', '--mem-size', '64K', '--ecc', '16', '--record-size', '32'], names: /invalid ecc_size 16/ },
  { args: ['format', '@DIR/new.img'], names: /give the region's setup: --mem-size/ },
  { args: ['mount', IMG, '@DIR/mnt', '-o', 'bogus'], names: /-o bogus: unknown mount option/ },
  { args: ['mount', IMG, '@DIR/mnt', '-o', 'cache_timeout=x'], names: /-o cache_timeout=x/ },
]

t.test('bad invocations: exit 1, one line naming the argument, nothing changed', async (t) => {
  const dir = tempDir(t)
  const img = path.join(dir, 'a.img')
  const old = path.join(dir, 'old.img')
  const setup = OLD_SETUP
  for (const args of [
    ['format', img, ...setup],
    ['console', img, 'boot text'],
    ['pmsg', img, 'pmsg text'],
    ['panic', img, '--time', '1700000000', '--reboot'],
  ]) {
    const r = await pstoreSim(args)
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
  }
  await oldTargetImage(t, old, setup)
  fs.mkdirSync(path.join(dir, 'mnt'))
  const before = files(dir)
  t.ok(before['a.img.state.json'] && before['a.img.json'], 'image, sidecar and state exist')
  for (const c of cases) {
    const args = c.args.map((a) => a.replace(IMG, img).replace(OLD, old).replace('@DIR', dir))
    const label = c.args.join(' ')
    assertOneLine(t, await pstoreSim(args, c.input), c.names, label)
    t.same(files(dir), before, `${label}: no file changed, none created`)
  }
  // The dump the old kernel would write out of bounds from still shows (read-only through a mount: arguments.mount.test.ts).
  const shown = await pstoreSim(['inspect', old])
  t.equal(shown.code, 0, shown.stderr)
  t.match(shown.stdout.toString(), /console\[0\] .* 5000 +0 +empty/, 'inspect shows the empty console zone with its start')
})

t.test('documented forms that failed: --log -, binary pmsg text, EPIPE', async (t) => {
  const dir = tempDir(t)
  const img = path.join(dir, 'a.img')
  t.equal((await pstoreSim(['format', img, '--mem-size', '4M', '--console-size', '1M', '--pmsg-size', '4K'])).code, 0)
  const log = await pstoreSim(['panic', img, '--log', '-', '--no-compress', '--reboot'], 'line one from stdin\n')
  t.equal(log.code, 0, `panic --log -: ${log.stderr}`)
  const pmsg = await pstoreSim(['pmsg', img, Buffer.from('A\xff\xfeB', 'latin1').toString('latin1')])
  t.equal(pmsg.code, 0)
  // Bytes that are not UTF-8 need a raw argv: a shell passes them as they are.
  const raw = await run('bash', ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(cliJs)} pmsg ${JSON.stringify(img)} "$(printf 'A\\xff\\xfeB')"`])
  t.equal(raw.code, 0, raw.stderr)
  const console = await run('bash', [
    '-c',
    `${JSON.stringify(process.execPath)} ${JSON.stringify(cliJs)} console ${JSON.stringify(img)} "$(printf 'caf\\xe9 %.0s' {1..20000})"`,
  ])
  t.equal(console.code, 0, console.stderr)
  const report = JSON.parse((await pstoreSim(['inspect', img, '--json', '--content'])).stdout.toString()) as {
    records: Array<{ name: string; contentBase64: string }>
  }
  const content = (name: string) => Buffer.from(report.records.find((r) => r.name === name)?.contentBase64 ?? '', 'base64')
  t.match(content('dmesg-ramoops-0').toString('latin1'), /line one from stdin/, 'the log came from stdin')
  t.ok(
    content('pmsg-ramoops-0')
      .subarray(-4)
      .equals(Buffer.from([0x41, 0xff, 0xfe, 0x42])),
    'the pmsg zone holds the argv bytes, not U+FFFD',
  )
  t.ok(content('console-ramoops-0').includes(Buffer.from('caf\xe9 ', 'latin1')), 'console text keeps its Latin-1 byte')
  // The reader goes away after 100 bytes of ~1.4 MB: the CLI ends quietly.
  const epipe = await run('bash', [
    '-c',
    `${JSON.stringify(process.execPath)} ${JSON.stringify(cliJs)} inspect ${JSON.stringify(img)} --json --content | head -c 100 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`,
  ])
  t.equal(epipe.stderr, 'status 0\n', 'no EPIPE stack, exit 0')
})
