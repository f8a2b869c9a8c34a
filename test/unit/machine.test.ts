/**
 * SimulatedMachine: the kernel-side state of one boot (dump write counter, oops counter, halt
 * after panic) and what reaches the region through the console, pmsg and the kmsg dumper.
 */
import fs from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { fromModuleParams, type RamoopsSetup } from '../../src/backend/ramoops/ramoopsSetup.js'
import { RegionImage } from '../../src/format/region.js'
import { ImageSession } from '../../src/machine/imageSession.js'
import { MachineHaltedError, SimulatedMachine, stateFromJson } from '../../src/machine/machine.js'
import { type PstoreRecord, recordName } from '../../src/pstore/record.js'
import { describeDiff, fixtureCase, fixtureConfig, repoRoot } from '../helpers/fixtures.js'

const NOW = Date.UTC(2024, 0, 1) // fixed wall clock
const clock = () => NOW

// 0x10000: 14 dmesg zones of 4096 (0..0xE000), console 0xE000, pmsg 0xF000 (6.12: pmsg before ftrace; no ftrace)
function setup(overrides: Partial<Parameters<typeof fromModuleParams>[0]> = {}, compress = true) {
  const config: RamoopsSetup = fromModuleParams(
    { mem_size: 0x10000, record_size: 0x1000, console_size: 0x1000, pmsg_size: 0x1000, ftrace_size: 0, ...overrides },
    { kernel: '6.12.0', compress },
  )
  const region = RegionImage.fromBuffer(Buffer.alloc(0x10000))
  const machine = new SimulatedMachine(config, region, undefined, clock)
  return { config, region, machine }
}

const text = (r: PstoreRecord | undefined) => r?.payload.toString('latin1') ?? ''
const byName = (records: PstoreRecord[]) => new Map(records.map((r) => [recordName(r), r]))
const header = (region: RegionImage, offset: number) => [region.u32(offset), region.i32(offset + 4), region.i32(offset + 8)]

t.test('three oopses in one boot fill slots 0, 1, 2; after boot the first crash goes to slot 0', async (t) => {
  const { machine, region } = setup()
  const first = machine.boot()
  t.same(first.records, [], 'a zeroed region has nothing')
  const results = [1, 2, 3].map((n) => machine.crash({ reason: 'oops', time: 1704067200 + n }))
  t.same(
    results.map((r) => [r.stored, r.zone, r.compressed]),
    [
      [true, 0, true],
      [true, 1, true],
      [true, 2, true],
    ],
  )
  t.equal(machine.state.halted, false, 'an oops does not halt the machine')
  t.equal(machine.state.oopsCount, 3)
  for (const zone of [3, 4, 13]) t.same(header(region, zone * 4096), [0x43474244, 0, 0], `dmesg zone ${zone} still empty`)

  const second = machine.boot()
  const files = byName(second.records)
  t.same([...files.keys()], ['dmesg-ramoops-0', 'dmesg-ramoops-1', 'dmesg-ramoops-2', 'console-ramoops-0'])
  for (const n of [1, 2, 3]) {
    const r = files.get(`dmesg-ramoops-${n - 1}`)!
    t.ok(text(r).startsWith(`Oops#${n} Part1\n`), `slot ${n - 1}: Oops#${n}`)
    t.same(r.time, { sec: BigInt(1704067200 + n), nsec: 0n })
    t.match(text(r), /<1>\[ +\d+\.\d{6}\] BUG: kernel NULL pointer dereference/)
  }
  t.equal(machine.state.oopsCount, 0, 'the oops counter restarts at every boot')
  const panic = machine.crash({ reason: 'panic', time: 1704067300 })
  t.same([panic.stored, panic.zone], [true, 0], 'dump_write_cnt is back to 0: slot 0 is overwritten')
  const third = byName(machine.boot().records)
  t.ok(text(third.get('dmesg-ramoops-0')).startsWith('Panic#1 Part1\n'), 'slot 0 now holds the panic, numbered #1')
  t.ok(text(third.get('dmesg-ramoops-1')).startsWith('Oops#2 Part1\n'), 'slots 1 and 2 keep the older oopses')
  t.ok(text(third.get('dmesg-ramoops-2')).startsWith('Oops#3 Part1\n'))
})

