/**
 * The benchmark's region filler (scripts/bench/fill.mjs) against the built library: what it
 * writes is a region pstore-sim mounts with every record it says it stored. (It reaches into the
 * machine's backend, so an engine change can break `npm run bench` without this.)
 */
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { demoImage, ls, mountImage, run, tempDir } from '../helpers/mount.js'

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
