/**
 * The benchmark's region filler (scripts/bench/fill.mjs) against the built library: what it
 * writes is a region pstore-sim mounts with every record it says it stored. (It reaches into the
 * machine's backend, so an engine change can break `npm run bench` without this.)
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { demoImage, ls, mountImage, pstoreSim, run, tempDir } from '../helpers/mount.js'

t.test('fill.mjs writes N records a mount lists', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const fill = await run(process.execPath, [path.join(repoRoot, 'scripts/bench/fill.mjs'), repoRoot, image, '20'])
  t.equal(fill.code, 0, `fill: ${fill.stderr}`)
  const report = JSON.parse(fill.stdout.toString()) as { records: number; zones: number }
  t.equal(report.records, 20, '20 records stored (19 oopses and the panic)')
  const mountpoint = path.join(dir, 'mnt')
  fs.mkdirSync(mountpoint)
  t.equal((await mountImage(t, image, mountpoint, ['-o', 'ro'])).code, 0)
  const names = await ls(mountpoint)
  t.equal(names.filter((n) => n.startsWith('dmesg-ramoops-')).length, 20, 'the mount lists 20 dmesg records')
  t.ok(names.includes('pmsg-ramoops-0') && names.includes('console-ramoops-0'), 'and the console and pmsg records fill wrote')
})

t.test('fill.mjs with records smaller than a dump: every record it counts is one the mount lists', async (t) => {
  const dir = tempDir(t)
  const image = path.join(dir, 'small records.img')
  const format = await pstoreSim([
    'format',
    image,
    '--mem-size',
    '2M',
    '--record-size',
    '4K',
    '--console-size',
    '4K',
    '--pmsg-size',
    '4K',
    '--ftrace-size',
    '4K',
  ])
  t.equal(format.code, 0, `format: ${format.stderr}`)
  const fill = await run(process.execPath, [path.join(repoRoot, 'scripts/bench/fill.mjs'), repoRoot, image, '120'])
  t.equal(fill.code, 0, `fill: ${fill.stderr}`)
  t.equal(
    (JSON.parse(fill.stdout.toString()) as { records: number }).records,
    120,
    '120 records stored (ramoops refuses all but part 1 of a dump: those are not copied)',
  )
  const mountpoint = path.join(dir, 'mnt')
  fs.mkdirSync(mountpoint)
  t.equal((await mountImage(t, image, mountpoint, ['-o', 'ro'])).code, 0)
  t.equal((await ls(mountpoint)).filter((n) => n.startsWith('dmesg-ramoops-')).length, 120, 'the mount lists 120 dmesg records')
})
