#!/usr/bin/env node
/*
 * fifo-sink: the pmsg FIFO side of the benchmark without pstore-sim: a FIFO read exactly as
 * src/pmsgFifo.ts reads it (mkfifo, O_RDWR | O_NONBLOCK, a 1 MiB pipe via the patched
 * the native layer's setPipeSize, a net.Socket reading into one reused buffer with `onread`), to show
 * what Node itself costs per byte.
 *
 *   node scripts/bench/fifo-sink.cjs FIFO BYTES DONEFILE [--ring IMAGE CAPACITY]
 *
 * Without --ring every chunk is only counted. With --ring each chunk is copied into a ring
 * buffer of CAPACITY bytes and the changed range written to IMAGE at its ring offset (what the
 * pmsg zone and RegionImage.flush() do, minus the simulator). Prints "ready" once the FIFO is
 * open; when BYTES have arrived it writes process.hrtime.bigint() (CLOCK_MONOTONIC, comparable
 * across processes) to DONEFILE and exits.
 */
'use strict'
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const Fuse = require(path.join(__dirname, '..', '..', 'native', 'index.cjs'))

const [fifo, bytesText, doneFile, ...rest] = process.argv.slice(2)
const expected = Number(bytesText)
if (!fifo || !(expected > 0) || !doneFile) {
  process.stderr.write('usage: fifo-sink.cjs FIFO BYTES DONEFILE [--ring IMAGE CAPACITY]\n')
  process.exit(1)
}
let ring
if (rest[0] === '--ring') {
  const capacity = Number(rest[2])
  ring = { fd: fs.openSync(rest[1], 'w'), buf: Buffer.alloc(capacity), capacity, start: 0 }
  fs.ftruncateSync(ring.fd, capacity)
}
fs.rmSync(fifo, { force: true })
execFileSync('mkfifo', ['-m', '0220', fifo])
const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK)
let readSize = 64 * 1024
try {
  readSize = Fuse.setPipeSize(fd, 1 << 20)
} catch {
  // above /proc/sys/fs/pipe-max-size for this user: the default pipe
}
const buffer = Buffer.allocUnsafe(readSize)
let got = 0
const socket = new net.Socket({ fd, readable: true, writable: false, onread: { buffer, callback: (n) => onChunk(buffer.subarray(0, n)) } })
function onChunk(chunk) {
  got += chunk.length
  if (ring) {
    let s = chunk
    if (s.length > ring.capacity) s = s.subarray(s.length - ring.capacity)
    const room = ring.capacity - ring.start
    const first = Math.min(room, s.length)
    ring.buf.set(s.subarray(0, first), ring.start)
    fs.writeSync(ring.fd, ring.buf, ring.start, first, ring.start)
    if (first < s.length) {
      ring.buf.set(s.subarray(first), 0)
      fs.writeSync(ring.fd, ring.buf, 0, s.length - first, 0)
    }
    ring.start = (ring.start + s.length) % ring.capacity
  }
  if (got >= expected) {
    fs.writeFileSync(doneFile, String(process.hrtime.bigint()))
    socket.destroy()
    fs.rmSync(fifo, { force: true })
    process.exit(0)
  }
}
socket.on('error', () => undefined)
process.on('SIGTERM', () => {
  fs.rmSync(fifo, { force: true })
  process.exit(0)
})
process.stdout.write('ready\n')
