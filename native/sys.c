// native/sys.c: the system calls pstore-sim needs that Node lacks and that are not FUSE:
// flock(2), mkfifo(3), FIONREAD and F_SETPIPE_SZ on a pipe, _exit(2), and the ring pump
// (a thread splicing a pipe into a ring inside a file: the pmsg FIFO). Built as its own
// addon (build/Release/sys.node); native/README.md says what each is for.
//
// Derived in part from fuse-native 2.2.6 (MIT, Mathias Buus; see native/LICENSE).
#define _GNU_SOURCE

#include <node_api.h>
#include <napi-macros.h>

#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "version.h"
#include "threads.h"

#if defined(__linux__) && !defined(F_SETPIPE_SZ)
#define F_SETPIPE_SZ 1031
#endif

static const uint32_t pstore_native_version = PSTORE_NATIVE_VERSION;

static napi_value sys_int32 (napi_env env, int32_t v) {
  napi_value res;
  napi_create_int32(env, v, &res);
  return res;
}

// mkfifo(3), which Node lacks: spawning mkfifo(1) forks the whole daemon (~20 ms of a mount).
// 0 or -errno.
NAPI_METHOD(sys_mkfifo) {
  NAPI_ARGV(2)
  NAPI_ARGV_UTF8(path, 4096, 0)
  NAPI_ARGV_UINT32(mode, 1)
  return sys_int32(env, mkfifo(path, (mode_t) mode) == 0 ? 0 : -errno);
}

// flock(2), which Node lacks: a lock on an open file that the
// kernel drops when its holder dies (kill -9 included). op is LOCK_SH, LOCK_EX
// or LOCK_UN, with LOCK_NB or'ed in by the caller. 0 or -errno.
NAPI_METHOD(sys_flock) {
  NAPI_ARGV(2)
  NAPI_ARGV_INT32(fd, 0)
  NAPI_ARGV_INT32(op, 1)
  return sys_int32(env, flock(fd, op) == 0 ? 0 : -errno);
}

// ioctl(fd, FIONREAD): the bytes waiting in a pipe, through any of its ends
// (a write-only one included: it tells whether a pipe with no reader left
// still holds bytes). The count or -errno.
NAPI_METHOD(sys_pipe_bytes) {
  NAPI_ARGV(1)
  NAPI_ARGV_INT32(fd, 0)
  int n = 0;
  return sys_int32(env, ioctl(fd, FIONREAD, &n) == 0 ? n : -errno);
}

// a ring pump. A thread moves what arrives in a pipe
// into a ring buffer inside a file (ramoops' pmsg zone in its image): splice(2)
// from the pipe to the file at the ring's write position, so the bytes never
// pass through JS (reading them into JS and writing them out cost three
// copies and an event-loop turn per read). After every move it stores the
// ring's new start and size (two little-endian int32 at header_at) as
// persistent_ram_write() leaves them for writes of at most the ring's size.
// With `discard` it only empties the pipe (a halted machine takes nothing).
// While a pump runs the caller must not touch the ring; stop() joins the
// thread and returns where it left the ring.
typedef struct {
  int pipe_fd;
  int file_fd;
  int wake[2];
  atomic_int stopping;
  int64_t header_at;
  int64_t data_at;
  uint32_t capacity;
  uint32_t start;
  uint32_t size;
  int discard;
  int splice_unsupported;
  int error;
  double moved;
  char *scratch;
  pthread_t thread;
} ring_pump_t;

#define RING_PUMP_SCRATCH (64 * 1024)

