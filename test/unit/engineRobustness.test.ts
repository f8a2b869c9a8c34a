/**
 * Engine robustness: where the real kernel would write out of bounds the simulated one refuses
 * (and a dump showing it still boots read-only); bad ftrace calls and bad flips store nothing;
 * huge zone sizes; record times at the int64 limits.
 */
import t from 'tap'
import { CorruptError } from '../../src/backend/faults.js'
import { corrupt } from '../../src/backend/ramoops/corrupt.js'
import { computeLayout } from '../../src/backend/ramoops/layout.js'
import { Ramoops, type ZoneReport } from '../../src/backend/ramoops/ramoops.js'
import { fromModuleParams } from '../../src/backend/ramoops/ramoopsSetup.js'
import { ZoneWriteRefused } from '../../src/backend/ramoops/zone.js'
import { RegionImage } from '../../src/format/region.js'
import { FtraceCallError, SimulatedMachine } from '../../src/machine/machine.js'
import { fileTime, makeFiles } from '../../src/pstore/filesystem.js'
import { PstoreSimError } from '../../src/util/errors.js'

const setup = (kernel: string, extra = {}) =>
  fromModuleParams({ mem_size: 0x10000, record_size: 0x1000, console_size: 0x1000, pmsg_size: 0x1000, ftrace_size: 0x2000, ...extra }, { kernel, cpus: 2 })

/** A booted region whose console and pmsg zones say size 0 and a start past their capacity. */
function hostileStarts(kernel: string, start: number) {
  const config = setup(kernel)
  const region = RegionImage.fromBuffer(Buffer.alloc(config.memSize))
  new SimulatedMachine(config, region).boot() // signatures
  const ramoops = new Ramoops(config, region)
  for (const zone of [ramoops.console!, ramoops.pmsg!, ramoops.ftrace[1]]) {
    region.writeI32(zone.offset + 4, start)
    region.writeI32(zone.offset + 8, 0)
  }
  return { config, region, bytes: Buffer.from(region.bytes) }
}

