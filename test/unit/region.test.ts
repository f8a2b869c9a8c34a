/**
 * RegionImage loads a file-backed region lazily, in chunks: every read, write and flush must
 * still behave as if the whole image had been read at open. Checked against a plain buffer, and
 * by running the kernel fixtures' boots, erases and writes on files.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { Ramoops } from '../../src/backend/ramoops/ramoops.js'
import { RegionImage } from '../../src/format/region.js'
import { fixtureCase, fixtureConfig } from '../helpers/fixtures.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-sim-region-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Deterministic pseudo-random numbers (xorshift32). */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1
  return (n) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
}

function noise(length: number, seed: number): Buffer {
  const random = prng(seed)
  return Buffer.from(Array.from({ length }, () => random(256)))
}

for (const readOnly of [false, true]) {
  t.test(`${readOnly ? 'read-only' : 'read-write'} file: random reads and writes agree with a buffer`, async (t) => {
    // Not a multiple of the chunk size: the last chunk is partial.
    const original = noise(70_001, 7)
    const file = path.join(tmp, `random-${readOnly ? 'ro' : 'rw'}.img`)
    fs.writeFileSync(file, original)
    const model = Buffer.from(original)
    const region = RegionImage.open(file, { readOnly, expectedSize: original.length })
    const random = prng(99)
    const range = (max: number) => {
      const offset = random(model.length)
      return { offset, length: random(Math.min(max, model.length - offset) + 1) }
    }
    let mismatches = 0
    for (let step = 0; step < 3000; step++) {
      const op = random(7)
      if (op === 0) {
        // small and large reads (beyond the read-ahead window), across loaded and unloaded chunks
        const { offset, length } = range(random(4) === 0 ? 30_000 : 300)
        const got = Buffer.alloc(length + 3)
        region.copy(offset, length, got, 3)
        if (!got.subarray(3).equals(model.subarray(offset, offset + length))) mismatches++
      } else if (op === 1) {
        const offset = random(model.length - 3)
        if (region.u32(offset) !== model.readUInt32LE(offset) || region.i32(offset) !== model.readInt32LE(offset)) mismatches++
      } else if (op === 2) {
        const { offset, length } = range(200)
        const data = noise(length, step)
        region.write(offset, data)
        model.set(data, offset)
      } else if (op === 3) {
        const offset = random(model.length - 3)
        region.writeI32(offset, step - 1500)
        model.writeInt32LE(step - 1500, offset)
      } else if (op === 4) {
        const { offset, length } = range(100)
        const view = region.view(offset, length)
        if (!view.equals(model.subarray(offset, offset + length))) mismatches++
        view.fill(step & 0xff)
        model.fill(step & 0xff, offset, offset + length)
        region.markDirty(offset, length)
      } else if (op === 5) {
        const { offset, length } = range(10_000)
        region.load(offset, length)
      } else {
        region.flush()
      }
    }
    t.equal(mismatches, 0, "every read saw the buffer's bytes")
    region.close()
    t.ok(fs.readFileSync(file).equals(readOnly ? original : model), readOnly ? 'file never written' : 'file = every write')
    t.ok(region.bytes.equals(model), 'the whole region, loaded after close, = the buffer')
  })
}

t.test('kernel fixtures: boot, read, erase and a panic on a file = on a buffer', async (t) => {
  const cases = [
    ['kernel-6.1', 'b-reboot'],
    ['kernel-6.1', 'c-ecc-reboot'],
    ['kernel-6.1', 'f1-all-zones'],
    ['kernel-6.1', 'f2-wrapped'],
    ['kernel-6.1-custom', 'h2-ftrace-smp2'],
  ] as const
  for (const [kernel, name] of cases) {
    const c = fixtureCase(kernel, name)
    const config = fixtureConfig(c)
    const file = path.join(tmp, `${name}.img`)
    fs.copyFileSync(c.file(kernel === 'kernel-6.1' ? 'region-before.bin' : 'region-after-panic.bin'), file)
    const run = (region: RegionImage) => {
      const ramoops = new Ramoops(config, region)
      const reports = ramoops.boot()
      const records = ramoops.readRecords()
      if (records.length) ramoops.erase(records[0].type, Number(records[0].id))
      ramoops.writeDmesg({ part: 1, compressed: false, payload: Buffer.from('Panic#1 Part1\nx\n'), time: { sec: 1, nsec: 0 } })
      return { reports, records }
    }
    const inMemory = RegionImage.fromBuffer(Buffer.from(fs.readFileSync(file)))
    const expected = run(inMemory)
    const onFile = RegionImage.open(file, { readOnly: false, expectedSize: config.memSize })
    t.same(run(onFile), expected, `${name}: same reports and records`)
    onFile.close()
    t.ok(fs.readFileSync(file).equals(inMemory.bytes), `${name}: file = the buffer's bytes`)
  }
})

t.test('a range lent to another writer: its bytes are read from the file again, the rest is kept', async (t) => {
  const original = noise(5 * 4096 + 100, 11)
  const file = path.join(tmp, 'lent.img')
  fs.writeFileSync(file, original)
  const region = RegionImage.open(file, { readOnly: false, expectedSize: original.length })
  region.load(0, original.length) // every chunk in memory, so a stale one would show
  // an unflushed change in a chunk the lent range shares: written before the range is lent
  region.write(4096 + 10, Buffer.from('mine'))
  const lentAt = 4096 + 100
  const lentLength = 2 * 4096
  const fd = region.lendToFile(lentAt, lentLength)
  t.equal(
    fs
      .readFileSync(file)
      .subarray(4096 + 10, 4096 + 14)
      .toString(),
    'mine',
    'the change was written when the range was lent',
  )
  // the other writer, straight into the file through the lent descriptor
  const theirs = noise(lentLength, 12)
  fs.writeSync(fd, theirs, 0, theirs.length, lentAt)
  region.reloadFromFile(lentAt, lentLength)
  const seen = Buffer.alloc(lentLength)
  region.copy(lentAt, lentLength, seen)
  t.ok(seen.equals(theirs), "after the writer's return the region reads its bytes")
  t.equal(region.view(4096 + 10, 4).toString(), 'mine', 'a change beside the range is kept')
  t.ok(region.bytes.subarray(0, 4096).equals(original.subarray(0, 4096)), 'chunks outside the range are untouched')
  region.write(lentAt + 5, Buffer.from('after'))
  region.flush()
  const onDisk = fs.readFileSync(file)
  t.equal(onDisk.subarray(lentAt + 5, lentAt + 10).toString(), 'after', 'a later write lands')
  t.ok(onDisk.subarray(lentAt + 10, lentAt + lentLength).equals(theirs.subarray(10)), "and keeps the writer's other bytes")
  region.holdWrites()
  t.throws(() => region.lendToFile(lentAt, lentLength), /holding writes/, 'a region holding writes lends nothing: its memory is the only copy')
  region.discardHeld()
})