t.test("kernel-6.1/d-three-panics: every boot's panic went to zone 0, as the simulation does", async (t) => {
  const d = fixtureCase('kernel-6.1', 'd-three-panics')
  // the kernel's listings: boot 1 saw nothing, boots 2-4 saw only dmesg-ramoops-0
  t.same(
    ['listing-boot1.json', 'listing-boot2.json', 'listing-boot3.json', 'listing.json'].map((l) => d.listing(l).files.map((f) => f.name)),
    [[], ['dmesg-ramoops-0'], ['dmesg-ramoops-0'], ['dmesg-ramoops-0']],
  )
  // 30 zones of 33722 bytes; after each panic zone 0 holds a record, zones 1-29 are empty
  const kernelHeaders = ['====1704067209.090982-C\n', '====1704153608.234630-C\n', '====1704240008.461431-C\n']
  for (const n of [1, 2, 3]) {
    const img = d.read(`region-after-panic${n}.bin`)
    t.equal(img.toString('latin1', 12, 36), kernelHeaders[n - 1], `panic ${n}: zone 0 header`)
    const empty = Array.from({ length: 29 }, (_, i) => img.readInt32LE((i + 1) * 33722 + 8)).every((s) => s === 0)
    t.ok(empty, `panic ${n}: zones 1-29 empty`)
  }

  const config = fixtureConfig(d)
  const region = RegionImage.fromBuffer(Buffer.from(d.read('region-before.bin')))
  const machine = new SimulatedMachine(config, region, undefined, clock)
  const seconds = [1704067209, 1704153608, 1704240008]
  for (const n of [1, 2, 3]) {
    const { records } = machine.boot()
    t.same(
      records.map((r) => recordName(r)),
      n === 1 ? [] : ['dmesg-ramoops-0'],
      `boot ${n} lists what the kernel listed`,
    )
    const result = machine.crash({ reason: 'panic', time: seconds[n - 1] })
    t.same([result.stored, result.zone], [true, 0], `panic ${n} → zone 0`)
    t.equal(region.bytes.toString('latin1', 12, 27), kernelHeaders[n - 1].slice(0, 15), `panic ${n}: header seconds as the kernel's`)
    const kernel = d.read(`region-after-panic${n}.bin`)
    t.ok(
      region.bytes.subarray(33722).equals(kernel.subarray(33722)),
      `panic ${n}: every byte past zone 0 as the kernel left it (${describeDiff(region.bytes.subarray(33722), kernel.subarray(33722))})`,
    )
  }
  const last = machine.boot()
  t.same(
    last.records.map((r) => recordName(r)),
    ['dmesg-ramoops-0'],
  )
  t.ok(text(last.records[0]).startsWith('Panic#1 Part1\n'))
})

t.test('a panic halts the machine until boot()', async (t) => {
  const { machine } = setup()
  machine.boot()
  const r = machine.crash({ reason: 'panic', time: 1704067200 })
  t.same([r.stored, r.zone, r.reason], [true, 0, 'panic'])
  t.equal(machine.state.halted, true)
  t.throws(() => machine.console('more\n'), MachineHaltedError)
  t.throws(() => machine.pmsg(Buffer.from('x')), MachineHaltedError)
  t.throws(() => machine.crash({ reason: 'oops' }), MachineHaltedError)
  t.throws(() => machine.crash({ reason: 'panic' }), MachineHaltedError)
  t.throws(() => machine.pmsg(Buffer.from('x')), { name: 'MachineHaltedError', message: /reboot/ })
  machine.boot()
  t.equal(machine.state.halted, false)
  t.equal(machine.pmsg(Buffer.from('x')), 1, 'running again')
  t.equal(machine.console('line\n'), 1)
})

t.test('console lines show in console-ramoops-0 after the next boot only (ZAP_OLD)', async (t) => {
  const { machine, region } = setup()
  machine.boot()
  t.equal(machine.console('hello\nworld\n'), 2)
  t.notOk(
    machine.backend.readRecords().some((r) => r.type === 'console'),
    'not visible during the boot that wrote it',
  )
  const consoleHeader = header(region, 0xe000)
  t.ok(consoleHeader[2] > 0, 'but the console zone holds it')

  const second = byName(machine.boot().records)
  const con = text(second.get('console-ramoops-0'))
  t.match(con, /^\[ +\d+\.\d{6}\] Linux version 6\.12\.0-pstore-sim/, "boot 1's banner, console format (no <P>)")
  t.match(con, /\[ +\d+\.\d{6}\] hello\n\[ +\d+\.\d{6}\] world\n$/, 'then the two lines, last')
  t.notOk(con.includes('<6>'), 'no syslog prefix')
  t.equal(second.get('console-ramoops-0')!.payload.length, consoleHeader[2], 'the snapshot is exactly what boot 1 wrote')

  const third = byName(machine.boot().records)
  const con3 = text(third.get('console-ramoops-0'))
  t.notOk(con3.includes('hello'), "the zone was zapped at boot 2: boot 1's lines are gone")
  t.match(con3, /Linux version/, "boot 2's banner")
})

