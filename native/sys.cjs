// native/sys.cjs: the system calls of native/sys.c that Node lacks and that are not FUSE
// (flock, mkfifo, FIONREAD, F_SETPIPE_SZ, _exit, the ring pump). native/index.cjs hangs them
// on the Fuse class too (Fuse.flock, ...), where src/util/fuseNative.ts finds them.
'use strict'

const os = require('os')
const sys = require('./build/Release/sys.node')

exports.NATIVE_VERSION = sys.pstore_native_version

// mkfifo(3), which Node lacks (mode is masked by the
// umask, as in C); throws an Error with code/errno on failure.
exports.mkfifo = function mkfifo (path, mode) {
  const res = sys.sys_mkfifo(String(path), mode >>> 0)
  if (res < 0) throw errnoError(res, 'mkfifo', path)
}

// fcntl(fd, F_SETPIPE_SZ, size): the pipe's new capacity in bytes (the kernel
// rounds up to a power of two of pages); throws on failure (EPERM above
// /proc/sys/fs/pipe-max-size for an unprivileged user).
exports.setPipeSize = function setPipeSize (fd, size) {
  const res = sys.sys_set_pipe_size(fd | 0, size | 0)
  if (res < 0) throw errnoError(res, 'fcntl(F_SETPIPE_SZ)', String(fd))
  return res
}

// flock(fd, 'exclusive' | 'shared' | 'unlock'),
// never blocking: true when taken (or released), false when another open file
// holds a conflicting lock (EWOULDBLOCK); throws on any other failure.
exports.flock = function flock (fd, mode) {
  const op = mode === 'exclusive' ? 2 : mode === 'shared' ? 1 : mode === 'unlock' ? 8 : -1
  if (op < 0) throw new TypeError('flock: mode must be exclusive, shared or unlock')
  const res = sys.sys_flock(fd | 0, op | 4)
  if (res === -os.constants.errno.EWOULDBLOCK) return false
  if (res < 0) throw errnoError(res, 'flock', String(fd))
  return true
}

// ioctl(fd, FIONREAD) on a pipe: bytes waiting in it; throws on failure.
exports.pipeBytes = function pipeBytes (fd) {
  const res = sys.sys_pipe_bytes(fd | 0)
  if (res < 0) throw errnoError(res, 'ioctl(FIONREAD)', String(fd))
  return res
}

// Fuse.startRingPump({ pipeFd, fileFd, headerAt,
// dataAt, capacity, start, size, discard }) starts a thread that moves what
// arrives in the pipe into the ring of `capacity` bytes at dataAt in the file
// (splice(2); read + pwrite where the file system has no splice), beginning
// at `start`, and after every move stores the ring's start and size as two
// little-endian int32 at headerAt. With discard it only empties the pipe.
// Returns { stop() } -> { moved, start, size, errno }: stop() joins the thread
// (the ring is the caller's again); errno is the first write that failed (the
// pump then discarded until stopped), or 0. Throws on bad arguments.
exports.startRingPump = function startRingPump (ring) {
  const { pipeFd, fileFd, headerAt, dataAt, capacity, start, size, discard } = ring
  for (const [name, v] of Object.entries({ pipeFd, fileFd, headerAt, dataAt, capacity, start, size })) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`startRingPump: ${name} must be a non-negative integer`)
  }
  if (capacity === 0 || capacity > 0x7fffffff || start >= capacity || size > capacity) throw new RangeError('startRingPump: needs 0 <= start < capacity, size <= capacity < 2^31')
  const handle = sys.sys_ring_pump_start(pipeFd, fileFd, headerAt, dataAt, capacity, start, size, !!discard)
  if (typeof handle === 'number') throw errnoError(handle, 'startRingPump', String(pipeFd))
  let stopped
  return {
    stop () {
      if (stopped) return stopped
      const result = new Float64Array(4)
      const res = sys.sys_ring_pump_stop(handle, result)
      if (res < 0) throw errnoError(res, 'startRingPump stop', String(pipeFd))
      stopped = { moved: result[0], start: result[1], size: result[2], errno: result[3] }
      return stopped
    }
  }
}

// Fuse.exitNow(code) ends the process at once
// (_exit(2)): no 'exit' event, no teardown. Only for a process that has
// written and closed everything it must (the daemon after its stop); stdio
// writes to files and pipes are synchronous on Linux, so nothing is pending.
exports.exitNow = function exitNow (code) {
  sys.sys_exit_now(code | 0)
}


function errnoError (res, syscall, target) {
  const code = Object.keys(os.constants.errno).find((k) => os.constants.errno[k] === -res) || 'EIO'
  return Object.assign(new Error(`${syscall} ${target}: ${code}`), { code, errno: res, syscall, path: target })
}
