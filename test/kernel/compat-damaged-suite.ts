/**
 * The damaged images of test/fixtures/damaged/ (issue 33) booted by a real kernel (Debian's:
 * pstore_blk.ko on a virtio disk, the built-in ERST driver over QEMU's acpi-erst): its listing
 * must be what `inspect --json --content` predicts (names, i_size, bytes, dmesg mtimes), and on
 * ERST its `rm` of the file named by the map id must leave the bytes pstore-sim's rm leaves.
 *
 * - erst-header-id-differs-from-map: named by QEMU's map id; rm of that name works.
 * - the same file with an all-ones map entry in slot 3: the listing ends before it.
 * - blk-counter-all-ones: `Oops: Total -1 times`.
 * - blk-pmsg-start-past-datalen: no file at all, and the kernel logs its failed recovery.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { erstBackend, firstDiff } from '../helpers/erstKernel.js'
import { readFixture } from '../helpers/fixtures.js'
import { pstoreSim, runProductsUninstrumented } from '../helpers/mount.js'
import { type KernelRun, type KernelSelector, kernelInfo, kernelSkipReason, runKernel } from './harness.js'

const ERST = { size: 65536, recordSize: 8192 }
const BLK_OPTIONS = ['blkdev=/dev/vda', 'kmsg_size=16', 'pmsg_size=8', 'console_size=8', 'best_effort=y']
const MAP_ID_1 = 7318912958610800641n

interface Predicted {
  name: string
  kernelSize: number
  mtime: string | null
  contentBase64: string
}

async function predict(t: Test, image: Buffer, setup: string[]): Promise<{ records: Predicted[]; readPassFailure?: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-damaged-compat-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'image.bin')
  fs.writeFileSync(file, image)
  const r = await pstoreSim(['inspect', file, '--json', '--content', ...setup])
  if (r.code !== 0) throw new Error(`inspect: ${r.stderr}`)
  const out = JSON.parse(r.stdout.toString()) as { records: Predicted[]; readPassFailure?: string }
  out.records.sort((a, b) => (a.name < b.name ? -1 : 1)) // the guest lists with ls
  return out
}

function sameFiles(t: Test, run: KernelRun, predicted: Predicted[]): void {
  const files = run.listings[0]?.files
  if (!files) {
    t.fail(`the guest gave no listing; its serial output ends:\n${run.serial.slice(-3000)}`)
    return
  }
  t.same(
    files.map((f) => f.name),
    predicted.map((p) => p.name),
    "the kernel's names = inspect's",
  )
  for (const [i, p] of predicted.entries()) {
    const f = files[i]
    if (!f) continue
    t.equal(f.size, p.kernelSize, `${f.name} i_size`)
    t.ok(f.content.equals(Buffer.from(p.contentBase64, 'base64')), `${f.name} content`)
    if (p.mtime) t.equal(`${f.mtimeSec}.${String(f.mtimeNsec).padStart(9, '0')}`, p.mtime, `${f.name} mtime`)
  }
}

export async function damagedCompatSuite(kernel: KernelSelector): Promise<void> {
  runProductsUninstrumented()
  const skip = await kernelSkipReason(kernel)
  if (skip && process.env.PSTORE_SIM_REQUIRE_KERNEL === '1') t.fail(`kernel suite (${kernel}) required but: ${skip}`)
  const info = skip ? null : kernelInfo(kernel)
  const version = info?.kernelVersion ?? '6.12.0'
  const erstSetup = ['--backend', 'erst', '--erst-size', String(ERST.size), '--erst-record-size', String(ERST.recordSize), '--kernel', version]
  const blkSetup = ['--backend', 'blk', '--kernel', version, '--cmdline', [...BLK_OPTIONS.map((o) => `pstore_blk.${o}`), 'pstore.compress=none'].join(' ')]
  const tag = `[${kernel} ${version}] damaged`
  const opts = { skip: skip || false }

  t.test(`${tag}: erst-header-id-differs-from-map: named by QEMU's map id; rm of that name`, opts, async (t) => {
    const image = readFixture('damaged/erst-header-id-differs-from-map.bin')
    const { records } = await predict(t, image, erstSetup)
    t.ok(
      records.some((r) => r.name === `dmesg-erst-${MAP_ID_1}`),
      'pstore-sim names slot 1 by its map id',
    )
    const victim = `dmesg-erst-${MAP_ID_1}`
    const r = await runKernel({ kernel, image, erst: ERST, actions: ['list', `rm:${victim}`, 'list'], timeoutMs: 300_000 })
    t.comment(`boot: total ${r.timings.totalMs} ms; listed ${r.listings[0]?.files.map((f) => f.name).join(' ')}`)
    sameFiles(t, r, records)
    t.same(
      r.events.filter((e) => e.startsWith('RM')),
      [`RM ok name=${victim}`],
    )
    t.same(
      r.listings[1].files.map((f) => f.name),
      records.map((p) => p.name).filter((n) => n !== victim),
      'after rm',
    )
    const ours = erstBackend({ size: ERST.size, recordSize: ERST.recordSize, kernelVersion: version, compress: true }, image)
    ours.boot()
    ours.erase('dmesg', MAP_ID_1)
    const left = Buffer.from(ours.region.bytes)
    t.ok(left.equals(r.region), `rm in the guest = pstore-sim's erase: ${firstDiff(left, r.region)}`)
  })

  t.test(`${tag}: an all-ones map entry (slot 3) ends the listing`, opts, async (t) => {
    const image = readFixture('damaged/erst-header-id-differs-from-map.bin')
    image.writeBigUInt64LE(0xffffffffffffffffn, 24 + 3 * 8)
    const { records } = await predict(t, image, erstSetup)
    t.equal(records.length, 2, 'pstore-sim lists slots 1 and 2')
    const r = await runKernel({ kernel, image, erst: ERST, actions: ['list'], timeoutMs: 300_000 })
    t.comment(`boot: total ${r.timings.totalMs} ms; listed ${r.listings[0]?.files.map((f) => f.name).join(' ')}`)
    sameFiles(t, r, records)
  })

  t.test(`${tag}: blk-counter-all-ones: Total -1 times`, opts, async (t) => {
    const image = readFixture('damaged/blk-counter-all-ones.bin')
    const { records } = await predict(t, image, blkSetup)
    t.match(Buffer.from(records[0]?.contentBase64 ?? '', 'base64').toString('latin1'), /^Oops: Total -1 times\n/)
    const r = await runKernel({ kernel, image, blk: BLK_OPTIONS, extraCmdline: ['pstore.compress=none'], actions: ['list'], timeoutMs: 300_000 })
    t.comment(`boot: total ${r.timings.totalMs} ms; first line ${JSON.stringify(r.listings[0]?.files[0]?.content.toString('latin1').split('\n')[0])}`)
    sameFiles(t, r, records)
  })

  t.test(`${tag}: blk-pmsg-start-past-datalen: the failed recovery lists nothing`, opts, async (t) => {
    const image = readFixture('damaged/blk-pmsg-start-past-datalen.bin')
    const { records, readPassFailure } = await predict(t, image, blkSetup)
    t.same(records, [], 'pstore-sim lists nothing')
    t.match(readPassFailure, /^pmsg\[0\]: start 2 is past datalen 1/, 'and says why')
    const r = await runKernel({ kernel, image, blk: BLK_OPTIONS, extraCmdline: ['pstore.compress=none'], actions: ['list'], timeoutMs: 300_000 })
    t.comment(`boot: total ${r.timings.totalMs} ms; listed ${r.listings[0]?.files.length} files`)
    t.same(
      r.listings[0]?.files.map((f) => f.name),
      [],
      'the kernel lists no file at all',
    )
    t.match(r.serial, /pstore_zone: recover failed/, "the kernel logs psz_recovery()'s failure")
  })
}
