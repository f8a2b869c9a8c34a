/**
 * MountView without FUSE: file handles across boots and unlink, and the changes its observer
 * (the native file table's mirror) is told of, in order.
 */
import t from 'tap'
import { type MountEntry, MountView, type MountViewObserver, type RootAttributes } from '../src/pstore/mountView.js'
import { type PstoreRecord, untimedRecord } from '../src/pstore/record.js'

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
  // fuse-native and the native table take handles as uint32: bit 31 is set from boot 2048 on
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