t.test('pmsg: writes concatenated without framing, visible after the next boot', async (t) => {
  const { machine } = setup()
  machine.boot()
  t.equal(machine.pmsg(Buffer.from('abc')), 3)
  t.equal(machine.pmsg(Buffer.from('def')), 3)
  t.equal(machine.pmsg(Buffer.from('ghi\n')), 4)
  t.equal(machine.pmsg(Buffer.alloc(0)), 0, 'a 0-byte write returns 0')
  t.notOk(
    machine.backend.readRecords().some((r) => r.type === 'pmsg'),
    'not during this boot',
  )
  const files = byName(machine.boot().records)
  t.equal(text(files.get('pmsg-ramoops-0')), 'abcdefghi\n')
  t.notOk(byName(machine.boot().records).has('pmsg-ramoops-0'), 'zapped at the boot that showed it')
})

t.test('a pmsg write larger than the ring keeps its last bytes', async (t) => {
  const { machine, region } = setup()
  machine.boot()
  const big = Buffer.alloc(5000)
  for (let i = 0; i < big.length; i++) big[i] = 0x30 + (i % 75)
  t.equal(machine.pmsg(big), 5000, 'write(2) returns the full count')
  t.same(header(region, 0xf000), [0x43474244, 0, 4084], 'size = capacity; start wrapped to 0')
  const files = byName(machine.boot().records)
  t.ok(files.get('pmsg-ramoops-0')!.payload.equals(big.subarray(5000 - 4084)), 'the last 4084 bytes, in order')

  // two writes whose sum passes the end: the snapshot is the last 4084 bytes of the stream
  machine.pmsg(big.subarray(0, 3000))
  machine.pmsg(big.subarray(3000))
  const again = byName(machine.boot().records)
  t.ok(again.get('pmsg-ramoops-0')!.payload.equals(big.subarray(5000 - 4084)), 'wrapped ring read oldest to newest')
})

t.test('max_reason and kmsg_bytes filter dumps; an unstored panic still halts', async (t) => {
  const { machine, region } = setup({ max_reason: 1 })
  machine.boot()
  const before = Buffer.from(region.bytes.subarray(0, 0xe000))
  const oops = machine.crash({ reason: 'oops', time: 1 })
  t.same([oops.stored, oops.zone], [false, undefined])
  t.match(oops.why ?? '', /max_reason 1/)
  t.ok(region.bytes.subarray(0, 0xe000).equals(before), 'no dmesg zone written')
  t.equal(machine.state.oopsCount, 0, 'the dumper did not run')
  const panic = machine.crash({ reason: 'panic', time: 2 })
  t.same([panic.stored, panic.zone], [true, 0])

  const all = setup({ max_reason: 4 })
  all.machine.boot()
  t.same([all.machine.crash({ reason: 'shutdown', time: 1 }).zone, all.machine.crash({ reason: 'emergency', time: 2 }).zone], [0, 1])
  const recs = byName(all.machine.boot().records)
  t.ok(text(recs.get('dmesg-ramoops-0')).startsWith('Shutdown#1 Part1\n'))
  t.ok(text(recs.get('dmesg-ramoops-1')).startsWith('Emergency#2 Part1\n'))

  const none = setup()
  none.machine.boot()
  const k = none.machine.crash({ reason: 'oops', kmsgBytes: 0 })
  t.same([k.stored, k.zone], [false, undefined], 'kmsg_bytes 0 stores nothing')
  const p = none.machine.crash({ reason: 'panic', kmsgBytes: 0 })
  t.same([p.stored, none.machine.state.halted], [false, true], 'a panic that stored nothing still halts')
})

