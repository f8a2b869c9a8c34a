/**
 * `npm start`'s main job, as a user runs it: the demo mounts a crashed machine's pstore, stays
 * up, and unmounts cleanly on Ctrl-C (SIGINT).
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { repoRoot } from '../helpers/fixtures.js'
import { cat, ls, run, tempDir, waitFor } from '../helpers/mount.js'

t.test('the demo mounts a crashed machine and unmounts on Ctrl-C', async (t) => {
  const dir = tempDir(t)
  const demo = spawn(process.execPath, [path.join(repoRoot, 'dist/scripts/demo.js')], {
    env: { ...process.env, PSTORE_SIM_DEMO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => demo.kill('SIGKILL'))
  let out = ''
  demo.stdout.on('data', (d) => (out += d))
  demo.stderr.on('data', (d) => (out += d))
  await waitFor(() => out.includes('Press Ctrl-C') || demo.exitCode !== null)
  t.match(out, 'Press Ctrl-C', 'the demo is up')
  const mnt = path.join(dir, 'pstore')
  t.match(out, mnt, 'it prints the mount path')
  t.same(await ls(mnt), ['console-ramoops-0', 'dmesg-ramoops-0', 'ftrace-ramoops', 'pmsg-ramoops-0'])
  t.match((await cat(path.join(mnt, 'dmesg-ramoops-0'))).stdout.toString(), /^Panic#1 Part1\n[\s\S]*Kernel panic - not syncing: modem watchdog expired/)
  t.equal((await cat(path.join(mnt, 'pmsg-ramoops-0'))).stdout.toString(), 'myapp: last words before the crash\n')
  t.ok(fs.statSync(`${mnt}.pmsg0`).isFIFO(), 'the FIFO is beside the mount')
  const exited = new Promise<number | null>((r) => demo.on('exit', r))
  demo.kill('SIGINT')
  t.equal(await exited, 0, 'exits 0 on Ctrl-C')
  t.match(out, 'unmounted')
  const mounts = await run('grep', ['-c', mnt, '/proc/self/mountinfo'])
  t.equal(mounts.stdout.toString().trim(), '0', 'nothing left mounted')
  t.notOk(fs.existsSync(`${mnt}.pmsg0`), 'FIFO removed')
})
