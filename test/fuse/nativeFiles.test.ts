/**
 * Native answers (src/nativeFiles.ts, fuse.files in native/fuse.c): getattr, readdir, open and read
 * are answered by the addon from a mirror of the view, without the daemon's JS handlers. The same
 * clients against a native mount and a JS-only one (PSTORE_SIM_NATIVE_FILES=0) must see the same
 * files, bytes, errors and changes; the daemon's request counters show which path answered.
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { send } from '../../src/daemon/client.js'
import { DEMO, demoImage, ls, mountImage, pstoreSim, type RunResult, run, runProductsUninstrumented, sha256, tempDir } from '../helpers/mount.js'

// pstore-sim's processes here run without tap's per-process hook (helpers/mount.ts)
runProductsUninstrumented()

interface Status {
  nativeFiles: boolean
  jsRequests: Record<string, number>
}

/** An image with every kind of file, booted once after its records were written. */
async function richImage(t: Test, dir: string, name: string): Promise<string> {
  const image = path.join(dir, name)
  for (const args of [
    ['format', image, ...DEMO],
    ['console', image, 'console line of the first boot'],
    ['pmsg', image, 'pmsg bytes of the first boot'],
    ['panic', image, '--reason', 'oops', '--no-compress', '--time', '1704067210.305249'],
    ['panic', image, '--time', '1704067299'],
  ]) {
    const r = await pstoreSim(args)
    t.equal(r.code, 0, `${args[0]}: ${r.stderr}`)
  }
  return image
}

/** Every stat reaches the daemon (no kernel cache), so what answers it is what is compared. */
const mountUncached = (t: Test, image: string, mnt: string, env: NodeJS.ProcessEnv = {}) => mountImage(t, image, mnt, ['-o', 'cache_timeout=0'], env)

const sh = (script: string, ...args: string[]): Promise<RunResult> => run('sh', ['-c', script, 'sh', ...args])

/** What clients see of a mount, as text, without what differs from boot to boot (times, console timing). */
async function observe(mnt: string): Promise<string[]> {
  const seen: string[] = []
  const names = await ls(mnt)
  seen.push(`ls: ${names.join(' ')}`)
  for (const name of names) {
    const file = path.join(mnt, name)
    const st = await run('stat', ['-c', '%s %a %u %g %F %b', file])
    const body = await run('cat', [file])
    // a console log carries the simulated boot's own timing: its length is what must agree
    const digest = name.startsWith('console-') ? '' : sha256(body.stdout)
    seen.push(`${name}: stat ${st.stdout.toString().trim()} | cat ${body.code} ${body.stdout.length} ${digest}`)
    if (name.startsWith('dmesg-')) seen.push(`${name}: mtime ${(await run('stat', ['-c', '%y', file])).stdout.toString().trim()}`)
  }
  const root = await run('stat', ['-c', '%a %u %g %F', mnt])
  seen.push(`root: ${root.stdout.toString().trim()}`)
  return seen
}

