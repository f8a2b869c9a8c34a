/**
 * The sidecar `IMAGE.json` through the real CLI: version 2 (each backend's setup under its own
 * names) written by `format` and read back for every backend; version-1 files written by an
 * older pstore-sim (test/fixtures/state-v1, and a pstore/blk one) read through the migration
 * with the setup and records they gave before, the file never rewritten by a command; a newer
 * version or a damaged file refused with one line naming the file, and nothing changed.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { resolveSetup, setupJson } from '../../src/backend/setup.js'
import { readSidecar, SetupError } from '../../src/machine/imageSetup.js'
import { inspectImage } from '../../src/machine/inspect.js'
import { fixturesDir } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

const STATE_V1 = path.join(fixturesDir, 'state-v1')
const TARGET_KEYS = ['kernel', 'cpus', 'wordBits', 'frontends', 'compress', 'quirks']

/** A copy of a state-v1 fixture (image, sidecar, state) in a folder of its own. */
function copyV1(t: Test, name: string): string {
  const dir = tempDir(t)
  for (const suffix of ['', '.json', '.state.json']) fs.copyFileSync(path.join(STATE_V1, name + suffix), path.join(dir, name + suffix))
  return path.join(dir, name)
}

/** Every file of the image's folder with its hash: what "nothing changed" compares. */
function folder(image: string): Record<string, string> {
  const dir = path.dirname(image)
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, sha256(fs.readFileSync(path.join(dir, f)))]))
}

// biome-ignore lint/suspicious/noExplicitAny: inspect's JSON as a script reads it
type Json = any

async function cli(args: string[]): Promise<Json> {
  const r = await pstoreSim(args)
  if (r.code !== 0) throw new Error(`pstore-sim ${args.join(' ')}: exit ${r.code}: ${r.stderr}`)
  return args.includes('--json') ? JSON.parse(r.stdout.toString()) : undefined
}

const inspect = (image: string, flags: string[] = []) => cli(['inspect', image, '--json', '--content', ...flags])
const sidecarOf = (image: string): Json => JSON.parse(fs.readFileSync(`${image}.json`, 'utf8'))
const dmesgRecords = (r: Json): Json[] => r.records.filter((rec: Json) => rec.name.startsWith('dmesg-'))
const text = (rec: Json): string => Buffer.from(rec.contentBase64, 'base64').toString('latin1')

/**
 * The same image read without its sidecar, the setup given by flags instead: what the records
 * and setup were without any sidecar, the baseline a migrated one must give.
 */
async function withoutSidecar(t: Test, image: string, flags: string[]): Promise<Json> {
  const bare = path.join(tempDir(t), path.basename(image))
  fs.copyFileSync(image, bare)
  return inspect(bare, flags)
}

