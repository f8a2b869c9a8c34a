/**
 * Where a command's setup comes from, through the real CLI: the sidecar `format` wrote, then
 * setup flags (module parameters one by one), `--cmdline` or `--dts` (each a whole setup), and
 * target flags on top of any of them. `inspect --json` shows the setup a command resolved.
 */

import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { pstoreSim, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

interface ResolvedSetup {
  source: string
  memSize: number
  recordSize: number
  consoleSize: number
  ftraceSize: number
  pmsgSize: number
  kernel: string
  cpus: number
}

async function resolved(image: string, flags: string[] = []): Promise<ResolvedSetup> {
  const r = await pstoreSim(['inspect', image, '--json', ...flags])
  if (r.code !== 0) throw new Error(`inspect ${flags.join(' ')}: ${r.stderr}`)
  return JSON.parse(r.stdout.toString()).setup
}

async function format(image: string, flags: string[]): Promise<void> {
  const r = await pstoreSim(['format', image, ...flags])
  if (r.code !== 0) throw new Error(`format ${flags.join(' ')}: ${r.stderr}`)
}

const PARAMS = ['--mem-size', '1M', '--record-size', '32K', '--console-size', '16K', '--pmsg-size', '8K', '--ftrace-size', '0', '--kernel', '6.1.192']

/**
 * `image` as `format image PARAMS` writes it (image, sidecar, state): formatted once, copied for
 * each test (a CLI start costs ~0.15 s of CPU, issue 28; format is not what these tests test).
 */
let formattedOnce: Promise<string> | undefined
async function formatParams(image: string): Promise<void> {
  if (!formattedOnce) {
    const first = path.join(tempDir(t), 'a.img')
    formattedOnce = format(first, PARAMS).then(() => first)
  }
  const first = await formattedOnce
  for (const suffix of ['', '.json', '.state.json']) fs.copyFileSync(first + suffix, image + suffix)
}

t.test('the sidecar alone gives the setup format was given; inspect never rewrites it', async (t) => {
  const image = path.join(tempDir(t), 'a.img')
  await formatParams(image)
  const before = sha256(fs.readFileSync(`${image}.json`))
  t.match(await resolved(image), {
    source: 'module',
    memSize: 0x100000,
    recordSize: 0x8000,
    consoleSize: 0x4000,
    pmsgSize: 0x2000,
    ftraceSize: 0,
    kernel: '6.1.192',
  })
  await resolved(image, ['--record-size', '8K'])
  t.equal(sha256(fs.readFileSync(`${image}.json`)), before, 'sidecar unchanged by a command with flags')
})

t.test('a setup flag overrides that one module parameter of the sidecar', async (t) => {
  const image = path.join(tempDir(t), 'a.img')
  await formatParams(image)
  t.match(await resolved(image, ['--record-size', '8K']), { recordSize: 0x2000, consoleSize: 0x4000, pmsgSize: 0x2000, ftraceSize: 0, kernel: '6.1.192' })
})

t.test('--cmdline replaces the module parameters (sizes it leaves out take the module defaults); the target stays', async (t) => {
  const image = path.join(tempDir(t), 'a.img')
  await formatParams(image)
  t.match(await resolved(image, ['--cmdline', 'quiet ramoops.mem_size=0x100000 ramoops.record_size=0x4000']), {
    recordSize: 0x4000,
    consoleSize: 4096,
    pmsgSize: 4096,
    ftraceSize: 4096,
    kernel: '6.1.192',
  })
})

t.test('on a command-line sidecar, a setup flag comes after its ramoops.* words (the last word wins)', async (t) => {
  const image = path.join(tempDir(t), 'a.img')
  await format(image, ['--cmdline', 'ramoops.mem_size=0x100000 ramoops.record_size=0x8000 ramoops.console_size=0x4000'])
  t.match(await resolved(image), { recordSize: 0x8000, consoleSize: 0x4000, pmsgSize: 4096 })
  t.match(await resolved(image, ['--pmsg-size', '8K', '--record-size', '16K']), {
    memSize: 0x100000,
    recordSize: 0x4000,
    consoleSize: 0x4000,
    pmsgSize: 0x2000,
  })
})

const DTS = `/dts-v1/;
/ {
  #address-cells = <1>;
  #size-cells = <1>;
  reserved-memory {
    #address-cells = <1>;
    #size-cells = <1>;
    ranges;
    ramoops@8000000 {
      compatible = "ramoops";
      reg = <0x8000000 0x100000>;
      record-size = <0x10000>;
      pmsg-size = <0x1000>;
    };
  };
};
`

t.test('--dts replaces the whole setup with the node and its defaults (0 for zones it does not name)', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'a.img')
  const dts = path.join(dir, 'ramoops.dts')
  fs.writeFileSync(dts, DTS)
  await formatParams(image)
  t.match(await resolved(image, ['--dts', dts]), { memSize: 0x100000, recordSize: 0x10000, consoleSize: 0, ftraceSize: 0, pmsgSize: 0x1000, kernel: '6.1.192' })
})

t.test('on a device-tree sidecar, module parameters are refused with one line; target flags apply', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'a.img')
  const dts = path.join(dir, 'ramoops.dts')
  fs.writeFileSync(dts, DTS)
  await format(image, ['--dts', dts])
  t.match(await resolved(image), { recordSize: 0x10000, pmsgSize: 0x1000, consoleSize: 0 })
  const r = await pstoreSim(['inspect', image, '--record-size', '8K'])
  t.equal(r.code, 1)
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line')
  t.match(r.stderr, `${image}: its setup is a device tree (${image}.json)`)
  t.match(await resolved(image, ['--kernel', '6.12.107', '--cpus', '2']), { kernel: '6.12.107', cpus: 2, recordSize: 0x10000 })
})

t.test('target flags override the sidecar target and keep its module parameters', async (t) => {
  const image = path.join(tempDir(t), 'a.img')
  await format(image, ['--mem-size', '1M', '--record-size', '32K', '--ftrace-size', '8K', '--kernel', '6.1.192', '--cpus', '2'])
  t.match(await resolved(image), { kernel: '6.1.192', cpus: 2, ftraceSize: 0x2000 })
  t.match(await resolved(image, ['--kernel', '6.12.107']), { kernel: '6.12.107', cpus: 2, recordSize: 0x8000, ftraceSize: 0x2000 })
})

t.test('no sidecar and no setup: one line saying what to give', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'dump.bin')
  fs.writeFileSync(image, Buffer.alloc(0x100000))
  const r = await pstoreSim(['inspect', image])
  t.equal(r.code, 1)
  t.match(r.stderr, `${image}: no setup`)
})
