#!/usr/bin/env node
'use strict'
// native-setup/check-addon.cjs: proves the native layer (native/, built by setup.sh) works
// on this machine's libfuse 3. Run by native-setup/setup.sh as its last step.
//
// 1. loads native/index.cjs: native/build/Release/fuse.node and sys.node are the files this
//    process maps, and their version is native/version.h's PSTORE_NATIVE_VERSION;
// 2. mounts a tiny filesystem in a temp dir (hardRemove, attrTimeout/entryTimeout/
//    negativeTimeout = 0: libfuse 3 must accept them) holding one file whose mtime is
//    { sec: 1704067210, nsec: 305249000 };
// 3. from a separate process, asynchronously (FUSE handlers run on this event loop:
//    synchronous access to the mount from here would deadlock), runs `stat -c '%Y.%y' file`
//    and checks the nanoseconds survive; then sets the mtime with `touch -m -d ...`
//    (utimens, atime UTIME_OMIT) and checks it with stat again;
// 4. unmounts and checks the mount is gone;
// 5. fuse.invalidate: a second mount with attrTimeout/entryTimeout 10 s: stat a file (size
//    10), change it to 20 behind the kernel's back (stat still says 10: the cache is on),
//    fuse.invalidate(['cached']) and stat must say 20; unmounts.
// 6. fuse.files: a third mount whose one file is in the native table; ls, stat and cat must
//    show it without any JS handler being asked; a handle with bit 31 set opened by JS
//    reads natively after unlink; an outside `fusermount3 -u` ends the mount and
//    fuse.unmount still succeeds (the native side is released).
// 7. sys: Fuse.mkfifo makes a FIFO; Fuse.flock: a second process cannot take an exclusive
//    lock this one holds, and takes it once released; Fuse.pipeBytes (FIONREAD) through
//    the FIFO's write-only end counts the bytes written; Fuse.startRingPump: 'seven'
//    written to a FIFO lands in a 4-byte ring in a file as the kernel's ring would hold it
//    ('neve', start 1, size 4).
//
// Exit codes: 0 ok, 2 environment problem (message names what to run).

const path = require('path')
const fs = require('fs')
const os = require('os')
const { execFile } = require('child_process')

const ROOT = path.resolve(__dirname, '..')
const NATIVE_DIR = path.join(ROOT, 'native')
const ADDONS = ['fuse.node', 'sys.node'].map((f) => path.join(NATIVE_DIR, 'build', 'Release', f))
const MTIME = { sec: 1704067210, nsec: 305249000 }
const TOUCHED = { sec: 1709262245, nsec: 123456789 } // 2024-03-01T03:04:05.123456789Z
// Normally under 1 s; generous, because a loaded VM can stall for seconds (one 20 s time-out seen).
const DEADLINE_MS = 60000
/** What check-addon is doing, for the time-out message. */
let step = 'loading native/index.cjs'
const FIX = 'run: bash native-setup/setup.sh (to force a rebuild: rm -rf native/build first)'

let fuse = null
let mnt = null
let tmp = null
let fuse2 = null

function fail (msg) {
  process.stderr.write(`check-addon: FAILED: ${msg}\n  ${FIX}\n`)
  setTimeout(() => process.exit(2), 5000) // even if the unmount below hangs
  cleanup(() => process.exit(2))
}

function cleanup (done) {
  const finish = () => {
    if (tmp) { try { fs.rmSync(tmp, { recursive: true, force: true }) } catch (_) {} }
    done()
  }
  const mounts = [[fuse, mnt], [fuse2, fuse2 && fuse2.mnt]].filter(([f, m]) => f && m)
  fuse = fuse2 = null
  let left = mounts.length
  if (!left) return finish()
  for (const [f, m] of mounts) {
    f.unmount(() => {
      const next = () => { if (--left === 0) finish() }
      if (isMounted(m)) execFile('fusermount3', ['-uz', m], next)
      else next()
    })
  }
}

/** Unmounts `f` (already out of fuse/fuse2, so fail() leaves it alone) and checks the mount is gone. */
async function unmountChecked (f, mountpoint, what) {
  step = what
  await new Promise((resolve, reject) => f.unmount((err) => (err ? reject(new Error(`unmount failed: ${err.message}`)) : resolve())))
  if (isMounted(mountpoint)) throw new Error(`${mountpoint} is still mounted after unmount`)
}

function isMounted (p) {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf-8')
  return info.split('\n').some((l) => l.split(' ')[4] === p)
}