static int ring_pump_pwrite_all (int fd, const char *buf, size_t len, off_t at) {
  while (len > 0) {
    ssize_t n = pwrite(fd, buf, len, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    buf += n;
    len -= (size_t) n;
    at += n;
  }
  return 0;
}

static int ring_pump_store_header (ring_pump_t *p) {
  unsigned char h[8];
  for (int i = 0; i < 4; i++) {
    h[i] = (unsigned char) (p->start >> (8 * i));
    h[4 + i] = (unsigned char) (p->size >> (8 * i));
  }
  return ring_pump_pwrite_all(p->file_fd, (const char *) h, 8, (off_t) p->header_at);
}

// Moves what the pipe holds now; 0 when it is empty (or a stop is asked),
// -errno when the file cannot take it (the pump then discards until stopped).
static int ring_pump_move (ring_pump_t *p) {
  while (!atomic_load(&p->stopping)) {
    ssize_t n;
    if (p->discard) {
      n = read(p->pipe_fd, p->scratch, RING_PUMP_SCRATCH);
    } else {
      size_t room = p->capacity - p->start;
      loff_t at = (loff_t) (p->data_at + p->start);
      if (!p->splice_unsupported) {
        n = splice(p->pipe_fd, NULL, p->file_fd, &at, room, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        if (n < 0 && errno == EINVAL) {
          p->splice_unsupported = 1; // a file system without splice_write: read and pwrite
          continue;
        }
      } else {
        n = read(p->pipe_fd, p->scratch, room < RING_PUMP_SCRATCH ? room : RING_PUMP_SCRATCH);
        if (n > 0) {
          int res = ring_pump_pwrite_all(p->file_fd, p->scratch, (size_t) n, (off_t) at);
          if (res < 0) return res;
        }
      }
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -errno;
    }
    if (n == 0) return 0;
    p->moved += (double) n;
    if (p->discard) continue;
    p->start += (uint32_t) n;
    if (p->start >= p->capacity) p->start = 0;
    p->size = p->size + (uint32_t) n > p->capacity ? p->capacity : p->size + (uint32_t) n;
    int res = ring_pump_store_header(p);
    if (res < 0) return res;
  }
  return 0;
}

static void *ring_pump_thread (void *data) {
  ring_pump_t *p = (ring_pump_t *) data;
  struct pollfd fds[2] = { { p->pipe_fd, POLLIN, 0 }, { p->wake[0], POLLIN, 0 } };
  while (!atomic_load(&p->stopping)) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      p->error = errno;
      break;
    }
    if (fds[1].revents) break;
    if (!fds[0].revents) continue;
    int res = ring_pump_move(p);
    if (res < 0) {
      // what the file cannot take is dropped, as a failed write(2) of the
      // kernel's drops it; the first error is reported at stop()
      if (!p->error) p->error = -res;
      p->discard = 1;
    }
  }
  return NULL;
}

static void ring_pump_join (ring_pump_t *p) {
  atomic_store(&p->stopping, 1);
  (void) !write(p->wake[1], "x", 1);
  pthread_join(p->thread, NULL);
  p->pipe_fd = -1; // stopped
}

static void ring_pump_free (ring_pump_t *p) {
  if (p->wake[0] >= 0) close(p->wake[0]);
  if (p->wake[1] >= 0) close(p->wake[1]);
  free(p->scratch);
  free(p);
}

// A handle collected without stop() (its owner forgot it): stop the thread first.
static void ring_pump_finalize (napi_env env, void *data, void *hint) {
  ring_pump_t *p = (ring_pump_t *) data;
  if (p->pipe_fd >= 0) ring_pump_join(p);
  ring_pump_free(p);
}

