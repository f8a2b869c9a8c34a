/**
 * MountView without FUSE: file handles across boots and unlink, and the changes its observer
 * (the native file table's mirror) is told of, in order.
 */
import t from 'tap'
import { compress, inflateRecord } from '../../src/pstore/compression.js'
import { type MountEntry, MountView, type MountViewObserver, type RootAttributes } from '../../src/pstore/mountView.js'
import { type PstoreRecord, untimedRecord } from '../../src/pstore/record.js'

const now = { sec: 1704067210, nsec: 305249000 }
const options = { now, wordBits: 64 as const }
const records = (): PstoreRecord[] => [untimedRecord('console', Buffer.from('console text\n'), ''), untimedRecord('pmsg', Buffer.from('pmsg'), '')]

t.test('handles find their file for one reboot, also after unlink, and stay uint32 after 4096 boots', async (t) => {
  const view = new MountView({ uid: 0, gid: 0 }, now)
  view.load(records(), options)
  const pmsg = view.get('pmsg-ramoops-0')!
  t.ok(pmsg.handle > 0, 'non-zero')
  t.equal(view.byHandle(pmsg.handle), pmsg)
  view.remove('pmsg-ramoops-0', now)
  t.equal(view.get('pmsg-ramoops-0'), undefined, 'unlisted')
  t.equal(view.byHandle(pmsg.handle), pmsg, 'still readable through its handle')
  view.load(records(), options)
  t.equal(view.byHandle(pmsg.handle), pmsg, 'one reboot later it still finds the file it opened')
  t.not(view.get('pmsg-ramoops-0'), pmsg, 'while the name shows the new boot')
  view.load(records(), options)
  t.equal(view.byHandle(pmsg.handle), undefined, 'two reboots later it finds nothing')
  t.equal(view.byHandle(0), undefined, '0 is no handle')
  // the binding and its native table take handles as uint32: bit 31 is set from boot 2048 on
  const seen = new Set<number>()
  const bad: string[] = []
  for (let boot = 0; boot < 4100; boot++) {
    view.load(records(), options)
    const entry = view.get('console-ramoops-0')!
    if (!(entry.handle > 0 && entry.handle === entry.handle >>> 0)) bad.push(`boot ${boot}: handle ${entry.handle} is not a non-zero uint32`)
    if (view.byHandle(entry.handle) !== entry) bad.push(`boot ${boot}: handle ${entry.handle} does not find its entry`)
    seen.add(entry.handle)
  }
  t.same(bad, [], 'every handle is a non-zero uint32 that finds its file')
  t.ok(
    [...seen].some((h) => h >= 2 ** 31),
    'handles with bit 31 set were among them',
  )
  t.equal(seen.size, 4096, 'generations wrap after 4096 boots')
})

t.test('the observer sees every change, after it is made', async (t) => {
  const view = new MountView({ uid: 0, gid: 0 }, now)
  view.load(records(), options)
  const events: string[] = []
  const observer: MountViewObserver = {
    loaded: (v: MountView) => events.push(`loaded ${[...v.entriesInOrder()].map((e) => e.file.name).join(',')}`),
    changed: (e: MountEntry) => events.push(`changed ${e.file.name} mode ${e.mode.toString(8)} size ${view.size(e)}`),
    removed: (e: MountEntry) => events.push(`removed ${e.file.name} listed ${view.get(e.file.name) !== undefined}`),
    rootChanged: (r: RootAttributes) => events.push(`root mode ${r.mode.toString(8)} mtime ${r.mtime.sec}`),
    contentMade: (e: MountEntry) => events.push(`made ${e.file.name}`),
  }
  view.observe(observer)
  const consoleEntry = view.get('console-ramoops-0')!
  const later = { sec: now.sec + 5, nsec: 0 }
  view.setAttributes(consoleEntry, (a) => (a.mode = 0o600), later)
  view.truncate(consoleEntry)
  view.truncate(consoleEntry) // already empty: nothing new to tell
  view.setAttributes(view.root, (a) => (a.mode = 0o700), later)
  view.remove('pmsg-ramoops-0', later)
  view.load(records(), { ...options, now: later })
  t.same(events, [
    'loaded console-ramoops-0,pmsg-ramoops-0',
    'changed console-ramoops-0 mode 600 size 13',
    'changed console-ramoops-0 mode 600 size 0',
    `root mode 700 mtime ${now.sec}`,
    'removed pmsg-ramoops-0 listed false',
    `root mode 700 mtime ${later.sec}`,
    'loaded console-ramoops-0,pmsg-ramoops-0',
  ])
  t.equal(consoleEntry.ctime.sec, later.sec, 'setAttributes sets ctime')
})

t.test('a compressed record is inflated for its size at boot and made into text at its first open, once', async (t) => {
  const text = Buffer.from('Oops#1 Part1\n<0>[    1.000000] a line the kernel logged\n'.repeat(40))
  const compressed = compress('zlib-raw-15', text, 4096)!
  const base: PstoreRecord = { type: 'dmesg', id: 3, time: { sec: 1704067210n, nsec: 0n }, compressed: true, payload: compressed, eccNotice: '' }
  const record = inflateRecord(base, 'zlib-raw-15', 3 * 4096, true)
  t.equal(record.compressed, false, 'the file is dmesg-ramoops-3, not .enc.z')
  t.equal(record.payloadLength, text.length, 'the size is known before the text exists')
  const view = new MountView({ uid: 0, gid: 0 }, now)
  view.load([record], options)
  const events: string[] = []
  view.observe({
    loaded: () => undefined,
    changed: () => undefined,
    removed: () => undefined,
    rootChanged: () => undefined,
    contentMade: (e) => events.push(e.file.name),
  })
  const entry = view.get('dmesg-ramoops-3')!
  t.equal(view.size(entry), text.length, 'stat shows the text size')
  t.equal(entry.file.contentMade, false, 'no text made by the boot')
  t.same(events, [])
  t.same(view.content(entry), text, 'the text, made at the first open')
  t.same(events, ['dmesg-ramoops-3'], 'the observer heard of it (the native table gets the content)')
  t.equal(view.content(entry), view.content(entry), 'made once')
  t.same(events, ['dmesg-ramoops-3'])
  const broken = inflateRecord({ ...base, payload: Buffer.from([0xff, 0xff, 0xff]) }, 'zlib-raw-15', 3 * 4096, true)
  t.equal(broken.compressed, true, 'a stream that does not inflate stays .enc.z')
  t.ok(broken.inflateError, `with the reason (${broken.inflateError})`)
  t.equal(broken.payloadLength, undefined)
})
