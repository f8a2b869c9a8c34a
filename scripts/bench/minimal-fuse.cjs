#!/usr/bin/env node
/*
 * minimal-fuse: the smallest filesystem on pstore-sim's FUSE binding (native/index.cjs) that
 * serves what reffs.c serves, to show what the binding itself costs (minimal vs C) apart from
 * what pstore-sim adds (pstore-sim vs minimal). Loads the regular files of a snapshot directory
 * into memory and mounts them with pstore-sim's options. Operations: getattr, readdir, open,
 * read, unlink (as reffs.c; the binding registers only the operations given). Runs in its own process; SIGTERM/SIGINT unmount.
 *
 *   node scripts/bench/minimal-fuse.cjs SNAPDIR MOUNTPOINT [--cached]
 *
 * --cached: attrTimeout = entryTimeout = 1 (s) instead of 0 (negativeTimeout stays 0).
 * Prints "ready" on stdout once mounted.
 */
'use strict'
const fs = require('node:fs')
const path = require('node:path')

const [snapDir, mountpoint, ...flags] = process.argv.slice(2)
if (!snapDir || !mountpoint) {
  process.stderr.write('usage: minimal-fuse.cjs SNAPDIR MOUNTPOINT [--cached]\n')
  process.exit(1)
}
const cached = flags.includes('--cached')
// the project's native layer (this file lives in <project>/scripts/bench)
const Fuse = require(path.join(__dirname, '..', '..', 'native', 'index.cjs'))

const uid = process.getuid()
const gid = process.getgid()
const files = new Map()
for (const name of fs.readdirSync(snapDir)) {
  if (name.startsWith('.')) continue
  const file = path.join(snapDir, name)
  const st = fs.statSync(file, { bigint: true })
  if (!st.isFile()) continue
  const content = fs.readFileSync(file)
  const t = (ns) => ({ sec: Number(ns / 1000000000n), nsec: Number(ns % 1000000000n) })
  files.set(name, {
    content,
    stat: {
      mode: 0o100000 | Number(st.mode & 0o7777n),
      uid,
      gid,
      size: content.length,
      nlink: 1,
      blksize: 4096,
      blocks: Math.ceil(content.length / 512),
      atime: t(st.atimeNs),
      mtime: t(st.mtimeNs),
      ctime: t(st.mtimeNs),
    },
  })
}
const now = Date.now()
const rootStat = { mode: 0o040750, uid, gid, size: 0, nlink: 2, blksize: 4096, atime: now, mtime: now, ctime: now }
const byFd = new Map()
let nextFd = 1
const lookup = (p) => (p.indexOf('/', 1) < 0 ? files.get(p.slice(1)) : undefined)

const ops = {
  getattr: (p, cb) => {
    if (p === '/') return cb(0, rootStat)
    const f = lookup(p)
    if (!f) return cb(Fuse.ENOENT)
    cb(0, f.stat)
  },
  readdir: (p, cb) => {
    if (p !== '/') return cb(Fuse.ENOTDIR)
    cb(0, ['.', '..', ...files.keys()])
  },
  open: (p, flags, cb) => {
    const f = lookup(p)
    if (!f) return cb(Fuse.ENOENT)
    const fd = nextFd++
    byFd.set(fd, f)
    cb(0, fd)
  },
  // No release (reffs.c has none either): the fd map is dropped only at exit. A benchmark run
  // opens at most a few hundred thousand files; each entry is a small pointer.
  read: (p, fd, buf, len, pos, cb) => {
    const f = byFd.get(fd)
    if (!f) return cb(Fuse.EBADF)
    if (pos >= f.content.length) return cb(0)
    cb(f.content.copy(buf, 0, pos, Math.min(f.content.length, pos + len)))
  },
  unlink: (p, cb) => {
    if (!lookup(p)) return cb(Fuse.ENOENT)
    files.delete(p.slice(1))
    cb(0)
  },
}

const fuse = new Fuse(mountpoint, ops, {
  fsname: 'minimal-fuse',
  subtype: 'minimal',
  defaultPermissions: true,
  hardRemove: true,
  attrTimeout: cached ? 1 : 0,
  entryTimeout: cached ? 1 : 0,
  negativeTimeout: 0,
  timeout: false,
})
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`minimal-fuse: cannot mount ${mountpoint}: ${err.message}\n`)
    process.exit(2)
  }
  process.stdout.write('ready\n')
})
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  fuse.unmount(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.on('SIGHUP', stop)