/** The same story on a mount: reads at odd offsets, errors, changes in memory, rm of an open file. */
async function story(t: Test, mnt: string): Promise<string[]> {
  const seen = await observe(mnt)
  const dmesg = path.join(mnt, 'dmesg-ramoops-0')
  for (const [bs, skip] of [
    [1, 9],
    [7, 3],
    [4096, 1],
    [100000, 0],
  ]) {
    const r = await run('dd', [`if=${dmesg}`, `bs=${bs}`, `skip=${skip}`, 'status=none'])
    seen.push(`dd bs=${bs} skip=${skip}: ${r.code} ${r.stdout.length} ${sha256(r.stdout)}`)
  }
  for (const [what, r] of [
    ['stat missing', await run('stat', [path.join(mnt, 'dmesg-ramoops-9')])],
    ['cat missing', await run('cat', [path.join(mnt, 'nope')])],
    ['ls file/', await run('ls', [`${dmesg}/`])],
    ['stat file/x', await run('stat', [`${dmesg}/x`])],
    ['echo >', await sh('echo x > "$1"', path.join(mnt, 'new-file'))],
  ] as const) {
    seen.push(`${what}: ${r.code} ${r.stderr.replace(mnt, 'MNT').trim()}`)
  }
  // Changes that stay in memory: the mirror must follow every one.
  await run('chmod', ['600', path.join(mnt, 'console-ramoops-0')])
  await run('touch', ['-m', '-d', '2024-03-01 03:04:05.123456789 UTC', path.join(mnt, 'pmsg-ramoops-0')])
  await run('truncate', ['-s', '0', path.join(mnt, 'dmesg-ramoops-1')])
  await run('chmod', ['700', mnt])
  seen.push(...(await observe(mnt)))
  seen.push(`pmsg mtime: ${(await run('stat', ['-c', '%y', path.join(mnt, 'pmsg-ramoops-0')])).stdout.toString().trim()}`)
  // An unlinked file stays readable (and fstat-able) through a descriptor opened before.
  const held = await run('python3', [
    '-c',
    'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.unlink(sys.argv[1]); print(len(os.read(fd, 1 << 20)))',
    dmesg,
  ])
  seen.push(`read after unlink: ${held.code} ${held.stdout.toString().trim()} ${held.stderr.trim()}`)
  seen.push(`ls after rm: ${(await ls(mnt)).join(' ')}`)
  t.equal((await pstoreSim(['reboot', mnt])).code, 0, 'reboot')
  seen.push(...(await observe(mnt)))
  return seen
}

t.test('native answers and JS answers show the same files, bytes, errors and changes', async (t) => {
  const dir = tempDir(t)
  const nativeImage = await richImage(t, dir, 'native.img')
  const jsImage = path.join(dir, 'js.img')
  fs.copyFileSync(nativeImage, jsImage)
  fs.copyFileSync(`${nativeImage}.json`, `${jsImage}.json`)
  if (fs.existsSync(`${nativeImage}.state.json`)) fs.copyFileSync(`${nativeImage}.state.json`, `${jsImage}.state.json`)
  const nativeMnt = path.join(dir, 'native')
  const jsMnt = path.join(dir, 'js')
  await mountUncached(t, nativeImage, nativeMnt)
  await mountUncached(t, jsImage, jsMnt, { PSTORE_SIM_NATIVE_FILES: '0' })

  const nativeStory = await story(t, nativeMnt)
  const jsStory = await story(t, jsMnt)
  t.same(nativeStory, jsStory, 'the same story through both')
  // and the story is the one a pstore tells
  t.match(nativeStory.join('\n'), /ls: console-ramoops-0 dmesg-ramoops-0 dmesg-ramoops-1 pmsg-ramoops-0/)
  t.match(nativeStory.join('\n'), /dmesg-ramoops-0: mtime 2024-01-01 00:00:10\.305249000/)
  t.match(nativeStory.join('\n'), /console-ramoops-0: stat \d+ 600 /, 'chmod seen')
  t.match(nativeStory.join('\n'), /dmesg-ramoops-1: stat 0 444 .* \| cat 0 0 /, 'truncated in memory: empty')
  t.match(nativeStory.join('\n'), /pmsg mtime: 2024-03-01 03:04:05\.123456789/, 'touch -d seen')
  t.match(nativeStory.join('\n'), /read after unlink: 0 1547 /, 'an open file reads whole after rm')
  t.match(nativeStory.join('\n'), /ls after rm: console-ramoops-0 dmesg-ramoops-1 pmsg-ramoops-0/)
  t.match(nativeStory.join('\n'), /root: 700 /, 'chmod of the root seen')

  const nativeStatus = (await send(nativeMnt, { op: 'status' })) as Status
  const jsStatus = (await send(jsMnt, { op: 'status' })) as Status
  t.equal(nativeStatus.nativeFiles, true, 'the native mount has the native table')
  t.equal(jsStatus.nativeFiles, false)
  for (const op of ['getattr', 'fgetattr', 'readdir', 'read']) {
    t.equal(nativeStatus.jsRequests[op], 0, `native: no ${op} reached the JS handlers`)
    t.ok(jsStatus.jsRequests[op] > 0, `JS-only: ${op} served by the JS handlers (${jsStatus.jsRequests[op]})`)
  }
  t.ok(nativeStatus.jsRequests.unlink > 0 && nativeStatus.jsRequests.chmod > 0, 'changes still go through the JS handlers')
})