for (const start of [0x1000 - 12 + 1, 0x1000 + 500, 0x7fff0000, -4]) {
  t.test(`before 6.6, an empty zone with start ${start}: writes refused, nothing outside the zone changes`, async (t) => {
    const { config, region, bytes } = hostileStarts('6.1.10', start)
    const machine = new SimulatedMachine(config, region)
    let reports: ZoneReport[] = []
    t.doesNotThrow(() => (reports = machine.boot().reports as ZoneReport[]), 'the boot (and its banner printk) runs')
    t.equal(reports.find((r) => r.layout.type === 'console')?.outcome, 'empty', 'the old kernel keeps the zone as empty')
    t.ok(region.bytes.equals(bytes), 'the banner did not reach the console zone: no byte changed')
    t.throws(() => machine.console('hello\n'), ZoneWriteRefused)
    t.throws(() => machine.console('hello\n'), { message: /console zone: its header's start -?\d+ is outside its 4084-byte ring.*refuses/ })
    t.throws(() => machine.pmsg(Buffer.from('x')), ZoneWriteRefused)
    t.throws(
      () =>
        machine.ftrace([
          { cpu: 0, ip: 1n, parentIp: 2n },
          { cpu: 1, ip: 1n, parentIp: 2n },
        ]),
      ZoneWriteRefused,
      'the CPU 1 zone refuses: CPU 0 gets nothing either',
    )
    t.ok(region.bytes.equals(bytes), 'no refused write changed a byte (header included)')
    // A read-only boot (mount -o ro, inspect) shows the dump.
    const ro = new SimulatedMachine(config, RegionImage.fromBuffer(Buffer.from(bytes), true))
    t.doesNotThrow(() => ro.boot())
  })
}

t.test('6.6 and later zap such a zone: the write goes to the zone', async (t) => {
  const { config, region } = hostileStarts('6.12.0', 0x1000 + 500)
  const machine = new SimulatedMachine(config, region)
  t.equal((machine.boot().reports as ZoneReport[]).find((r) => r.layout.type === 'console')?.outcome, 'invalid-zapped')
  t.doesNotThrow(() => machine.console('hello\n'))
})

t.test('ftrace: every call is checked before any is stored', async (t) => {
  const config = setup('6.12.0')
  const region = RegionImage.fromBuffer(Buffer.alloc(config.memSize))
  const machine = new SimulatedMachine(config, region)
  machine.boot()
  const bytes = Buffer.from(region.bytes)
  const counter = machine.state.ftraceCounter
  const good = { cpu: 0, ip: 0xffffffff81000000n, parentIp: 0xffffffff81000010n }
  t.throws(() => machine.ftrace([good, { cpu: 0, ip: 1n << 64n, parentIp: 0n }]), {
    name: 'FtraceCallError',
    message: /record 2: ip 0x10000000000000000 does not fit the target's 64-bit word/,
  })
  t.throws(() => machine.ftrace([good, { cpu: 2 ** 32, ip: 0n, parentIp: 0n }]), FtraceCallError)
  t.throws(() => machine.ftrace([good, { cpu: 5, ip: 0n, parentIp: 0n }]), { name: 'RamoopsError', message: /CPU 5 has no ftrace zone/ })
  t.ok(region.bytes.equals(bytes), 'nothing stored')
  t.equal(machine.state.ftraceCounter, counter, 'the counter did not move')
  const config32 = fromModuleParams({ mem_size: 0x10000, ftrace_size: 0x2000 }, { kernel: '6.12.0', cpus: 2, wordBits: 32 })
  const m32 = new SimulatedMachine(config32, RegionImage.fromBuffer(Buffer.alloc(config32.memSize)))
  m32.boot()
  t.throws(
    () =>
      m32.ftrace([
        { cpu: 0, ip: 0x1000n, parentIp: 0n },
        { cpu: 0, ip: 0xffffffff81000000n, parentIp: 0n },
      ]),
    { message: /record 2: ip 0xffffffff81000000 does not fit the target's 32-bit word/ },
  )
  t.equal(m32.ftrace([{ cpu: 1, ip: 0xc1000000n, parentIp: 0xc1000010n }]), 1, 'a 32-bit address is stored')
})

t.test('corrupt: a bad flip anywhere in the list changes no bit', async (t) => {
  const config = setup('6.12.0')
  const region = RegionImage.fromBuffer(Buffer.alloc(config.memSize))
  const ramoops = new Ramoops(config, region)
  ramoops.boot()
  const bytes = Buffer.from(region.bytes)
  t.throws(
    () =>
      corrupt(ramoops, {
        flips: [
          { offset: 10, bit: 1 },
          { offset: 70000, bit: 1 },
        ],
      }),
    { name: 'CorruptError', message: /70000 is outside the 65536-byte region/ },
  )
  t.throws(() => corrupt(ramoops, { flips: [{ offset: 10, bit: 1 }], random: -1 }), CorruptError)
  t.throws(() => corrupt(ramoops, { flips: [{ offset: 10, bit: 1 }], random: 1, seed: NaN }), CorruptError)
  t.throws(() => corrupt(ramoops, { flips: [{ offset: 10, bit: 1 }], random: 1, zones: ['dmesg:99'] }), CorruptError)
  t.throws(
    () => corrupt(ramoops, { flips: [{ offset: 10, bit: 1 }], random: 1, area: 'record' }),
    { message: /no bytes to corrupt/ },
    'empty records: nothing to pick',
  )
  t.ok(region.bytes.equals(bytes), 'no bit flipped')
  t.equal(corrupt(ramoops, { flips: [{ offset: 10, bit: 1 }], random: 2, area: 'data', zones: ['console'], seed: 7 }).length, 3)
})

t.test('zone sizes past 2^31 stay positive (even-size rounding without 32-bit operators)', async (t) => {
  const config = fromModuleParams({ mem_size: 0xffffffff, record_size: 0x80000000 }, { kernel: '6.12.0' })
  const layout = computeLayout(config)
  t.equal(layout.dmesg.length, 1)
  t.equal(layout.dmesg[0].size, 0xffffffff - 3 * 4096 - 1, 'the dump area rounded down to even')
})

t.test('record times at the int64 limits are valid file times', async (t) => {
  t.same(fileTime((1n << 63n) - 1n, 999_999_000n), { sec: 2 ** 63 - 1024, nsec: 999_999_000 }, 'INT64_MAX: the largest double below 2^63, not a negative wrap')
  t.same(fileTime(-(1n << 63n), 0n), { sec: -(2 ** 63), nsec: 0 })
  t.same(fileTime(1700000000n, 5_000_000_000n), { sec: 1700000000, nsec: 999_999_999 }, 'nanoseconds past a second are clamped')
  const record = { type: 'dmesg' as const, id: 0, time: { sec: (1n << 63n) - 1n, nsec: 0n }, compressed: false, payload: Buffer.from('x'), eccNotice: '' }
  const [file] = makeFiles([record], { now: { sec: 1, nsec: 0 }, wordBits: 64 })
  t.ok(file.mtime.sec > 0, `mtime ${file.mtime.sec} is positive`)
  t.ok(PstoreSimError)
})