t.test('a crash with a given log and compression off stores it verbatim', async (t) => {
  const { machine, region } = setup({}, false)
  machine.boot()
  const r = machine.crash({ reason: 'panic', time: 1704067210, logText: 'first\nsecond\n' })
  t.same([r.stored, r.zone, r.compressed], [true, 0, false])
  const size = region.i32(8)
  const stored = region.bytes.toString('latin1', 12, 12 + size)
  t.match(stored, /^====1704067210\.000000-D\nPanic#1 Part1\n<6>\[ +\d+\.\d{6}\] first\n<6>\[ +\d+\.\d{6}\] second\n$/)
  t.equal(region.i32(4), size)
})

/** A copy of a fixture written by pstore-sim with version-1 state files (test/fixtures/state-v1). */
function copyStateV1(t: Test, name: string): string {
  const dir = t.testdir({})
  for (const suffix of ['', '.json', '.state.json'])
    fs.copyFileSync(path.join(repoRoot, 'test', 'fixtures', 'state-v1', name + suffix), path.join(dir, name + suffix))
  return path.join(dir, name)
}

const readState = (image: string) => JSON.parse(fs.readFileSync(`${image}.state.json`, 'utf8'))

t.test('a version-1 state file: the dump write counter it kept top-level carries on, saved once as version 2', async (t) => {
  const image = copyStateV1(t, 'ramoops.img')
  t.equal(readState(image).dumpWriteCnt, 3, 'the old file: three oopses, the counter beside the rest')
  const sim = ImageSession.open(image, {}, { readOnly: false, clock })
  t.same(sim.machine.state.backendMemory, { dumpWriteCnt: 3 }, 'migrated into the backend memory')
  t.equal(sim.machine.state.oopsCount, 3, 'the rest of the state as it was')
  t.match(sim.machine.crash({ reason: 'oops' }), { stored: true, zone: 3 }, 'the fourth oops of the boot goes to slot 3, as the counter says')
  sim.close()
  const saved = readState(image)
  t.equal(saved.version, 2)
  t.notOk('dumpWriteCnt' in saved, 'no top-level counter any more')
  t.same(saved.backendMemory, { dumpWriteCnt: 4 }, 'the counter once, where the backend keeps it')
  const again = ImageSession.open(image, {}, { readOnly: false, clock })
  t.match(again.machine.crash({ reason: 'oops' }), { stored: true, zone: 4 }, 'a version-2 file carries it on too')
  again.close()
})

t.test("a version-1 erst state file: the record id counter carries on, the ramoops counter's 0 is dropped", async (t) => {
  const image = copyStateV1(t, 'erst.img')
  const lastId = BigInt(readState(image).backendMemory.erstLastRecordId)
  const sim = ImageSession.open(image, {}, { readOnly: false, clock })
  const result = sim.machine.crash({ reason: 'oops' })
  t.match(result.parts?.[0], { stored: true, id: String(lastId + 1n) }, 'the next record id follows the one the old file kept')
  sim.close()
  const saved = readState(image)
  t.equal(saved.version, 2)
  t.notOk('dumpWriteCnt' in saved, 'no top-level counter')
  t.same(saved.backendMemory, { erstLastRecordId: String(lastId + 1n) }, "erst's memory only: the ramoops counter the migration carried is not erst's")
})

t.test('state files of an unknown version or shape are no state: the machine starts afresh', async (t) => {
  t.equal(stateFromJson({ version: 3, backendMemory: {} }), undefined, 'a newer version')
  t.equal(stateFromJson({ version: 2 }), undefined, 'version 2 without the backend memory')
  t.equal(stateFromJson(null), undefined)
  t.equal(stateFromJson('{"version":1}'), undefined, 'a string')
})

t.test('warmUpCrash changes nothing: the region, the state and the next panic are as without it', async (t) => {
  const run = (warm: boolean) => {
    const { machine, region } = setup()
    machine.boot()
    machine.console('a line before the crash\n')
    const before = Buffer.from(region.bytes)
    const state = JSON.stringify(machine.state)
    if (warm) machine.warmUpCrash()
    t.ok(Buffer.from(region.bytes).equals(before), `warm ${warm}: the region unchanged`)
    t.equal(JSON.stringify(machine.state), state, `warm ${warm}: the state unchanged`)
    const result = machine.crash({ reason: 'panic', time: 1704067300 })
    return { result, region: Buffer.from(region.bytes), state: JSON.stringify(machine.state) }
  }
  const cold = run(false)
  const warm = run(true)
  t.ok(cold.result.stored && cold.result.compressed, 'the panic is stored, compressed')
  t.same(warm.result, cold.result, 'the same panic result')
  t.ok(warm.region.equals(cold.region), 'the same bytes written')
  t.equal(warm.state, cold.state, 'the same state after it')
  // a halted machine has nothing to warm up for
  const { machine, region } = setup()
  machine.boot()
  machine.crash({ reason: 'panic', time: 1704067300 })
  const halted = Buffer.from(region.bytes)
  machine.warmUpCrash()
  t.ok(Buffer.from(region.bytes).equals(halted), 'after a panic: nothing')
})
