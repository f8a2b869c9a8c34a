/**
 * `inspect --svg` / `--html`: the picture of a region, rendered by a real headless Chromium
 * (Debian's `chromium`, installed by scripts/install-chromium.sh, idempotent) for every backend
 * (ramoops at 1 MiB and 256 MiB, pstore/blk, ERST, efi variable stores): the DOM Chromium built
 * must hold every zone (or variable) row and its labels and no parser error, and a screenshot
 * must be written.
 */
import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { fixturePath, repoRoot } from '../helpers/fixtures.js'
import { pstoreSim, tempDir } from '../helpers/mount.js'

const run = promisify(execFile)

function chromiumReady(): string | undefined {
  try {
    execFileSync(path.join(repoRoot, 'scripts/install-chromium.sh'), { stdio: 'pipe' })
    return undefined
  } catch (err) {
    return `chromium is not installed and cannot be (${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message})`
  }
}

const missing = chromiumReady()

/** One headless Chromium run with a fresh profile: the DOM it built, or a screenshot. */
async function chromium(dir: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const profile = fs.mkdtempSync(path.join(dir, 'profile-'))
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    '--enable-logging=stderr',
    '--v=0',
  ]
  return run('chromium', [...flags, ...args], { maxBuffer: 256 * 1024 * 1024, timeout: 300_000 })
}

interface Picture {
  name: string
  image: () => Promise<string>
  flags: string[]
  zones: RegExp[]
}

const copy = (rel: string) => async () => {
  const file = path.join(tempDir(t), 'dump.bin')
  fs.copyFileSync(fixturePath(rel), file)
  return file
}

const pictures: Picture[] = [
  {
    name: 'ramoops 1 MiB (6.12, ECC, 2 CPUs)',
    image: copy('kernel-6.12/c-ecc-oops/region-after-oops.bin'),
    flags: ['--detect', '--kernel', '6.12.107', '--frontends', 'none'],
    zones: [/data-type="dmesg" data-index="0" data-fate="keeps"/, /data-type="ftrace"/, /dmesg-ramoops-1 @ 1704067215/],
  },
  {
    name: 'ramoops 1 MiB (6.1, wrapped rings)',
    image: copy('kernel-6.1/f2-wrapped/region-before.bin'),
    flags: ['--detect', '--kernel', '6.1.192', '--frontends', 'none'],
    zones: [/data-type="console"[^>]*data-fate="keeps"/, /class="wrap"/, /console-ramoops-0/],
  },
  {
    name: 'pstore/blk disk',
    image: copy('blk-6.1/a-oops-rr/disk-after-list.bin'),
    flags: ['--detect', '--kernel', '6.1.192'],
    zones: [/data-type="dmesg"/, /pstore\/blk 256 KiB/],
  },
  {
    name: 'ERST file',
    image: copy('erst-6.12/a-oops-panic/erst-after-list.bin'),
    flags: ['--detect', '--kernel', '6.12.107'],
    zones: [/data-type="slot /, /erst 64 KiB/],
  },
  {
    name: 'efi variable store (6.12, OVMF 4 MiB layout, deleted variables)',
    image: copy('efi-6.12/a-oops-panic/vars-after-erase.fd'),
    flags: ['--detect', '--kernel', '6.12.107'],
    zones: [
      /efi 528 KiB/,
      /id="store"/,
      /class="area" data-kind="fv-header"/,
      /class="area" data-kind="ftw-working"/,
      /class="area" data-kind="free"/,
      /data-owner="pstore" data-state="live" data-fate="lists"/,
      /data-owner="pstore" data-state="deleted" data-fate="ignored"/,
      /data-owner="firmware" data-state="live" data-fate="skipped"/,
      /dmesg-efi_pstore-170406726402001 @ 1704067264/,
    ],
  },
  {
    name: 'efi variable store (6.1, full: 276 records)',
    image: copy('efi-6.1/c-full/vars-after-fill.fd'),
    flags: ['--detect', '--kernel', '6.1.192'],
    zones: [/efi 528 KiB/, /276 record\(s\)/, /dmesg-efi-170406722601001 @ 1704067226/, /data-state="in-transition"|data-state="deleted"/],
  },
  {
    name: 'ramoops 256 MiB of 4 KiB zones',
    image: async () => {
      const file = path.join(tempDir(t), 'big.img')
      const r = await pstoreSim([
        'format',
        file,
        '--mem-size',
        '256M',
        '--record-size',
        '4K',
        '--console-size',
        '64K',
        '--pmsg-size',
        '64K',
        '--ftrace-size',
        '64K',
        '--cpus',
        '4',
      ])
      if (r.code !== 0) throw new Error(r.stderr.toString())
      return file
    },
    flags: [],
    zones: [/dmesg\[0–65487\] ×65488/, /ramoops 256 MiB/, /data-type="ftrace" data-index="0"[^>]*data-count="4"/],
  },
]

for (const p of pictures) {
  t.test(`${p.name}: rendered by headless Chromium`, { skip: missing }, async (t) => {
    const image = await p.image()
    const dir = tempDir(t)
    const svg = path.join(dir, 'region.svg')
    const html = path.join(dir, 'region.html')
    const r = await pstoreSim(['inspect', image, ...p.flags, '--svg', svg, '--html', html])
    t.equal(r.code, 0, `inspect --svg --html exits 0 ${r.stderr}`)
    const png = path.join(dir, 'region.png')
    for (const file of [svg, html]) {
      // the HTML's DOM and its screenshot from one Chromium run (a start costs more than both)
      const shoot = file === html ? ['--window-size=1400,1000', `--screenshot=${png}`] : []
      const dom = await chromium(dir, ['--dump-dom', ...shoot, `file://${file}`])
      t.notMatch(dom.stdout, /parsererror|This page contains the following errors/, `${path.basename(file)}: no parser error`)
      t.notMatch(dom.stderr, /Uncaught|CONSOLE\(\d+\)\].*[Ee]rror/, `${path.basename(file)}: no page error`)
      t.match(dom.stdout, /id="overview"/, `${path.basename(file)}: the region bar`)
      for (const z of p.zones) t.match(dom.stdout, z, `${path.basename(file)}: ${z.source}`)
    }
    const shot = fs.readFileSync(png)
    t.ok(shot.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) && shot.length > 10_000, 'a screenshot')
  })
}