function run (cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' }, timeout: 10000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`.trim()))
      resolve(stdout.trim())
    })
  })
}

async function main () {
  const guard = setTimeout(() => fail(`timed out after ${DEADLINE_MS} ms in step "${step}" (a FUSE request hung?)`), DEADLINE_MS)

  if (!fs.existsSync('/dev/fuse')) return fail('/dev/fuse is missing')

  let Fuse
  try {
    Fuse = require(path.join(NATIVE_DIR, 'index.cjs'))
  } catch (err) {
    return fail(`cannot load native/index.cjs: ${err.message.split('\n')[0]}`)
  }
  const maps = fs.readFileSync('/proc/self/maps', 'utf-8').split('\n').filter((l) => l.endsWith('.node'))
  for (const addon of ADDONS) {
    if (!maps.some((l) => l.endsWith(' ' + addon))) return fail(`this process does not map ${addon}: ${maps.map((l) => l.split(' ').pop()).join(' | ')}`)
  }
  const header = fs.readFileSync(path.join(NATIVE_DIR, 'version.h'), 'utf8').match(/^#define PSTORE_NATIVE_VERSION (\d+)$/m)
  if (!header) return fail('native/version.h has no #define PSTORE_NATIVE_VERSION line')
  if (Fuse.NATIVE_VERSION !== Number(header[1])) {
    return fail(`native/build is version ${Fuse.NATIVE_VERSION}, native/version.h says ${header[1]}: the addons were built from older sources`)
  }

  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pstore-check-'))
  mnt = path.join(tmp, 'mnt')
  fs.mkdirSync(mnt)

  const now = new Date()
  const file = { mtime: { ...MTIME }, atime: now, ctime: { ...MTIME }, content: Buffer.from('ok\n') }
  const root = { mode: 0o40755, size: 4096, nlink: 2, uid: 0, gid: 0, mtime: now, atime: now, ctime: now }
  let utimensSeen = null
  const ops = {
    getattr (p, cb) {
      if (p === '/') return cb(0, root)
      if (p === '/file') {
        return cb(0, { mode: 0o100644, size: file.content.length, nlink: 1, uid: 0, gid: 0, atime: file.atime, mtime: file.mtime, ctime: file.ctime })
      }
      return cb(Fuse.ENOENT)
    },
    readdir (p, cb) {
      if (p === '/') return cb(0, ['file'])
      return cb(Fuse.ENOENT)
    },
    open (p, flags, cb) { return p === '/file' ? cb(0, 42) : cb(Fuse.ENOENT) },
    release (p, fd, cb) { return cb(null) }, // null must be accepted
    read (p, fd, buf, len, pos, cb) {
      const chunk = file.content.subarray(pos, pos + len)
      chunk.copy(buf)
      return cb(chunk.length)
    },
    utimens (p, atime, mtime, cb) {
      utimensSeen = { atime, mtime }
      if (atime) file.atime = { sec: atime.sec, nsec: atime.nsec }
      if (mtime) file.mtime = { sec: mtime.sec, nsec: mtime.nsec }
      return cb(0)
    }
  }

  fuse = new Fuse(mnt, ops, {
    hardRemove: true,
    attrTimeout: 0,
    entryTimeout: 0,
    negativeTimeout: 0,
    fsname: 'pstore-check'
  })
  step = 'first mount'
  await new Promise((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())))
    .catch((err) => { fuse = null; throw new Error(`mount failed: ${err.message}`) })

  const target = path.join(mnt, 'file')
  step = 'stat of the ns mtime'
  const out = await run('stat', ['-c', '%Y.%y', target])
  // e.g. 1704067210.2024-01-01 00:00:10.305249000 +0000
  const want = `${MTIME.sec}.2024-01-01 00:00:10.${String(MTIME.nsec).padStart(9, '0')} +0000`
  if (out !== want) throw new Error(`stat of a { sec, nsec } mtime gave "${out}", want "${want}" (nanoseconds lost?)`)

  // utimens: touch -m sets mtime with ns precision and omits atime (null).
  step = 'touch -m -d'
  await run('touch', ['-m', '-d', '2024-03-01 03:04:05.123456789 UTC', target])
  if (!utimensSeen) throw new Error('utimens handler was not called by touch')
  if (utimensSeen.atime !== null) throw new Error(`utimens atime should be null (UTIME_OMIT), got ${JSON.stringify(utimensSeen.atime)}`)
  const m = utimensSeen.mtime
  if (!m || m.sec !== TOUCHED.sec || m.nsec !== TOUCHED.nsec) throw new Error(`utimens mtime ${JSON.stringify(m)}, want ${JSON.stringify(TOUCHED)}`)
  if (+m !== TOUCHED.sec * 1000 + 123) throw new Error(`utimens mtime valueOf() = ${+m}, want ms`)
  step = 'stat after touch'
  const out2 = await run('stat', ['-c', '%Y.%y', target])
  if (!out2.endsWith('03:04:05.123456789 +0000')) throw new Error(`after touch, stat gave "${out2}"`)

  step = 'cat'
  const content = await run('cat', [target])
  if (content !== 'ok') throw new Error(`read gave "${content}"`)

  const f = fuse
  fuse = null
  await unmountChecked(f, mnt, 'first unmount')

  // fuse.invalidate: kernel caches on (10 s), the size changes behind them.
  const mnt2 = path.join(tmp, 'mnt2')
  fs.mkdirSync(mnt2)
  let size = 10
  fuse2 = new Fuse(mnt2, {
    getattr (p, cb) {
      if (p === '/') return cb(0, root)
      if (p === '/cached') return cb(0, { mode: 0o100444, size, nlink: 1, uid: 0, gid: 0, atime: now, mtime: now, ctime: now })
      return cb(Fuse.ENOENT)
    },
    readdir (p, cb) { return cb(0, p === '/' ? ['cached'] : []) }
  }, { hardRemove: true, attrTimeout: 10, entryTimeout: 10, negativeTimeout: 0, fsname: 'pstore-check-cache' })
  step = 'mount with caches'
  await new Promise((resolve, reject) => fuse2.mount((err) => (err ? reject(new Error(`second mount failed: ${err.message}`)) : resolve())))
  const cached = path.join(mnt2, 'cached')
  step = 'stat, cached'
  const s1 = await run('stat', ['-c', '%s', cached])
  size = 20
  step = 'stat after the change'
  const s2 = await run('stat', ['-c', '%s', cached])
  if (s1 !== '10' || s2 !== '10') throw new Error(`attrTimeout 10: stat gave ${s1} then ${s2} after a change, want 10 and 10 (cached)`)
  const inv = await fuse2.invalidate(['cached'])
  if (inv.invalidated !== 1) throw new Error(`fuse.invalidate(['cached']) gave ${JSON.stringify(inv)}, want 1 invalidated`)
  step = 'stat after invalidate'
  const s3 = await run('stat', ['-c', '%s', cached])
  if (s3 !== '20') throw new Error(`after fuse.invalidate, stat gave ${s3}, want 20`)
  const f2 = fuse2
  fuse2 = null
  await unmountChecked(f2, mnt2, 'unmount with caches')

  // fuse.files: stat, ls and cat answered natively; the JS handlers are never asked.
  const mnt3 = path.join(tmp, 'mnt3')
  fs.mkdirSync(mnt3)
  const asked = []
  const askJs = (name) => (...args) => { asked.push(name); args[args.length - 1](Fuse.EIO) }
  // A handle with bit 31 set: a JS open handler passes it as an int32 (sign-extended in fi->fh).
  const HANDLE = 0xf0000007
  const openForWriting = (p, flags, cb) => { asked.push('open for writing'); cb(0, HANDLE) }
  const unlink = (p, cb) => { fuse2.files.remove(HANDLE); cb(0) }
  fuse2 = new Fuse(mnt3, { getattr: askJs('getattr'), fgetattr: askJs('fgetattr'), readdir: askJs('readdir'), open: openForWriting, read: askJs('read'), unlink },
    { hardRemove: true, attrTimeout: 0, entryTimeout: 0, negativeTimeout: 0, fsname: 'pstore-check-files' })
  fuse2.files.setRoot(root)
  fuse2.files.set(HANDLE, 'native', { mode: 0o100444, size: 7, nlink: 1, mtime: MTIME, atime: MTIME, ctime: MTIME }, Buffer.from('native\n'))
  step = 'mount of fuse.files'
  await new Promise((resolve, reject) => fuse2.mount((err) => (err ? reject(new Error(`third mount failed: ${err.message}`)) : resolve())))
  step = 'ls/stat/cat of fuse.files'
  const listed = await run('sh', ['-c', `ls ${mnt3} && stat -c %s ${mnt3}/native && cat ${mnt3}/native`])
  if (listed !== 'native\n7\nnative') throw new Error(`fuse.files: ls/stat/cat gave ${JSON.stringify(listed)}`)
  if (asked.length) throw new Error(`fuse.files: the JS handlers were asked for ${asked.join(', ')}`)
  // open(O_RDWR) goes to JS, which returns the handle; after unlink (no path left) the reads
  // through it are still native, found by that handle
  step = 'read through a JS-opened handle after unlink'
  const readWrite = await run('python3', ['-c', 'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); os.unlink(sys.argv[1]); print(os.read(fd, 100).decode(), end="")', `${mnt3}/native`])
  if (readWrite !== 'native' || asked.join() !== 'open for writing') throw new Error(`fuse.files: read through a JS-opened handle gave ${JSON.stringify(readWrite)}, handlers asked: ${asked.join(', ')}`)
  // an outside `fusermount3 -u` (what a user may run) ends the mount; unmount() then finds
  // it gone and still releases the native side
  step = 'outside fusermount3 -u'
  await run('fusermount3', ['-u', mnt3])
  if (isMounted(mnt3)) throw new Error(`fusermount3 -u ${mnt3} left it mounted`)
  const f3 = fuse2
  fuse2 = null
  await unmountChecked(f3, mnt3, 'unmount after an outside fusermount3 -u')
  const fifo = path.join(tmp, 'fifo')
  Fuse.mkfifo(fifo, 0o600)
  if (!fs.statSync(fifo).isFIFO()) throw new Error('Fuse.mkfifo did not make a FIFO')
  const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const wfd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  fs.writeSync(wfd, 'seven')
  const waiting = Fuse.pipeBytes(wfd)
  fs.closeSync(rfd)
  fs.closeSync(wfd)
  if (waiting !== 5) throw new Error(`Fuse.pipeBytes through the write end gave ${waiting}, want 5`)
  const lockFile = path.join(tmp, 'lock')
  const lfd = fs.openSync(lockFile, 'w')
  if (!Fuse.flock(lfd, 'exclusive')) throw new Error('Fuse.flock could not take a free lock')
  const tryLock = `const F = require(${JSON.stringify(path.join(NATIVE_DIR, 'sys.cjs'))}); const fd = require('fs').openSync(process.argv[1], 'r'); process.stdout.write(String(F.flock(fd, 'exclusive')))`
  const held = await run(process.execPath, ['-e', tryLock, lockFile])
  Fuse.flock(lfd, 'unlock')
  const free = await run(process.execPath, ['-e', tryLock, lockFile])
  fs.closeSync(lfd)
  if (held !== 'false' || free !== 'true') throw new Error(`Fuse.flock: another process took a held lock (${held}) or not a free one (${free})`)
  await checkRingPump(Fuse, fifo, path.join(tmp, 'ring'))

  fs.rmSync(tmp, { recursive: true, force: true })
  tmp = null
  clearTimeout(guard)
  process.stdout.write(`check-addon: ok (native/build/Release/{fuse,sys}.node, version ${Fuse.NATIVE_VERSION}, libfuse 3, mtime ns survived: ${out.split('.').pop()}, invalidate: stat 10 -> 20, native files: ls/stat/cat without JS, outside fusermount3 -u noticed, flock + FIONREAD, ring pump)\n`)
}

async function checkRingPump(Fuse, fifo, ringFile) {
  const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const wfd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  fs.writeFileSync(ringFile, Buffer.alloc(12))
  const file = fs.openSync(ringFile, 'r+')
  const pump = Fuse.startRingPump({ pipeFd: rfd, fileFd: file, headerAt: 0, dataAt: 8, capacity: 4, start: 0, size: 0 })
  fs.writeSync(wfd, 'seven')
  let result
  try {
    for (let i = 0; i < 200 && Fuse.pipeBytes(wfd) > 0; i++) await new Promise((r) => setTimeout(r, 5))
  } finally {
    result = pump.stop()
    fs.closeSync(rfd)
    fs.closeSync(wfd)
  }
  const ring = fs.readFileSync(ringFile)
  fs.closeSync(file)
  const got = `${ring.readInt32LE(0)} ${ring.readInt32LE(4)} ${ring.subarray(8).toString('latin1')}`
  if (got !== '1 4 neve' || result.moved !== 5 || result.errno !== 0) {
    throw new Error(`Fuse.startRingPump: the ring holds "${got}" (want "1 4 neve"), moved ${result.moved}, errno ${result.errno}`)
  }
}

main().catch((err) => fail(err.message))