// sys_ring_pump_start(pipeFd, fileFd, headerAt, dataAt, capacity,
// start, size, discard) -> external handle | -errno
NAPI_METHOD(sys_ring_pump_start) {
  NAPI_ARGV(8)
  NAPI_ARGV_INT32(pipe_fd, 0)
  NAPI_ARGV_INT32(file_fd, 1)
  double header_at, data_at;
  napi_get_value_double(env, argv[2], &header_at);
  napi_get_value_double(env, argv[3], &data_at);
  NAPI_ARGV_UINT32(capacity, 4)
  NAPI_ARGV_UINT32(start, 5)
  NAPI_ARGV_UINT32(size, 6)
  bool discard = false;
  napi_get_value_bool(env, argv[7], &discard);
  if (capacity == 0 || start >= capacity || size > capacity || header_at < 0 || data_at < 0) return sys_int32(env, -EINVAL);
#ifndef __linux__
  return sys_int32(env, -ENOSYS);
#else
  ring_pump_t *p = calloc(1, sizeof(ring_pump_t));
  if (p == NULL) return sys_int32(env, -ENOMEM);
  p->wake[0] = p->wake[1] = -1;
  p->scratch = malloc(RING_PUMP_SCRATCH);
  if (p->scratch == NULL || pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    int err = p->scratch == NULL ? ENOMEM : errno;
    ring_pump_free(p);
    return sys_int32(env, -err);
  }
  p->pipe_fd = pipe_fd;
  p->file_fd = file_fd;
  p->header_at = (int64_t) header_at;
  p->data_at = (int64_t) data_at;
  p->capacity = capacity;
  p->start = start;
  p->size = size;
  p->discard = discard ? 1 : 0;
  atomic_init(&p->stopping, 0);
  int err = pstore_thread_create_unsignalled(&p->thread, NULL, ring_pump_thread, p);
  if (err != 0) {
    ring_pump_free(p);
    return sys_int32(env, -err);
  }
  napi_value handle;
  if (napi_create_external(env, p, ring_pump_finalize, NULL, &handle) != napi_ok) {
    // cannot hand it out: stop it here
    ring_pump_join(p);
    ring_pump_free(p);
    return sys_int32(env, -ENOMEM);
  }
  return handle;
#endif
}

// sys_ring_pump_stop(handle, result: Float64Array(4)) -> 0 | -EINVAL
// result = [bytes moved, start, size, errno of the first failure or 0]. A
// handle is stopped once; the next stop answers -EINVAL.
NAPI_METHOD(sys_ring_pump_stop) {
  NAPI_ARGV(2)
  void *data = NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) return sys_int32(env, -EINVAL);
  napi_typedarray_type type;
  size_t length = 0;
  void *out = NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &out, NULL, NULL) != napi_ok || type != napi_float64_array || length < 4) {
    return sys_int32(env, -EINVAL);
  }
  ring_pump_t *p = (ring_pump_t *) data;
  if (p->pipe_fd < 0) return sys_int32(env, -EINVAL);
  ring_pump_join(p);
  double *result = (double *) out;
  result[0] = p->moved;
  result[1] = p->start;
  result[2] = p->size;
  result[3] = p->error;
  return sys_int32(env, 0); // the handle's finalizer frees it
}

// sys_exit_now(code) ends the process with
// _exit(2), for a daemon whose stop has written everything: Node's own exit
// (platform and thread teardown, atexit handlers) was ~4.5 ms of an unmount.
NAPI_METHOD(sys_exit_now) {
  NAPI_ARGV(1)
  NAPI_ARGV_INT32(code, 0)
  _exit(code);
  return NULL;
}

NAPI_METHOD(sys_set_pipe_size) {
  NAPI_ARGV(2)
  NAPI_ARGV_INT32(fd, 0)
  NAPI_ARGV_INT32(size, 1)
#ifdef F_SETPIPE_SZ
  int res = fcntl(fd, F_SETPIPE_SZ, size);
  return sys_int32(env, res >= 0 ? res : -errno);
#else
  return sys_int32(env, -ENOSYS);
#endif
}


NAPI_INIT() {
  NAPI_EXPORT_UINT32(pstore_native_version)
  NAPI_EXPORT_FUNCTION(sys_mkfifo)
  NAPI_EXPORT_FUNCTION(sys_flock)
  NAPI_EXPORT_FUNCTION(sys_pipe_bytes)
  NAPI_EXPORT_FUNCTION(sys_set_pipe_size)
  NAPI_EXPORT_FUNCTION(sys_ring_pump_start)
  NAPI_EXPORT_FUNCTION(sys_ring_pump_stop)
  NAPI_EXPORT_FUNCTION(sys_exit_now)
}