t.test('a reboot replaces the native table at once: a listing shows the old files or the new, never half', async (t) => {
  const dir = tempDir(t)
  const image = await demoImage(t, dir)
  const mnt = path.join(dir, 'mnt')
  await mountUncached(t, image, mnt)
  // boot k shows k dmesg records (k oopses before it: slots 0..k-1), plus the console file
  const valid = new Set<string>()
  const listing = (dmesgCount: number) => ['console-ramoops-0', ...Array.from({ length: dmesgCount }, (_, i) => `dmesg-ramoops-${i}`)].sort().join(' ')
  valid.add(listing(0))
  const lister = spawn('sh', ['-c', 'while [ ! -e "$1" ]; do ls -A "$2" | tr "\\n" " "; echo; done', 'sh', path.join(dir, 'stop'), mnt], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  lister.stdout.on('data', (d) => (out += d))
  const oopses = 6
  for (let k = 1; k <= oopses; k++) {
    for (let slot = 0; slot < k - 1; slot++) t.equal((await pstoreSim(['panic', mnt, '--reason', 'oops'])).code, 0)
    const r = await pstoreSim(['panic', mnt, '--reason', 'oops', '--reboot'])
    t.equal(r.code, 0, `oops ${k} and reboot: ${r.stderr}`)
    valid.add(listing(k))
  }
  fs.writeFileSync(path.join(dir, 'stop'), '')
  await new Promise((r) => lister.on('exit', r))
  const listings = out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
  t.ok(listings.length > oopses, `${listings.length} listings taken during ${oopses} reboots`)
  const torn = listings.filter((l) => !valid.has(l))
  t.same(torn, [], 'no listing was a mix of two boots')
  t.equal(listings[listings.length - 1], listing(oopses), "the last listing is the last boot's")
})

t.test(
  "a compressed record's text is made at its first open: ls and stat before it show its size, the open reaches the daemon once, reads never",
  async (t) => {
    const dir = tempDir(t)
    const image = path.join(dir, 'lazy.img')
    for (const args of [
      ['format', image, ...DEMO],
      ['panic', image, '--reason', 'oops', '--time', '1704067210'],
      ['panic', image, '--time', '1704067299'],
    ]) {
      const r = await pstoreSim(args)
      t.equal(r.code, 0, `${args[0]}: ${r.stderr}`)
    }
    const mnt = path.join(dir, 'mnt')
    await mountUncached(t, image, mnt)
    const status = async () => ((await send(mnt, { op: 'status' })) as Status).jsRequests
    const files = ['dmesg-ramoops-0', 'dmesg-ramoops-1'].map((name) => path.join(mnt, name))
    const sizes = (await run('stat', ['-c', '%s', ...files])).stdout.toString().trim().split('\n').map(Number)
    t.match((await run('ls', ['-l', mnt])).stdout.toString(), /dmesg-ramoops-1\n/)
    t.equal((await status()).open ?? 0, 0, 'ls and stat made no text')
    for (const [i, file] of files.entries()) {
      const first = await run('cat', [file])
      const again = await run('cat', [file])
      t.equal(first.code, 0)
      t.equal(first.stdout.length, sizes[i], `${path.basename(file)}: stat's size is the text's (${sizes[i]} bytes)`)
      t.match(first.stdout.toString(), /^(Oops|Panic)#\d+ Part1\n/, 'the inflated text')
      t.same(again.stdout, first.stdout, 'the same bytes at the second open')
    }
    const counts = await status()
    t.equal(counts.open, 2, 'one open per file reached the daemon: the first')
    t.equal(counts.read ?? 0, 0, 'every read was native, the first open’s too')
  },
)