t.test('a version-1 ramoops sidecar: the setup and records it gave, the file never rewritten; format --force writes version 2', async (t) => {
  const image = copyV1(t, 'ramoops.img')
  const v1 = sidecarOf(image)
  t.equal(v1.pstoreSim, 1, 'the fixture is a version-1 file')
  const before = folder(image)
  const r = await inspect(image)
  const { backend, compressAlgorithm, ...ramoops } = r.setup
  t.equal(backend, 'ramoops', 'no backend in version 1 meant ramoops')
  t.same(ramoops, v1.resolved, 'every field version 1 resolved, with its value')
  t.equal(compressAlgorithm, 'deflate', "the algorithm, now there whenever compress is (version 1 left deflate's out)")
  const flags = ['--mem-size', '64K', '--record-size', '4K', '--console-size', '4K', '--ftrace-size', '4K', '--pmsg-size', '4K', '--kernel', '6.12.0']
  const bare = await withoutSidecar(t, image, flags)
  t.same(r.setup, bare.setup, 'the setup the flags format was given give')
  t.same(r.records, bare.records, 'the same records, byte for byte')
  t.same(r.zones, bare.zones, 'the same zones')
  const dmesg = dmesgRecords(r)
  t.equal(dmesg.length, 3, "the fixture's three oopses")
  for (const rec of dmesg) t.match(text(rec), /Oops: 0002 \[#1\]/, `${rec.name}: an oops`)
  t.same(folder(image), before, 'inspect changed no file')

  await cli(['panic', image, '--reason', 'oops'])
  const after = folder(image)
  t.equal(after['ramoops.img.json'], before['ramoops.img.json'], 'a command that writes the image leaves the version-1 sidecar as it was')
  t.not(after['ramoops.img'], before['ramoops.img'], 'and writes the image')
  t.equal(dmesgRecords(await inspect(image)).length, 4, 'the fourth oops beside the three')

  await cli(['format', image, '--force', ...flags])
  const v2 = sidecarOf(image)
  t.equal(v2.pstoreSim, 2, 'format --force writes version 2')
  t.same(v2.setup, {
    backend: 'ramoops',
    params: { mem_size: 0x10000, record_size: 0x1000, console_size: 0x1000, ftrace_size: 0x1000, pmsg_size: 0x1000 },
    target: { kernel: '6.12.0' },
  })
  t.same(v2.resolved, r.setup, 'its resolved is the setup the version-1 file gave')
})

t.test('a version-1 erst sidecar: QEMU names for its sizes, the same records', async (t) => {
  const image = copyV1(t, 'erst.img')
  const v1 = sidecarOf(image)
  const before = folder(image)
  const r = await inspect(image)
  const { backend, size, record_size, ...target } = r.setup
  t.same(
    { backend, size, record_size },
    { backend: 'erst', size: v1.resolved.memSize, record_size: v1.resolved.erstRecordSize },
    'size and record_size as QEMU names them',
  )
  for (const key of TARGET_KEYS) t.same(target[key], v1.resolved[key], `${key} as before`)
  for (const key of ['memSize', 'recordSize', 'consoleSize', 'eccSize', 'memAddress', 'erstRecordSize']) t.notOk(key in r.setup, `no ${key}`)
  const bare = await withoutSidecar(t, image, ['--backend', 'erst', '--kernel', '6.12.107'])
  t.same(r.setup, bare.setup, 'the setup the flags give')
  t.same(r.records, bare.records, 'the same records')
  t.same(r.erst, bare.erst, 'the same slots')
  t.equal(dmesgRecords(r).length, 1, "the fixture's oops")
  t.same(folder(image), before, 'inspect changed no file')
  await cli(['panic', image, '--reason', 'oops'])
  t.equal(folder(image)['erst.img.json'], before['erst.img.json'], 'panic leaves the sidecar as it was')
  t.equal(dmesgRecords(await inspect(image)).length, 2, 'the new oops beside the old one')
})

const BLK_CMDLINE = 'pstore_blk.blkdev=/dev/vda pstore_blk.kmsg_size=64 pstore_blk.best_effort=y'

/** A blk sidecar as version 1 wrote it (`format --backend blk --cmdline BLK_CMDLINE --disk-size 256K --kernel 6.1.192`), its `resolved` cut to the fields compared. */
const BLK_V1 = {
  pstoreSim: 1,
  setup: { backend: 'blk', cmdline: BLK_CMDLINE, diskSize: 262144, target: { kernel: '6.1.192' } },
  resolved: {
    source: 'module',
    memSize: 262144,
    recordSize: 65536,
    consoleSize: 0,
    ftraceSize: 0,
    pmsgSize: 0,
    maxReason: 2,
    kernel: '6.1.192',
    cpus: 1,
    wordBits: 64,
    frontends: { console: false, pmsg: false, ftrace: false },
    compress: true,
    quirks: { pmsgBeforeFtrace: false, evenZoneSizes: true, emptyZoneChecksStart: true, compression: 'crypto-deflate-11', eccNoticePrefix: true },
    blk: { blkdev: '/dev/vda', diskSize: 262144, totalSize: 262144, kmsgSize: 65536 },
  },
}

t.test('a version-1 pstore/blk sidecar: its pstore_blk values, the same records as with version 2', async (t) => {
  const image = path.join(tempDir(t), 'blk.img')
  await cli(['format', image, '--backend', 'blk', '--cmdline', BLK_CMDLINE, '--disk-size', '256K', '--kernel', '6.1.192'])
  await cli(['panic', image])
  const v2 = await inspect(image)
  fs.writeFileSync(`${image}.json`, JSON.stringify(BLK_V1, null, 2) + '\n')
  const before = folder(image)
  const r = await inspect(image)
  t.same(r.setup, v2.setup, 'the setup version 2 gives')
  t.same(r.records, v2.records, 'the same records')
  t.same(r.zones, v2.zones, 'the same zones')
  const old = BLK_V1.resolved
  t.match(
    r.setup,
    {
      backend: 'blk',
      blkdev: old.blk.blkdev,
      kmsg_size: old.recordSize / 1024,
      pmsg_size: 0,
      console_size: 0,
      ftrace_size: 0,
      max_reason: old.maxReason,
      best_effort: true,
      diskSize: old.memSize,
    },
    'the module parameters as sysfs shows them (KiB), the disk',
  )
  for (const key of TARGET_KEYS) t.same(r.setup[key], old[key as keyof typeof old], `${key} as before`)
  t.same(folder(image), before, 'inspect changed no file')
})

t.test('a version-1 efi sidecar (its setup had the shape version 2 keeps): the setup and records of version 2', async (t) => {
  const image = path.join(tempDir(t), 'vars.fd')
  await cli(['format', image, '--backend', 'efi', '--efi-record-size', '2048', '--kernel', '6.12.107'])
  await cli(['panic', image])
  const v2 = await inspect(image)
  const { setup } = sidecarOf(image)
  t.same(setup, { backend: 'efi', efi: { record_size: 2048 }, target: { kernel: '6.12.107' } }, "what version 1 kept too (the store's size is the file's)")
  // version 1's resolved, in ramoops' names around efi's own (never read back)
  const resolved = { backend: 'efi', efiRecordSize: 2048, efiName: 'efi_pstore', source: 'module', memAddress: 0, memSize: v2.setup.size, recordSize: 2048 }
  fs.writeFileSync(`${image}.json`, JSON.stringify({ pstoreSim: 1, setup, resolved }, null, 2) + '\n')
  const before = folder(image)
  const r = await inspect(image)
  t.same(r.setup, v2.setup, 'the setup version 2 gives')
  t.same(r.records, v2.records, 'the same records')
  t.same(r.efi, v2.efi, 'the same variables')
  t.same(folder(image), before, 'inspect changed no file')
})

/** Format flags for each backend, and the fields its JSON has beside the target's (and some it must not have). */
const BACKENDS: Array<{ backend: string; flags: string[]; own: string[]; not: string[] }> = [
  {
    backend: 'ramoops',
    flags: ['--mem-size', '64K', '--record-size', '8K', '--console-size', '4K', '--pmsg-size', '4K', '--ftrace-size', '4K', '--kernel', '6.1.192'],
    own: ['source', 'memAddress', 'memSize', 'recordSize', 'consoleSize', 'ftraceSize', 'pmsgSize', 'eccSize', 'eccBlockSize', 'maxReason', 'ftracePerCpu'],
    not: ['size'],
  },
  {
    backend: 'blk',
    flags: ['--backend', 'blk', '--cmdline', BLK_CMDLINE, '--disk-size', '256K', '--kernel', '6.12.107'],
    own: ['blkdev', 'kmsg_size', 'pmsg_size', 'console_size', 'ftrace_size', 'max_reason', 'best_effort', 'diskSize'],
    not: ['memSize', 'recordSize', 'eccSize', 'blk'],
  },
  {
    backend: 'erst',
    flags: ['--backend', 'erst', '--erst-size', '0x20000', '--erst-record-size', '0x2000', '--kernel', '6.12.107'],
    own: ['size', 'record_size'],
    not: ['memSize', 'recordSize', 'consoleSize', 'eccSize', 'erstRecordSize'],
  },
  {
    backend: 'efi',
    flags: ['--backend', 'efi', '--efi-record-size', '2048', '--kernel', '6.12.107'],
    own: ['size', 'record_size', 'backendName', 'always_kmsg_dump'],
    not: ['memSize', 'recordSize', 'consoleSize', 'efiRecordSize', 'efiName'],
  },
]

for (const { backend, flags, own, not } of BACKENDS) {
  t.test(`${backend}: format writes version 2 in its own names; every command reads it back`, async (t) => {
    const image = path.join(tempDir(t), `${backend}.img`)
    await cli(['format', image, ...flags])
    const sidecar = sidecarOf(image)
    t.equal(sidecar.pstoreSim, 2, 'version 2')
    t.equal(sidecar.setup.backend, backend, 'the source names its backend')
    t.same(Object.keys(sidecar.resolved).sort(), ['backend', ...own, ...TARGET_KEYS, 'compressAlgorithm'].sort(), 'its own fields and the target half')
    for (const key of not) t.notOk(key in sidecar.resolved, `no ${key}`)
    t.same(setupJson(resolveSetup(readSidecar(image)!.setup)), sidecar.resolved, 'its setup resolves to its resolved')
    const before = folder(image)
    t.same((await inspect(image)).setup, sidecar.resolved, "inspect --json's setup is the sidecar's resolved")
    t.same(folder(image), before, 'inspect changed no file')
    await cli(['panic', image, '--reason', 'oops'])
    t.equal(folder(image)[`${backend}.img.json`], before[`${backend}.img.json`], 'panic leaves the sidecar as format wrote it')
    t.equal(dmesgRecords(await inspect(image)).length, 1, 'the oops, read back through the sidecar')
  })
}

/** A sidecar's text that no command may take, and the line the CLI says about it. */
const REFUSED: Array<{ what: string; text: (v2: Json) => string; line: RegExp; problem: string }> = [
  {
    what: 'a version from the future (3)',
    text: (v2) => JSON.stringify({ ...v2, pstoreSim: 3 }),
    line: /sidecar version 3, written by a newer pstore-sim \(this one reads versions 1 and 2\): open the image with a newer pstore-sim$/,
    problem: 'newerSidecar',
  },
  {
    what: 'cut off half-way',
    text: (v2) => JSON.stringify(v2).slice(0, 40),
    line: /not a readable sidecar: not valid JSON \(.*\); fix it, or move it away and pass the setup with flags$/,
    problem: 'badSidecar',
  },
  {
    what: 'no version',
    text: (v2) => JSON.stringify({ setup: v2.setup }),
    line: /not a readable sidecar: "pstoreSim" is missing, not a sidecar version \(1 or 2\); fix it/,
    problem: 'badSidecar',
  },
  {
    what: 'a backend pstore-sim has not',
    text: (v2) => JSON.stringify({ ...v2, setup: { ...v2.setup, backend: 'zfs' } }),
    line: /not a readable sidecar: setup\.backend is "zfs", not one of ramoops, blk, erst, efi; fix it/,
    problem: 'badSidecar',
  },
  {
    what: 'a size as text',
    text: (v2) => JSON.stringify({ ...v2, setup: { ...v2.setup, params: { ...v2.setup.params, mem_size: '64K' } } }),
    line: /not a readable sidecar: setup\.params\.mem_size is "64K", not a number; fix it/,
    problem: 'badSidecar',
  },
  {
    what: 'a version-1 file whose target is not an object',
    text: (v2) => JSON.stringify({ pstoreSim: 1, setup: { params: v2.setup.params, target: 'linux' } }),
    line: /not a readable sidecar: setup\.target is not an object; fix it/,
    problem: 'badSidecar',
  },
]

/**
 * The image and sidecar `format` writes with BACKENDS[0].flags, formatted once: each refusal
 * test damages a copy (a CLI start costs ~0.15 s of CPU; format is not what they test).
 */
let formattedOnce: Promise<string> | undefined
function formatted(): Promise<string> {
  if (!formattedOnce) {
    const image = path.join(tempDir(t), 'a.img')
    formattedOnce = cli(['format', image, ...BACKENDS[0].flags]).then(() => image)
  }
  return formattedOnce
}

for (const { what, text: damaged, line, problem } of REFUSED) {
  t.test(`a sidecar with ${what}: one line naming the file, exit 1, nothing changed`, async (t) => {
    const dir = tempDir(t)
    const original = await formatted()
    for (const name of fs.readdirSync(path.dirname(original))) fs.copyFileSync(path.join(path.dirname(original), name), path.join(dir, name))
    const image = path.join(dir, 'a.img')
    fs.writeFileSync(`${image}.json`, damaged(sidecarOf(image)))
    const before = folder(image)
    for (const args of [
      ['inspect', image],
      ['panic', image],
      ['console', image, 'x'],
    ]) {
      const r = await pstoreSim(args)
      t.equal(r.code, 1, `${args[0]}: a user's mistake`)
      t.equal(r.stderr.trim().split('\n').length, 1, `${args[0]}: one line: ${r.stderr.trim()}`)
      t.match(r.stderr.trim(), `${image}.json: `, `${args[0]}: names the sidecar`)
      t.match(r.stderr.trim(), line, `${args[0]}: says what is wrong and the fix`)
    }
    t.same(folder(image), before, 'no file changed')
    const err = await inspectImage(image, {}).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(err instanceof SetupError, 'the JS API: a SetupError')
    t.match(err, { facts: { problem, subject: `${image}.json` } }, 'with the facts the CLI phrases it from')
  })
}
