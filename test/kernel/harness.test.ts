/**
 * Self-check of the kernel harness against test/fixtures/kernel-6.1/b-reboot: booting the same
 * Debian kernel on the same image must give the same listing and the same region bytes.
 * Prepares the kernel cache itself (scripts/kernel/prepare.sh, idempotent) when needed.
 */

import { inflateRawSync } from 'node:zlib'
import t, { type Test } from 'tap'
import type { KernelListingFile } from '../helpers/fixtures.js'
import { listedFile } from './fixture-writer.js'
import { fixtureCase, type KernelRamoopsParams, type KernelRun, kernelInfo, runKernel } from './harness.js'
import { kernelSuite } from './skip.js'

const bReboot = fixtureCase('kernel-6.1', 'b-reboot')

type FixtureFile = KernelListingFile

const num = (v: string | number): number => (typeof v === 'number' ? v : Number(v))

function fixtureParams(): KernelRamoopsParams {
  const r = bReboot.params.ramoops as Record<string, string | number>
  return {
    memAddress: num(r.mem_address),
    memSize: num(r.mem_size),
    recordSize: num(r.record_size),
    consoleSize: num(r.console_size),
    ftraceSize: num(r.ftrace_size),
    pmsgSize: num(r.pmsg_size),
    ecc: num(r.ecc),
  }
}

function firstDiff(a: Buffer, b: Buffer): string {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`
  let n = 0
  let first = -1
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      if (first < 0) first = i
      n++
    }
  }
  return first < 0 ? 'equal' : `${n} bytes differ, first at 0x${first.toString(16)}`
}

/** The listing as listing.json has it, without contents (the harness checked each sha256 against its content). */
function simplify(files: KernelRun['listings'][number]['files']): object[] {
  return files.map(listedFile)
}

const { skip } = await kernelSuite()

t.test('kernel harness reproduces fixture b-reboot', { skip }, async (t) => {
  const info = kernelInfo()
  t.comment(`kernel: ${info?.package} ${info?.version}; ${info?.qemuVersion}`)

  const params = fixtureParams()
  const image = bReboot.file('region-before.bin')
  const expected: { files: FixtureFile[] } = bReboot.listing()
  const expectedFiles = expected.files.map((f) => ({
    name: f.name,
    size: f.size,
    mode: f.mode,
    uid: f.uid,
    gid: f.gid,
    mtime: f.mtime,
    mtime_nsec: f.mtime_nsec,
    sha256: f.sha256,
  }))

  await t.test('boot + list: same listing, region untouched', async (t) => {
    const run = await runKernel({ image, params, actions: ['list'] })
    t.comment(`boot: /init after ${run.timings.toInitMs} ms, total ${run.timings.totalMs} ms`)
    t.equal(run.panicked, false, 'no panic')
    t.equal(run.listings.length, 1, 'one listing')
    t.same(simplify(run.listings[0]?.files ?? []), expectedFiles, 'listing equals b-reboot/listing.json')
    t.equal(run.moduleParams['ramoops/parameters/mem_size'], String(params.memSize), 'module params applied')
    const after = bReboot.read('region-after-boot.bin')
    t.equal(run.region.length, params.memSize, 'dumped memSize bytes')
    t.ok(run.region.equals(after), `region equals region-after-boot.bin (${firstDiff(run.region, after)})`)
  })

  await t.test('rm dmesg-ramoops-0: erased region, record gone after reload', async (t) => {
    const run = await runKernel({ image, params, actions: ['rm:dmesg-ramoops-0', 'list', 'reload', 'list'] })
    t.comment(`boot: /init after ${run.timings.toInitMs} ms, total ${run.timings.totalMs} ms`)
    t.ok(run.events.includes('RM ok name=dmesg-ramoops-0'), 'rm succeeded')
    t.same(
      run.listings.map((l) => [l.tag, l.files.length]),
      [
        ['step2', 0],
        ['step4', 0],
      ],
      'nothing listed after rm, nor after reload',
    )
    const after = bReboot.read('region-after-erase.bin')
    t.ok(run.region.equals(after), `region equals region-after-erase.bin (${firstDiff(run.region, after)})`)
  })

  // a-panic's geometry: first dmesg zone header at 0, the next zone at 0x83ba
  const RTC_BASE = Date.UTC(2024, 0, 1) / 1000
  const dmesgZone0 = (t: Test, region: Buffer): { text: string; header: string } => {
    t.equal(region.readUInt32LE(0), 0x43474244, 'dmesg zone 0 has the persistent_ram signature')
    const start = region.readUInt32LE(4)
    const size = region.readUInt32LE(8)
    const data = region.subarray(12, 12 + size)
    const nl = data.indexOf(0x0a)
    const header = data.subarray(0, nl + 1).toString('latin1')
    t.match(header, /^====\d+\.\d{6}-C\n$/, `compressed record header ${JSON.stringify(header)} (start=${start} size=${size})`)
    return { text: inflateRawSync(data.subarray(nl + 1)).toString('latin1'), header }
  }

  await t.test('panic on a zeroed region: one compressed dmesg record, other zones as in a-panic', async (t) => {
    const run = await runKernel({ image: Buffer.alloc(params.memSize), params, actions: ['kmsg:pstoresim+marker+before+panic', 'panic'] })
    t.comment(`boot: /init after ${run.timings.toInitMs} ms, total ${run.timings.totalMs} ms`)
    t.equal(run.panicked, true, 'panicked')
    t.match(run.serial, /Kernel panic - not syncing: sysrq triggered crash/, 'panic on the console')
    const { text, header } = dmesgZone0(t, run.region)
    const sec = Number(header.slice(4).split('.')[0])
    t.ok(sec >= RTC_BASE && sec < RTC_BASE + 300, `record time ${sec} follows the RTC base`)
    t.match(text, /^Panic#1 Part1\n/, 'inflated record starts with Panic#1 Part1')
    t.match(text, /pstoresim marker before panic/, 'record holds the kmsg marker')
    const fixture = fixtureCase('kernel-6.1', 'a-panic').read('region-after-panic.bin')
    t.ok(run.region.subarray(0x83ba).equals(fixture.subarray(0x83ba)), 'bytes after dmesg zone 0 equal a-panic (zone headers)')
  })

  await t.test('oops (helper module), reload, list: an Oops record', { skip: info?.oopsModule ? false : 'oops helper module not built' }, async (t) => {
    const run = await runKernel({ image: Buffer.alloc(params.memSize), params, actions: ['oops', 'reload', 'list'] })
    t.comment(`boot: /init after ${run.timings.toInitMs} ms, total ${run.timings.totalMs} ms`)
    t.equal(run.panicked, false, 'no panic: the kernel survives the oops')
    t.match(run.serial, /BUG: kernel NULL pointer dereference/, 'oops on the console')
    const files = run.listings[0]?.files ?? []
    t.same(
      files.map((f) => f.name),
      ['dmesg-ramoops-0'],
      'one dmesg record',
    )
    const f = files[0]
    if (f) {
      t.equal(f.mode, '0444')
      t.equal(f.size, f.content.length, 'size = decompressed length')
      t.match(f.content.toString('latin1'), /^Oops#1 Part1\n/, 'record starts with Oops#1 Part1')
      t.ok(f.mtimeSec >= RTC_BASE && f.mtimeSec < RTC_BASE + 300, 'mtime from the record header')
    }
    const { text } = dmesgZone0(t, run.region)
    t.equal(text, f?.content.toString('latin1'), 'region record inflates to the listed content')
  })
})
