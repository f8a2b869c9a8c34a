// native/fuse.c: pstore-sim's FUSE binding for Node, on libfuse 3 (the high-level API, one
// FUSE thread pool per mount). Every FUSE request reaches a JS handler of native/index.cjs
// through a uv_async + semaphore hop, except those the native file table answers on the FUSE
// thread (fuse.files). What each part is for, and why: native/README.md.
//
// Derived from fuse-native 2.2.6 (MIT, Mathias Buus; see native/LICENSE), ported from
// libfuse 2 to libfuse 3, with pstore-sim's additions (formerly patch levels 1-8 of
// patches/fuse-native+2.2.6.patch).
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <uv.h>
#include <node_api.h>
#include <napi-macros.h>

#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <assert.h>

#include <fuse.h>
#include <fuse_opt.h>
#include <fuse_common.h>
#include <fuse_lowlevel.h>

#include <unistd.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#ifdef __linux__
#include <sys/mount.h>
#endif

#include "version.h"
#include "threads.h"

static const uint32_t pstore_native_version = PSTORE_NATIVE_VERSION;
#ifdef UTIME_OMIT
static const uint32_t utime_omit = (uint32_t) UTIME_OMIT;
#else
static const uint32_t utime_omit = 0xfffffffe;
#endif

static int IS_ARRAY_BUFFER_DETACH_SUPPORTED = 0;

napi_status napi_detach_arraybuffer(napi_env env, napi_value buf);

#define FUSE_NATIVE_CALLBACK(fn, blk)\
  napi_env env = ft->env;\
  napi_handle_scope scope;\
  napi_open_handle_scope(env, &scope);\
  napi_value ctx;\
  napi_get_reference_value(env, ft->ctx, &ctx);\
  napi_value callback;\
  napi_get_reference_value(env, fn, &callback);\
  blk\
  napi_close_handle_scope(env, scope);

#define FUSE_NATIVE_HANDLER(name, blk)\
  fuse_thread_locals_t *l = get_thread_locals();\
  l->op = op_##name;\
  l->op_fn = fuse_native_dispatch_##name;\
  blk\
  if (l->path == NULL) l->path = "-";\
  uv_async_send(&(l->async));\
  uv_sem_wait(&(l->sem));\
  return l->res;

#define FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, signalBlk)\
  static void fuse_native_dispatch_##name (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {\
    uint32_t op = op_##name;\
    FUSE_NATIVE_CALLBACK(ft->handlers[op], {\
      napi_value argv[callbackArgs + 2];\
      napi_get_reference_value(env, l->self, &(argv[0]));\
      napi_create_uint32(env, l->op, &(argv[1]));\
      callbackBlk\
      NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, callbackArgs + 2, argv, NULL)\
    })\
  }\
  NAPI_METHOD(fuse_native_signal_##name) {\
    NAPI_ARGV(signalArgs + 2)\
    NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);\
    NAPI_ARGV_INT32(res, 1);\
    signalBlk\
    l->res = res;\
    uv_sem_post(&(l->sem));\
    return NULL;\
  }\
  static int fuse_native_##name signature {\
    FUSE_NATIVE_HANDLER(name, callBlk)\
  }

#define FUSE_METHOD_VOID(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk)\
  FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, {})

#define FUSE_UINT64_TO_INTS_ARGV(n, pos)\
  uint32_t low##pos = n % 4294967296;\
  uint32_t high##pos = (n - low##pos) / 4294967296;\
  napi_create_uint32(env, low##pos, &(argv[pos]));\
  napi_create_uint32(env, high##pos, &(argv[pos + 1]));


// Opcodes

static const uint32_t op_init = 0;
static const uint32_t op_error = 1;
static const uint32_t op_access = 2;
static const uint32_t op_statfs = 3;
static const uint32_t op_fgetattr = 4;
static const uint32_t op_getattr = 5;
static const uint32_t op_flush = 6;
static const uint32_t op_fsync = 7;
static const uint32_t op_fsyncdir = 8;
static const uint32_t op_readdir = 9;
static const uint32_t op_truncate = 10;
static const uint32_t op_ftruncate = 11;
static const uint32_t op_utimens = 12;
static const uint32_t op_readlink = 13;
static const uint32_t op_chown = 14;
static const uint32_t op_chmod = 15;
static const uint32_t op_mknod = 16;
static const uint32_t op_setxattr = 17;
static const uint32_t op_getxattr = 18;
static const uint32_t op_listxattr = 19;
static const uint32_t op_removexattr = 20;
static const uint32_t op_open = 21;
static const uint32_t op_opendir = 22;
static const uint32_t op_read = 23;
static const uint32_t op_write = 24;
static const uint32_t op_release = 25;
static const uint32_t op_releasedir = 26;
static const uint32_t op_create = 27;
static const uint32_t op_unlink = 28;
static const uint32_t op_rename = 29;
static const uint32_t op_link = 30;
static const uint32_t op_symlink = 31;
static const uint32_t op_mkdir = 32;
static const uint32_t op_rmdir = 33;

// Data structures

typedef struct {
  napi_env env;
  pthread_t thread;
  pthread_attr_t attr;
  napi_ref ctx;
  napi_ref malloc;

  // Operation handlers, and which of them JS implements
  napi_ref handlers[35];
  uint32_t implemented[35];

  // struct fuse_config fields libfuse 3 takes only in init (fuse_native_init)
  int hard_remove;
  int use_ino;
  int direct_io;

  struct fuse *fuse;
  // The FUSE session (libfuse 3 has no separate channel): notifications go to it.
  struct fuse_session *se;
  char mnt[1024];
  char mntopts[1024];
  int mounted;

  uv_async_t async;
  uv_mutex_t mut;
  uv_sem_t sem;

  // Guards se for fuse_native_invalidate's notify threads. The FUSE thread
  // sets se to NULL under it before the session is destroyed.
  pthread_mutex_t notify_mut;

  // pstore-sim: files answered natively (patch level 3), or NULL.
  struct fuse_native_files *files;
} fuse_thread_t;

typedef struct {
  napi_ref self;

  // Opcode
  uint32_t op;
  void *op_fn;

  // Payloads
  const char *path;
  const char *dest;
  char *linkname;
  struct fuse_file_info *info;
  const void *buf;
  off_t offset;
  size_t len;
  mode_t mode;
  dev_t dev;
  uid_t uid;
  gid_t gid;
  struct timespec times[2];
  int32_t res;

  // Extended attributes
  const char *name;
  const char *value;
  char *list;
  size_t size;
  uint32_t position;
  int flags;

  // Stat + Statfs
  struct stat *stat;
  struct statvfs *statvfs;

  // Readdir
  fuse_fill_dir_t readdir_filler;

  // Internal bookkeeping
  fuse_thread_t *fuse;
  uv_sem_t sem;
  uv_async_t async;

} fuse_thread_locals_t;

static pthread_key_t thread_locals_key;
static fuse_thread_locals_t* get_thread_locals();

// Helpers
// TODO: Extract into a separate file.

static uint64_t uint32s_to_uint64 (uint32_t **ints) {
  uint64_t low = *((*ints)++);
  uint64_t high = *((*ints)++);
  return high * 4294967296 + low;
}

// A time is three uint32: seconds as a two's complement 64-bit (low, high)
// pair, then nanoseconds (0..999999999).
static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  uint64_t sec = uint32s_to_uint64(ints);
  ts->tv_sec = (time_t) (int64_t) sec;
  ts->tv_nsec = *((*ints)++);
  if (ts->tv_nsec >= 1000000000) ts->tv_nsec = 999999999;
}

// utimens: UTIME_NOW is resolved here (one clock reading for both times);
// UTIME_OMIT is passed on as nsec (JS turns it into null).
static void resolve_utimes (struct timespec dst[2], const struct timespec src[2]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  for (int i = 0; i < 2; i++) {
#ifdef UTIME_NOW
    if (src[i].tv_nsec == UTIME_NOW) {
      dst[i] = now;
      continue;
    }
#endif
    dst[i] = src[i];
  }
}

#define FUSE_TIMESPEC_TO_INTS_ARGV(ts, pos)\
  uint64_t sec##pos = (uint64_t) (int64_t) (ts).tv_sec;\
  napi_create_uint32(env, (uint32_t) (sec##pos & 0xffffffff), &(argv[pos]));\
  napi_create_uint32(env, (uint32_t) (sec##pos >> 32), &(argv[pos + 1]));\
  napi_create_uint32(env, (uint32_t) (ts).tv_nsec, &(argv[pos + 2]));

static void populate_stat (uint32_t *ints, struct stat* stat) {
  stat->st_mode = *ints++;
  stat->st_uid = *ints++;
  stat->st_gid = *ints++;
  stat->st_size = uint32s_to_uint64(&ints);
  stat->st_dev = *ints++;
  stat->st_nlink = *ints++;
  stat->st_ino = *ints++;
  stat->st_rdev = *ints++;
  stat->st_blksize = *ints++;
  stat->st_blocks = uint32s_to_uint64(&ints);
#ifdef __APPLE__
  uint32s_to_timespec(&stat->st_atimespec, &ints);
  uint32s_to_timespec(&stat->st_mtimespec, &ints);
  uint32s_to_timespec(&stat->st_ctimespec, &ints);
#else
  uint32s_to_timespec(&stat->st_atim, &ints);
  uint32s_to_timespec(&stat->st_mtim, &ints);
  uint32s_to_timespec(&stat->st_ctim, &ints);
#endif
}

static void populate_statvfs (uint32_t *ints, struct statvfs* statvfs) {
  statvfs->f_bsize = *ints++;
  statvfs->f_frsize = *ints++;
  statvfs->f_blocks = *ints++;
  statvfs->f_bfree = *ints++;
  statvfs->f_bavail = *ints++;
  statvfs->f_files = *ints++;
  statvfs->f_ffree = *ints++;
  statvfs->f_favail = *ints++;
  statvfs->f_fsid = *ints++;
  statvfs->f_flag = *ints++;
  statvfs->f_namemax = *ints++;
}

// Methods

FUSE_METHOD(statfs, 1, 1, (const char * path, struct statvfs *statvfs), {
  l->path = path;
  l->statvfs = statvfs;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_statvfs(ints, l->statvfs);
})

FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat), {
  l->path = path;
  l->stat = stat;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_stat(ints, l->stat);
})

FUSE_METHOD(fgetattr, 2, 1, (const char *path, struct stat *stat, struct fuse_file_info *info), {
  l->path = path;
  l->stat = stat;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_stat(ints, l->stat);
})

FUSE_METHOD_VOID(access, 2, 0, (const char *path, int mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD(open, 2, 1, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->flags, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD(opendir, 3, 1, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
    napi_create_uint32(env, l->info->flags, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
    napi_create_uint32(env, 0, &(argv[4]));
  }
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD(create, 2, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD_VOID(utimens, 7, 0, (const char *path, const struct timespec tv[2], struct fuse_file_info *info), {
  l->path = path;
  resolve_utimes(l->times, tv);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_TIMESPEC_TO_INTS_ARGV(l->times[0], 3)
  FUSE_TIMESPEC_TO_INTS_ARGV(l->times[1], 6)
})

FUSE_METHOD_VOID(release, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD_VOID(releasedir, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD(read, 6, 2, (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path;
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->info->fh, &(argv[3]));
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

FUSE_METHOD(write, 6, 2, (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path;
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->info->fh, &(argv[3]));
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

FUSE_METHOD(readdir, 1, 2, (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info, enum fuse_readdir_flags flags), {
  l->buf = buf;
  l->path = path;
  l->offset = offset;
  l->info = info;
  l->readdir_filler = filler;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  uint32_t stats_length;
  uint32_t names_length;
  napi_get_array_length(env, argv[3], &stats_length);
  napi_get_array_length(env, argv[2], &names_length);

  napi_value raw_names = argv[2];
  napi_value raw_stats = argv[3];

  if (names_length != stats_length) {
    NAPI_FOR_EACH(raw_names, raw_name) {
      NAPI_UTF8(name, 1024, raw_name)
      int err = l->readdir_filler((char *) l->buf, name, NULL, 0, 0);
      if (err == 1) {
        break;
      }
    }
  } else {
    NAPI_FOR_EACH(raw_names, raw_name) {
      NAPI_UTF8(name, 1024, raw_name)
      napi_value raw_stat;
      napi_get_element(env, raw_stats, i, &raw_stat);

      NAPI_BUFFER_CAST(uint32_t*, stats_array, raw_stat);
      struct stat st;
      populate_stat(stats_array, &st);

      // Without FUSE_FILL_DIR_PLUS: only the type bits are used, and a READDIRPLUS
      // does not fill the kernel's attribute cache from here (getattr stays the source).
      int err = l->readdir_filler((char *) l->buf, name, (struct stat *) &st, 0, 0);
      if (err == 1) {
        break;
      }
    }
  }
})

#ifdef __APPLE__

FUSE_METHOD(setxattr, 5, 1, (const char *path, const char *name, const char *value, size_t size, int flags, uint32_t position), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->flags = flags;
  l->position = position;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->position, &(argv[5]));
  napi_create_uint32(env, l->flags, &(argv[6]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size, uint32_t position), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->position = position;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->position, &(argv[5]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

#else

FUSE_METHOD(setxattr, 5, 1, (const char *path, const char *name, const char *value, size_t size, int flags), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->flags = flags;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, 0, &(argv[5])); // normalize apis between mac and linux
  napi_create_uint32(env, l->flags, &(argv[6]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD(getxattr, 4, 1, (const char *path, const char *name, char *value, size_t size), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, 0, &(argv[5]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

#endif

FUSE_METHOD(listxattr, 2, 1, (const char *path, char *list, size_t size), {
  l->path = path;
  l->list = list;
  l->size = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_external_buffer(env, l->size, l->list, NULL, NULL, &(argv[3]));
}, {
  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD_VOID(removexattr, 2, 0, (const char *path, const char *name), {
  l->path = path;
  l->name = name;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(flush, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
})

FUSE_METHOD_VOID(fsync, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path;
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[4]));
  }
})

FUSE_METHOD_VOID(fsyncdir, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path;
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[4]));
  } else {
    napi_create_uint32(env, 0, &(argv[4]));
  }
})


FUSE_METHOD_VOID(truncate, 3, 0, (const char *path, off_t size), {
  l->path = path;
  l->offset = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 3)
})

FUSE_METHOD_VOID(ftruncate, 4, 0, (const char *path, off_t size, struct fuse_file_info *info), {
  l->path = path;
  l->offset = size;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  if (l->info != NULL) {
    napi_create_uint32(env, l->info->fh, &(argv[3]));
  } else {
    napi_create_uint32(env, 0, &(argv[3]));
  }
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 4)
})

FUSE_METHOD(readlink, 1, 1, (const char *path, char *linkname, size_t len), {
  l->path = path;
  l->linkname = linkname;
  l->len = len;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_UTF8(linkname, l->len, 2)
  strncpy(l->linkname, linkname, l->len);
})

FUSE_METHOD_VOID(chown, 3, 0, (const char *path, uid_t uid, gid_t gid, struct fuse_file_info *info), {
  l->path = path;
  l->uid = uid;
  l->gid = gid;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->uid, &(argv[3]));
  napi_create_uint32(env, l->gid, &(argv[4]));
})

FUSE_METHOD_VOID(chmod, 2, 0, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(mknod, 3, 0, (const char *path, mode_t mode, dev_t dev), {
  l->path = path;
  l->mode = mode;
  l->dev = dev;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  napi_create_uint32(env, l->dev, &(argv[4]));
})

FUSE_METHOD_VOID(unlink, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

FUSE_METHOD_VOID(rename, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(link, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(symlink, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(mkdir, 2, 0, (const char *path, mode_t mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(rmdir, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

static void fuse_native_dispatch_init (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {\
  FUSE_NATIVE_CALLBACK(ft->handlers[op_init], {
    napi_value argv[2];

    napi_get_reference_value(env, l->self, &(argv[0]));
    napi_create_uint32(env, l->op, &(argv[1]));

    NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, 2, argv, NULL);
  })
}

NAPI_METHOD(fuse_native_signal_init) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);
  NAPI_ARGV_INT32(res, 1);
  l->res = res;
  uv_sem_post(&(l->sem));
  return NULL;
}

static fuse_thread_t * fuse_native_thread () {
  return (fuse_thread_t *) fuse_get_context()->private_data;
}

static void * fuse_native_init (struct fuse_conn_info *conn, struct fuse_config *cfg) {
  fuse_thread_t *ft = fuse_native_thread();
  // Taken as -o options by libfuse 2; libfuse 3 takes them only here.
  cfg->hard_remove = ft->hard_remove;
  cfg->use_ino = ft->use_ino;
  cfg->direct_io = ft->direct_io;
  // libfuse 3's nullpath_ok means "never compute a path for a request with a file handle".
  // Left off, a request on an unlinked but open file (hard_remove) comes with a NULL path
  // (its path lookup fails with ENOENT), which is what libfuse 2's flag_nullpath_ok gave:
  // the JS handlers get "-" and identify the file by its fd. The other settings (timeouts,
  // kernel_cache, umask, uid, gid) arrive as -o options, which fuse_new parses into cfg.
  cfg->nullpath_ok = 0;
  // No READDIRPLUS (libfuse 3 asks for it by default, libfuse 2's high-level API never did):
  // the fillers pass no FUSE_FILL_DIR_PLUS, so each entry would cross as a direntplus with
  // no attributes (several times READDIR's bytes) and `ls -l` would still look up every name.
  conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  fuse_thread_locals_t *l = get_thread_locals();

  l->op = op_init;
  l->op_fn = fuse_native_dispatch_init;

  uv_async_send(&(l->async));
  uv_sem_wait(&(l->sem));

  return l->fuse;
}

// libfuse 3 entry points whose arguments differ from the JS handlers'.

// ftruncate(2) arrives as truncate with the file's handle: the JS ftruncate handler, when
// there is one, as libfuse 2 called it.
static int fuse_native_truncate3 (const char *path, off_t size, struct fuse_file_info *info) {
  if (info != NULL && fuse_native_thread()->implemented[op_ftruncate]) return fuse_native_ftruncate(path, size, info);
  return fuse_native_truncate(path, size);
}

// RENAME_NOREPLACE / RENAME_EXCHANGE (renameat2): the JS handler takes no flags, so it is
// not asked to do something it cannot tell apart from a plain rename.
static int fuse_native_rename3 (const char *path, const char *dest, unsigned int flags) {
  if (flags != 0) return -EINVAL;
  return fuse_native_rename(path, dest);
}

// Top-level dispatcher

static void fuse_native_dispatch (uv_async_t* handle) {
  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;
  fuse_thread_t *ft = l->fuse;
  void (*fn)(uv_async_t *, fuse_thread_locals_t *, fuse_thread_t *) = l->op_fn;

  fn(handle, l, ft);
}

static void fuse_native_async_init (uv_async_t* handle) {
  fuse_thread_t *ft = (fuse_thread_t *) handle->data;
  fuse_thread_locals_t *l;

  FUSE_NATIVE_CALLBACK(ft->malloc, {
    napi_value argv[1];
    napi_create_uint32(ft->env, (uint32_t) sizeof(fuse_thread_locals_t), &(argv[0]));

    napi_value buf;
    NAPI_MAKE_CALLBACK(ft->env, NULL, ctx, callback, 1, argv, &buf);

    size_t l_len;

    napi_get_buffer_info(env, buf, (void **) &l, &l_len);
    napi_create_reference(env, buf, 1, &(l->self));
  })


  int err = uv_async_init(uv_default_loop(), &(l->async), (uv_async_cb) fuse_native_dispatch);
  assert(err >= 0);

  uv_unref((uv_handle_t *) &(l->async));

  uv_sem_init(&(l->sem), 0);
  l->async.data = l;
  ft->async.data = l;
  l->fuse = ft;

  uv_sem_post(&(ft->sem));
}

static fuse_thread_locals_t* get_thread_locals () {
  struct fuse_context *ctx = fuse_get_context();
  fuse_thread_t *ft = (fuse_thread_t *) ctx->private_data;

  void *data = pthread_getspecific(thread_locals_key);

  if (data != NULL) {
    return (fuse_thread_locals_t *) data;
  }

  // Need to lock the mutation of l->async.
  uv_mutex_lock(&(ft->mut));
  ft->async.data = ft;

  // Notify the main thread to uv_async_init l->async.
  uv_async_send(&(ft->async));
  uv_sem_wait(&(ft->sem));

  fuse_thread_locals_t *l = (fuse_thread_locals_t*) ft->async.data;

  pthread_setspecific(thread_locals_key, (void *) l);
  uv_mutex_unlock(&(ft->mut));

  return l;
}

static void* start_fuse_thread (void *data) {
  fuse_thread_t *ft = (fuse_thread_t *) data;
  // Until the kernel ends the connection (an unmount: ours, fusermount3 -u or umount from
  // outside) or the session fails. clone_fd 0: one /dev/fuse descriptor, as libfuse 2 had.
  fuse_loop_mt(ft->fuse, 0);

  // No invalidate() may use the session from now on (it answers ENOTCONN);
  // one in progress finishes first (the kernel fails it: the connection is gone).
  pthread_mutex_lock(&(ft->notify_mut));
  ft->se = NULL;
  pthread_mutex_unlock(&(ft->notify_mut));

  // fuse_unmount closes /dev/fuse (and unmounts only if the kernel still has the mount:
  // after an outside unmount it sees POLLERR and does nothing); fuse_destroy then frees the
  // session, after which nothing may touch it.
  fuse_unmount(ft->fuse);
  fuse_destroy(ft->fuse);

  return NULL;
}

// pstore-sim patch level 3: files answered from native code (fuse.files).
//
// Every request fuse-native hands to JS costs a hop from the FUSE thread to
// the event loop and back (uv_async_send, JS, uv_sem_post): ~30 us here, 2-3x
// what a C filesystem spends on a whole stat. A daemon whose files change
// only when it says so can publish them in this table instead: getattr,
// fgetattr, readdir, read-only open and read of the root directory and its
// entries are then answered on the FUSE thread under a read lock, and only
// the other operations (unlink, chmod, open for writing, ...) reach JS, which
// updates the table before it replies. The table is active once the root's
// attributes are set (fuse.files.setRoot); before that everything goes to JS.
//
// A file is keyed by its handle (what open puts in fi->fh, non-zero) and
// listed by name while it is live. remove() unlists it but keeps it readable
// through its handle (an unlinked file that is still open, hard_remove);
// clear() forgets every file and handle (the daemon's files were replaced).
// Contents are not copied: the table holds a reference to the JS buffer, which
// must not change while it is published.

typedef struct fuse_native_file {
  struct fuse_native_file *name_next;
  struct fuse_native_file *handle_next;
  struct fuse_native_file *prev, *next; // listing order, live files only
  char *name;
  size_t name_len;
  uint32_t name_hash;
  uint32_t handle;
  int live;
  struct stat st;
  const char *data;
  size_t data_len;
  napi_ref data_ref;
  int pending; // no content yet: open and read go to JS (patch level 6)
} fuse_native_file_t;

// A listing of the root as it was when a READDIR at offset 0 asked (what libfuse 2 and 3
// keep per open directory): the names in listing order, copied. Entries carry offsets that
// name the listing and the index, so libfuse 3 calls readdir with the kernel's offset and the
// next READDIR starts at its index. Without offsets libfuse 3 keeps its own copy as a linked
// list and walks it from the start for every READDIR: an `ls -l` of 8,000 files was 3-7%
// slower than on libfuse 2, whose copy was one indexed buffer.
typedef struct fuse_native_listing {
  uint32_t id;
  int readers; // READDIRs filling from it now
  int dropped; // no longer kept: freed by its last reader
  size_t count;
  char **names; // into one block with the strings
} fuse_native_listing_t;

// Listings kept for READDIRs of listings in progress: a listing is replaced only when a new
// one starts after a change, so a listing in progress ends early only after this many others
// have started meanwhile on a changed directory.
#define FUSE_NATIVE_LISTINGS_KEPT 8

typedef struct fuse_native_files {
  pthread_rwlock_t lock;
  int enabled;
  struct stat root;
  fuse_native_file_t **by_name;
  size_t name_buckets;
  size_t live_count;
  fuse_native_file_t **by_handle;
  size_t handle_buckets;
  size_t count;
  fuse_native_file_t *first, *last;
  int js_holds; // the JS thread holds the write lock across calls (batch)
  uint64_t changes; // every change to what the root lists (under the write lock)
  pthread_mutex_t listings_mut; // READDIRs hold the read lock only
  fuse_native_listing_t *listings[FUSE_NATIVE_LISTINGS_KEPT]; // by id % KEPT
  uint32_t next_listing_id;
  uint64_t newest_listing_changes; // `changes` when the newest listing was made
} fuse_native_files_t;

// Only the JS thread writes; within a batch it already holds the lock.
static void fuse_native_files_wrlock (fuse_native_files_t *t) {
  if (!t->js_holds) pthread_rwlock_wrlock(&(t->lock));
}

static void fuse_native_files_wrunlock (fuse_native_files_t *t) {
  if (!t->js_holds) pthread_rwlock_unlock(&(t->lock));
}

static uint32_t fuse_native_files_hash (const char *s, size_t n) {
  uint32_t h = 2166136261u; // FNV-1a
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t) s[i]) * 16777619u;
  return h;
}

static size_t fuse_native_files_handle_slot (uint32_t handle, size_t buckets) {
  return (size_t) ((handle * 2654435761u) & (buckets - 1));
}

// "/name" -> name; NULL for anything that is not an entry of the root.
static const char * fuse_native_files_entry_name (const char *path, size_t *len) {
  if (path == NULL || path[0] != '/' || path[1] == '\0') return NULL;
  const char *name = path + 1;
  if (strchr(name, '/') != NULL) return NULL;
  *len = strlen(name);
  return name;
}

static fuse_native_file_t * fuse_native_files_by_name (fuse_native_files_t *t, const char *name, size_t len) {
  if (t->name_buckets == 0) return NULL;
  uint32_t h = fuse_native_files_hash(name, len);
  for (fuse_native_file_t *f = t->by_name[h & (t->name_buckets - 1)]; f != NULL; f = f->name_next) {
    if (f->name_hash == h && f->name_len == len && memcmp(f->name, name, len) == 0) return f;
  }
  return NULL;
}

// fi->fh holds a handle zero-extended (set here) or sign-extended (an int32
// from a JS open handler): its low 32 bits are the handle either way.
static fuse_native_file_t * fuse_native_files_by_handle (fuse_native_files_t *t, uint64_t fh) {
  uint32_t handle = (uint32_t) fh;
  if (t->handle_buckets == 0 || handle == 0) return NULL;
  for (fuse_native_file_t *f = t->by_handle[fuse_native_files_handle_slot(handle, t->handle_buckets)]; f != NULL; f = f->handle_next) {
    if (f->handle == handle) return f;
  }
  return NULL;
}

// Both hash tables keep at most one file per bucket on average.
static int fuse_native_files_reserve (fuse_native_files_t *t, size_t want) {
  if (want <= t->handle_buckets && want <= t->name_buckets) return 0;
  size_t n = 64;
  while (n < want * 2) n *= 2;
  fuse_native_file_t **by_name = calloc(n, sizeof(fuse_native_file_t *));
  fuse_native_file_t **by_handle = calloc(n, sizeof(fuse_native_file_t *));
  if (by_name == NULL || by_handle == NULL) {
    free(by_name);
    free(by_handle);
    return -ENOMEM;
  }
  for (size_t i = 0; i < t->handle_buckets; i++) {
    fuse_native_file_t *f = t->by_handle[i];
    while (f != NULL) {
      fuse_native_file_t *next = f->handle_next;
      size_t slot = fuse_native_files_handle_slot(f->handle, n);
      f->handle_next = by_handle[slot];
      by_handle[slot] = f;
      f = next;
    }
  }
  for (size_t i = 0; i < t->name_buckets; i++) {
    fuse_native_file_t *f = t->by_name[i];
    while (f != NULL) {
      fuse_native_file_t *next = f->name_next;
      f->name_next = by_name[f->name_hash & (n - 1)];
      by_name[f->name_hash & (n - 1)] = f;
      f = next;
    }
  }
  free(t->by_name);
  free(t->by_handle);
  t->by_name = by_name;
  t->by_handle = by_handle;
  t->name_buckets = n;
  t->handle_buckets = n;
  return 0;
}

static void fuse_native_files_unlist (fuse_native_files_t *t, fuse_native_file_t *f) {
  if (!f->live) return;
  fuse_native_file_t **p = &(t->by_name[f->name_hash & (t->name_buckets - 1)]);
  while (*p != f) p = &((*p)->name_next);
  *p = f->name_next;
  f->name_next = NULL;
  if (f->prev) f->prev->next = f->next;
  else t->first = f->next;
  if (f->next) f->next->prev = f->prev;
  else t->last = f->prev;
  f->prev = f->next = NULL;
  f->live = 0;
  t->live_count--;
  t->changes++;
}

static void fuse_native_files_free_file (napi_env env, fuse_native_file_t *f) {
  if (f->data_ref != NULL && env != NULL) napi_delete_reference(env, f->data_ref);
  free(f->name);
  free(f);
}

// Caller holds the write lock.
static void fuse_native_files_clear_locked (napi_env env, fuse_native_files_t *t) {
  for (size_t i = 0; i < t->handle_buckets; i++) {
    fuse_native_file_t *f = t->by_handle[i];
    while (f != NULL) {
      fuse_native_file_t *next = f->handle_next;
      fuse_native_files_free_file(env, f);
      f = next;
    }
    t->by_handle[i] = NULL;
  }
  for (size_t i = 0; i < t->name_buckets; i++) t->by_name[i] = NULL;
  t->first = t->last = NULL;
  t->live_count = 0;
  t->count = 0;
  t->changes++;
}

static void fuse_native_files_finalize (napi_env env, void *data, void *hint) {
  fuse_native_files_t *t = (fuse_native_files_t *) data;
  fuse_native_files_clear_locked(env, t);
  free(t->by_name);
  free(t->by_handle);
  for (int i = 0; i < FUSE_NATIVE_LISTINGS_KEPT; i++) free(t->listings[i]);
  pthread_mutex_destroy(&(t->listings_mut));
  pthread_rwlock_destroy(&(t->lock));
  free(t);
}

// ---- FUSE thread side: 1 = answered (*res is the reply), 0 = ask JS

static fuse_native_files_t * fuse_native_files_active () {
  fuse_thread_t *ft = (fuse_thread_t *) fuse_get_context()->private_data;
  if (ft == NULL || ft->files == NULL || !__atomic_load_n(&(ft->files->enabled), __ATOMIC_ACQUIRE)) return NULL;
  return ft->files;
}

// A file by handle (it may be unlinked and still open), else by path. With a
// handle, only that file: a handle the table no longer holds (retired two
// boots ago) sets *stale and must not find another boot's file of that name.
static fuse_native_file_t * fuse_native_files_find (fuse_native_files_t *t, const char *path, struct fuse_file_info *info, int *stale) {
  if (info != NULL && (uint32_t) info->fh != 0) {
    fuse_native_file_t *f = fuse_native_files_by_handle(t, info->fh);
    if (f == NULL && stale != NULL) *stale = 1;
    return f;
  }
  size_t len;
  const char *name = fuse_native_files_entry_name(path, &len);
  return name != NULL ? fuse_native_files_by_name(t, name, len) : NULL;
}

static int fuse_native_fast_fgetattr (const char *path, struct stat *stat, struct fuse_file_info *info);

// libfuse 3 has one getattr: with a file handle (fstat(2) on an open file) it is what
// libfuse 2 called fgetattr, and reaches the JS fgetattr handler when there is one.
static int fuse_native_fast_getattr (const char *path, struct stat *stat, struct fuse_file_info *info) {
  if (info != NULL && fuse_native_thread()->implemented[op_fgetattr]) return fuse_native_fast_fgetattr(path, stat, info);
  fuse_native_files_t *t = fuse_native_files_active();
  if (t == NULL) return fuse_native_getattr(path, stat);
  int res = 0;
  pthread_rwlock_rdlock(&(t->lock));
  fuse_native_file_t *f;
  if (path != NULL && strcmp(path, "/") == 0) *stat = t->root;
  else if ((f = fuse_native_files_find(t, path, NULL, NULL)) != NULL) *stat = f->st;
  else res = -ENOENT;
  pthread_rwlock_unlock(&(t->lock));
  return res;
}

static int fuse_native_fast_fgetattr (const char *path, struct stat *stat, struct fuse_file_info *info) {
  fuse_native_files_t *t = fuse_native_files_active();
  if (t == NULL) return fuse_native_fgetattr(path, stat, info);
  int res = 0;
  pthread_rwlock_rdlock(&(t->lock));
  int stale = 0;
  fuse_native_file_t *f = fuse_native_files_find(t, path, info, &stale);
  if (f != NULL) *stat = f->st;
  else if (stale) res = -EIO;
  else if (path != NULL && strcmp(path, "/") == 0) *stat = t->root;
  else res = -ENOENT;
  pthread_rwlock_unlock(&(t->lock));
  return res;
}

static int fuse_native_fast_open (const char *path, struct fuse_file_info *info) {
  fuse_native_files_t *t = fuse_native_files_active();
  // Opening for writing or with O_TRUNC changes state (or fails): JS decides.
  if (t == NULL || (info->flags & O_ACCMODE) != O_RDONLY || (info->flags & O_TRUNC)) return fuse_native_open(path, info);
  int res = 0;
  int pending = 0;
  pthread_rwlock_rdlock(&(t->lock));
  fuse_native_file_t *f = fuse_native_files_find(t, path, NULL, NULL);
  if (f == NULL) res = -ENOENT;
  else if (f->pending) pending = 1;
  else info->fh = f->handle;
  pthread_rwlock_unlock(&(t->lock));
  // Without the lock: the JS handler gives the content (setContent takes it) before it replies.
  if (pending) return fuse_native_open(path, info);
  return res;
}

static int fuse_native_fast_read (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info) {
  fuse_native_files_t *t = fuse_native_files_active();
  if (t == NULL) return fuse_native_read(path, buf, len, offset, info);
  int res = 0;
  pthread_rwlock_rdlock(&(t->lock));
  int stale = 0;
  fuse_native_file_t *f = fuse_native_files_find(t, path, info, &stale);
  int pending = f != NULL && f->pending;
  if (f == NULL) {
    res = stale ? -EIO : -ENOENT;
  } else if (!pending) {
    // st_size bounds what is read: a file truncated in memory reads empty.
    size_t size = f->st.st_size < 0 ? 0 : (size_t) f->st.st_size;
    if (size > f->data_len) size = f->data_len;
    if (offset >= 0 && (uint64_t) offset < size) {
      size_t n = size - (size_t) offset;
      if (n > len) n = len;
      memcpy(buf, f->data + offset, n);
      res = (int) n;
    }
  }
  pthread_rwlock_unlock(&(t->lock));
  if (pending) return fuse_native_read(path, buf, len, offset, info);
  return res;
}

// A copy of the root's listing, names and strings in one block. Caller holds the read lock.
static fuse_native_listing_t * fuse_native_listing_make (fuse_native_files_t *t, uint32_t id) {
  size_t bytes = 0;
  for (fuse_native_file_t *f = t->first; f != NULL; f = f->next) bytes += f->name_len + 1;
  fuse_native_listing_t *l = malloc(sizeof(fuse_native_listing_t) + t->live_count * sizeof(char *) + bytes);
  if (l == NULL) return NULL;
  l->id = id;
  l->readers = 0;
  l->dropped = 0;
  l->count = 0;
  l->names = (char **) (l + 1);
  char *text = (char *) (l->names + t->live_count);
  for (fuse_native_file_t *f = t->first; f != NULL && l->count < t->live_count; f = f->next) {
    memcpy(text, f->name, f->name_len + 1);
    l->names[l->count++] = text;
    text += f->name_len + 1;
  }
  return l;
}

// The listing a READDIR at OFFSET fills from, with a reader counted; NULL when that listing is
// no longer kept (the READDIR then ends the listing) or memory ran out (*err).
static fuse_native_listing_t * fuse_native_listing_take (fuse_native_files_t *t, off_t offset, int *err) {
  fuse_native_listing_t *l = NULL;
  pthread_mutex_lock(&(t->listings_mut));
  if (offset != 0) {
    uint32_t id = (uint32_t) ((uint64_t) offset >> 32);
    l = t->listings[id % FUSE_NATIVE_LISTINGS_KEPT];
    if (l != NULL && l->id != id) l = NULL;
  } else {
    uint32_t newest = t->next_listing_id - 1;
    l = t->listings[newest % FUSE_NATIVE_LISTINGS_KEPT];
    if (l == NULL || l->id != newest || t->newest_listing_changes != t->changes) {
      uint32_t id = t->next_listing_id;
      l = fuse_native_listing_make(t, id);
      if (l == NULL) {
        *err = -ENOMEM;
      } else {
        t->next_listing_id = id == 0x7fffffff ? 1 : id + 1;
        t->newest_listing_changes = t->changes;
        fuse_native_listing_t **slot = &(t->listings[id % FUSE_NATIVE_LISTINGS_KEPT]);
        if (*slot != NULL) {
          if ((*slot)->readers == 0) free(*slot);
          else (*slot)->dropped = 1;
        }
        *slot = l;
      }
    }
  }
  if (l != NULL) l->readers++;
  pthread_mutex_unlock(&(t->listings_mut));
  return l;
}

static void fuse_native_listing_release (fuse_native_files_t *t, fuse_native_listing_t *l) {
  pthread_mutex_lock(&(t->listings_mut));
  if (--l->readers == 0 && l->dropped) free(l);
  pthread_mutex_unlock(&(t->listings_mut));
}

// Offsets: the listing's id in the high 32 bits; 1 after ".", 2 after "..", 3 + i after name i.
static int fuse_native_fast_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info, enum fuse_readdir_flags flags) {
  fuse_native_files_t *t = fuse_native_files_active();
  if (t == NULL) return fuse_native_readdir(path, buf, filler, offset, info, flags);
  int res = 0;
  pthread_rwlock_rdlock(&(t->lock));
  if (path != NULL && strcmp(path, "/") == 0) {
    fuse_native_listing_t *l = fuse_native_listing_take(t, offset, &res);
    if (l != NULL) {
      uint64_t base = (uint64_t) l->id << 32;
      uint64_t next = offset == 0 ? 0 : (uint64_t) offset & 0xffffffffu;
      for (; next < l->count + 2; next++) {
        const char *name = next == 0 ? "." : next == 1 ? ".." : l->names[next - 2];
        if (filler(buf, name, NULL, (off_t) (base | (next + 1)), 0) != 0) break;
      }
      fuse_native_listing_release(t, l);
    }
  } else {
    res = fuse_native_files_find(t, path, NULL, NULL) != NULL ? -ENOTDIR : -ENOENT;
  }
  pthread_rwlock_unlock(&(t->lock));
  return res;
}

// ---- JS side (the event loop thread)

static fuse_native_files_t * fuse_native_files_arg (napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "expected a file table");
    return NULL;
  }
  return (fuse_native_files_t *) data;
}

static int fuse_native_files_stat_arg (napi_env env, napi_value v, struct stat *st) {
  uint32_t *ints = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, v, (void **) &ints, &len) != napi_ok || len < 21 * sizeof(uint32_t)) {
    napi_throw_type_error(env, NULL, "expected a stat array");
    return -1;
  }
  memset(st, 0, sizeof(*st));
  populate_stat(ints, st);
  return 0;
}

static napi_value fuse_native_files_result (napi_env env, int32_t v) {
  napi_value res;
  napi_create_int32(env, v, &res);
  return res;
}

NAPI_METHOD(fuse_native_files_create) {
  fuse_native_files_t *t = calloc(1, sizeof(fuse_native_files_t));
  if (t == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  pthread_rwlock_init(&(t->lock), NULL);
  pthread_mutex_init(&(t->listings_mut), NULL);
  t->next_listing_id = 1;
  napi_value res;
  if (napi_create_external(env, t, fuse_native_files_finalize, NULL, &res) != napi_ok) {
    pthread_rwlock_destroy(&(t->lock));
    free(t);
    return NULL;
  }
  return res;
}

// setRoot(table, stat): the root directory's attributes; activates the table.
NAPI_METHOD(fuse_native_files_root) {
  NAPI_ARGV(2)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  struct stat st;
  if (fuse_native_files_stat_arg(env, argv[1], &st) != 0) return NULL;
  fuse_native_files_wrlock(t);
  t->root = st;
  __atomic_store_n(&(t->enabled), 1, __ATOMIC_RELEASE);
  fuse_native_files_wrunlock(t);
  return NULL;
}

// set(table, handle, name, stat, content) -> 0 | -errno. Adds a live file,
// or replaces the file with that handle (listed under its new name).
NAPI_METHOD(fuse_native_files_set) {
  NAPI_ARGV(5)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  uint32_t handle = 0;
  if (napi_get_value_uint32(env, argv[1], &handle) != napi_ok || handle == 0) {
    napi_throw_type_error(env, NULL, "handle must be a non-zero uint32");
    return NULL;
  }
  size_t name_len = 0;
  if (napi_get_value_string_utf8(env, argv[2], NULL, 0, &name_len) != napi_ok || name_len == 0) {
    napi_throw_type_error(env, NULL, "name must be a non-empty string");
    return NULL;
  }
  struct stat st;
  if (fuse_native_files_stat_arg(env, argv[3], &st) != 0) return NULL;
  void *data = NULL;
  size_t data_len = 0;
  napi_valuetype content_type;
  if (napi_typeof(env, argv[4], &content_type) != napi_ok) return NULL;
  int pending = content_type == napi_null;
  if (!pending && napi_get_buffer_info(env, argv[4], &data, &data_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "content must be a Buffer or null");
    return NULL;
  }

  fuse_native_file_t *f = calloc(1, sizeof(fuse_native_file_t));
  char *name = malloc(name_len + 1);
  if (f == NULL || name == NULL) {
    free(f);
    free(name);
    return fuse_native_files_result(env, -ENOMEM);
  }
  napi_get_value_string_utf8(env, argv[2], name, name_len + 1, &name_len);
  if (memchr(name, '/', name_len) != NULL || strlen(name) != name_len) {
    free(f);
    free(name);
    napi_throw_type_error(env, NULL, "name must not contain '/' or NUL");
    return NULL;
  }
  f->name = name;
  f->name_len = name_len;
  f->name_hash = fuse_native_files_hash(name, name_len);
  f->handle = handle;
  f->st = st;
  f->data = (const char *) data;
  f->data_len = data_len;
  f->pending = pending;
  if (!pending && napi_create_reference(env, argv[4], 1, &(f->data_ref)) != napi_ok) {
    fuse_native_files_free_file(env, f);
    return fuse_native_files_result(env, -ENOMEM);
  }

  fuse_native_files_wrlock(t);
  if (fuse_native_files_reserve(t, t->count + 1) != 0) {
    fuse_native_files_wrunlock(t);
    fuse_native_files_free_file(env, f);
    return fuse_native_files_result(env, -ENOMEM);
  }
  fuse_native_file_t *old = fuse_native_files_by_handle(t, handle);
  fuse_native_file_t *same_name = fuse_native_files_by_name(t, name, name_len);
  if (old != NULL) {
    fuse_native_files_unlist(t, old);
    fuse_native_file_t **p = &(t->by_handle[fuse_native_files_handle_slot(handle, t->handle_buckets)]);
    while (*p != old) p = &((*p)->handle_next);
    *p = old->handle_next;
    t->count--;
  }
  // One live file per name: a file of another handle under this name is unlisted.
  if (same_name != NULL && same_name != old) fuse_native_files_unlist(t, same_name);
  size_t slot = fuse_native_files_handle_slot(handle, t->handle_buckets);
  f->handle_next = t->by_handle[slot];
  t->by_handle[slot] = f;
  t->count++;
  f->name_next = t->by_name[f->name_hash & (t->name_buckets - 1)];
  t->by_name[f->name_hash & (t->name_buckets - 1)] = f;
  f->prev = t->last;
  if (t->last) t->last->next = f;
  else t->first = f;
  t->last = f;
  f->live = 1;
  t->changes++;
  t->live_count++;
  fuse_native_files_wrunlock(t);
  if (old != NULL) fuse_native_files_free_file(env, old);
  return fuse_native_files_result(env, 0);
}

// setContent(table, handle, content) -> 0 | -ENOENT | -ENOMEM (patch level 6):
// the content of a file set without one; its place in the listing is kept.
NAPI_METHOD(fuse_native_files_set_content) {
  NAPI_ARGV(3)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  uint32_t handle = 0;
  if (napi_get_value_uint32(env, argv[1], &handle) != napi_ok || handle == 0) {
    napi_throw_type_error(env, NULL, "handle must be a non-zero uint32");
    return NULL;
  }
  void *data = NULL;
  size_t data_len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &data_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "content must be a Buffer");
    return NULL;
  }
  napi_ref ref = NULL;
  if (napi_create_reference(env, argv[2], 1, &ref) != napi_ok) return fuse_native_files_result(env, -ENOMEM);
  napi_ref old = NULL;
  fuse_native_files_wrlock(t);
  fuse_native_file_t *f = fuse_native_files_by_handle(t, handle);
  if (f != NULL) {
    old = f->data_ref;
    f->data = (const char *) data;
    f->data_len = data_len;
    f->data_ref = ref;
    f->pending = 0;
  }
  fuse_native_files_wrunlock(t);
  if (f == NULL) {
    napi_delete_reference(env, ref);
    return fuse_native_files_result(env, -ENOENT);
  }
  if (old != NULL) napi_delete_reference(env, old);
  return fuse_native_files_result(env, 0);
}

// setStat(table, handle, stat) -> 0 | -ENOENT
NAPI_METHOD(fuse_native_files_set_stat) {
  NAPI_ARGV(3)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  uint32_t handle = 0;
  napi_get_value_uint32(env, argv[1], &handle);
  struct stat st;
  if (fuse_native_files_stat_arg(env, argv[2], &st) != 0) return NULL;
  fuse_native_files_wrlock(t);
  fuse_native_file_t *f = fuse_native_files_by_handle(t, handle);
  if (f != NULL) f->st = st;
  fuse_native_files_wrunlock(t);
  return fuse_native_files_result(env, f != NULL ? 0 : -ENOENT);
}

// remove(table, handle) -> 0 | -ENOENT: unlisted, still readable by handle.
NAPI_METHOD(fuse_native_files_remove) {
  NAPI_ARGV(2)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  uint32_t handle = 0;
  napi_get_value_uint32(env, argv[1], &handle);
  fuse_native_files_wrlock(t);
  fuse_native_file_t *f = fuse_native_files_by_handle(t, handle);
  int live = f != NULL && f->live;
  if (live) fuse_native_files_unlist(t, f);
  fuse_native_files_wrunlock(t);
  return fuse_native_files_result(env, live ? 0 : -ENOENT);
}

// retire(table): a reboot. Files already unlisted (unlinked, or retired by the
// previous call) are freed; every listed file is unlisted but stays readable
// through a handle opened on it. So a descriptor outlives one reboot reading
// the file it opened, and memory holds at most two boots' contents.
NAPI_METHOD(fuse_native_files_retire) {
  NAPI_ARGV(1)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  fuse_native_file_t *freed = NULL;
  fuse_native_files_wrlock(t);
  for (size_t i = 0; i < t->handle_buckets; i++) {
    fuse_native_file_t **p = &(t->by_handle[i]);
    while (*p != NULL) {
      fuse_native_file_t *f = *p;
      if (f->live) {
        fuse_native_files_unlist(t, f);
        p = &(f->handle_next);
      } else {
        *p = f->handle_next;
        t->count--;
        f->handle_next = freed;
        freed = f;
      }
    }
  }
  fuse_native_files_wrunlock(t);
  while (freed != NULL) {
    fuse_native_file_t *next = freed->handle_next;
    fuse_native_files_free_file(env, freed);
    freed = next;
  }
  return NULL;
}

// clear(table): every file and handle forgotten; the root stays.
NAPI_METHOD(fuse_native_files_clear) {
  NAPI_ARGV(1)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  fuse_native_files_wrlock(t);
  fuse_native_files_clear_locked(env, t);
  fuse_native_files_wrunlock(t);
  return NULL;
}

// batch(table, begin): between batch(t, true) and batch(t, false) the FUSE
// threads wait, so that they see all of a batch of changes or none of it
// (a reboot replaces every file: no client may list half of the new set).
NAPI_METHOD(fuse_native_files_batch) {
  NAPI_ARGV(2)
  fuse_native_files_t *t = fuse_native_files_arg(env, argv[0]);
  if (t == NULL) return NULL;
  bool begin = false;
  napi_get_value_bool(env, argv[1], &begin);
  if (begin && !t->js_holds) {
    pthread_rwlock_wrlock(&(t->lock));
    t->js_holds = 1;
  } else if (!begin && t->js_holds) {
    t->js_holds = 0;
    pthread_rwlock_unlock(&(t->lock));
  }
  return NULL;
}

// pstore-sim patch level 7: fuse_native_detach(mnt) -> 0 | -errno. A lazy
// unmount without fusermount, for a daemon running as root (what libfuse's
// own fuse_kern_unmount does then): its fork and exec were most of an unmount.
NAPI_METHOD(fuse_native_detach) {
  NAPI_ARGV(1)
  NAPI_ARGV_UTF8(mnt, 4096, 0);
#if defined(__linux__) && defined(MNT_DETACH)
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif
  return fuse_native_files_result(env, umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 ? 0 : -errno);
#else
  return fuse_native_files_result(env, -ENOSYS);
#endif
}

NAPI_METHOD(fuse_native_mount) {
  NAPI_ARGV(9)

  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_UTF8(mntopts, 1024, 1);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 2);
  napi_create_reference(env, argv[3], 1, &(ft->ctx));
  napi_create_reference(env, argv[4], 1, &(ft->malloc));
  napi_value handlers = argv[5];
  NAPI_ARGV_BUFFER_CAST(uint32_t *, implemented, 6)

  for (int i = 0; i < 35; i++) {
    ft->handlers[i] = NULL;
  }

  NAPI_FOR_EACH(handlers, handler) {
    napi_create_reference(env, handler, 1, &ft->handlers[i]);
  }

  ft->env = env;

  // The file table (fuse_native_files_create) or null/undefined: everything goes to JS.
  void *files = NULL;
  if (argc > 7 && napi_get_value_external(env, argv[7], &files) != napi_ok) files = NULL;
  ft->files = (struct fuse_native_files *) files;

  // [hard_remove, use_ino, direct_io] (native/index.cjs _fuseConfig)
  NAPI_ARGV_BUFFER_CAST(uint32_t *, config, 8)
  ft->hard_remove = config[0] != 0;
  ft->use_ino = config[1] != 0;
  ft->direct_io = config[2] != 0;

  struct fuse_operations ops = { };
  if (implemented[op_access]) ops.access = fuse_native_access;
  if (implemented[op_truncate] || implemented[op_ftruncate]) ops.truncate = fuse_native_truncate3;
  for (int i = 0; i < 35; i++) ft->implemented[i] = implemented[i];
  // getattr with a file handle reaches the JS fgetattr handler (fuse_native_fast_getattr)
  if (implemented[op_getattr] || implemented[op_fgetattr]) ops.getattr = fuse_native_fast_getattr;
  if (implemented[op_flush]) ops.flush = fuse_native_flush;
  if (implemented[op_fsync]) ops.fsync = fuse_native_fsync;
  if (implemented[op_fsyncdir]) ops.fsyncdir = fuse_native_fsyncdir;
  if (implemented[op_readdir]) ops.readdir = fuse_native_fast_readdir;
  if (implemented[op_readlink]) ops.readlink = fuse_native_readlink;
  if (implemented[op_chown]) ops.chown = fuse_native_chown;
  if (implemented[op_chmod]) ops.chmod = fuse_native_chmod;
  if (implemented[op_mknod]) ops.mknod = fuse_native_mknod;
  if (implemented[op_setxattr]) ops.setxattr = fuse_native_setxattr;
  if (implemented[op_getxattr]) ops.getxattr = fuse_native_getxattr;
  if (implemented[op_listxattr]) ops.listxattr = fuse_native_listxattr;
  if (implemented[op_removexattr]) ops.removexattr = fuse_native_removexattr;
  if (implemented[op_statfs]) ops.statfs = fuse_native_statfs;
  if (implemented[op_open]) ops.open = fuse_native_fast_open;
  if (implemented[op_opendir]) ops.opendir = fuse_native_opendir;
  if (implemented[op_read]) ops.read = fuse_native_fast_read;
  if (implemented[op_write]) ops.write = fuse_native_write;
  if (implemented[op_release]) ops.release = fuse_native_release;
  if (implemented[op_releasedir]) ops.releasedir = fuse_native_releasedir;
  if (implemented[op_create]) ops.create = fuse_native_create;
  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;
  if (implemented[op_unlink]) ops.unlink = fuse_native_unlink;
  if (implemented[op_rename]) ops.rename = fuse_native_rename3;
  if (implemented[op_link]) ops.link = fuse_native_link;
  if (implemented[op_symlink]) ops.symlink = fuse_native_symlink;
  if (implemented[op_mkdir]) ops.mkdir = fuse_native_mkdir;
  if (implemented[op_rmdir]) ops.rmdir = fuse_native_rmdir;
  if (implemented[op_init]) ops.init = fuse_native_init;
  // libfuse 3 always passes a time left alone as UTIME_OMIT (null in JS); UTIME_NOW is
  // resolved to the current time before it reaches JS (resolve_utimes). libfuse 2 needed
  // flag_utime_omit_ok for that. nullpath_ok: see fuse_native_init.

  int _argc = (strcmp(mntopts, "-o") <= 0) ? 1 : 2;
  char *_argv[] = {
    (char *) "pstore-sim",
    (char *) mntopts
  };

  struct fuse_args args = FUSE_ARGS_INIT(_argc, _argv);
  // Node marks its stdio close-on-exec, so the fusermount3 that libfuse forks and execs for
  // an ordinary user would start with no stderr and its reason for a refusal ("option
  // allow_other only allowed if ...") would be lost. Its stdout and stderr are the daemon's
  // (its log).
  for (int fd = 1; fd <= 2; fd++) {
    int fd_flags = fcntl(fd, F_GETFD);
    if (fd_flags != -1 && (fd_flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, fd_flags & ~FD_CLOEXEC);
  }

  // libfuse 3: fuse_new parses every -o option (mount options for fuse_mount, the library's
  // such as hard_remove and the timeouts) and refuses unknown ones with a "fuse: unknown
  // option(s)" line on stderr; then fuse_mount mounts (mount(2) as root, else fusermount3).
  struct fuse *fuse = fuse_new(&args, &ops, sizeof(struct fuse_operations), ft);
  fuse_opt_free_args(&args);
  if (fuse == NULL) {
    napi_throw_error(env, "fuse failed", "fuse failed: libfuse refused the options (see its line on stderr)");
    return NULL;
  }
  if (fuse_mount(fuse, mnt) != 0) {
    fuse_destroy(fuse);
    napi_throw_error(env, "fuse failed", "fuse failed: the mount was refused (see the fuse/fusermount3 line on stderr)");
    return NULL;
  }

  uv_mutex_init(&(ft->mut));
  uv_sem_init(&(ft->sem), 0);
  pthread_mutex_init(&(ft->notify_mut), NULL);

  strncpy(ft->mnt, mnt, 1024);
  strncpy(ft->mntopts, mntopts, 1024);
  ft->fuse = fuse;
  ft->se = fuse_get_session(fuse);
  ft->mounted++;

  int err = uv_async_init(uv_default_loop(), &(ft->async), (uv_async_cb) fuse_native_async_init);

  if (fuse == NULL || err < 0) {
    napi_throw_error(env, "fuse failed", "fuse failed");
    return NULL;
  }

  pthread_attr_init(&(ft->attr));
  pstore_thread_create_unsignalled(&(ft->thread), &(ft->attr), start_fuse_thread, ft);

  return NULL;
}

NAPI_METHOD(fuse_native_unmount) {
  NAPI_ARGV(2)
  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 1);

  if (ft != NULL && ft->mounted) {
    // TODO: Investigate why the FUSE thread is not always killed after fusermount.
    // pthread_join(ft->thread, NULL);
  }

  // TODO: fix the async holding the loop
  uv_unref((uv_handle_t *) &(ft->async));
  ft->mounted--;

  return NULL;
}

// pstore-sim: fuse_native_invalidate(thread, names, done) -> 0 | -errno
//
// Drops the kernel's cached dentries of `names` (entries of the root
// directory, FUSE_ROOT_ID) with fuse_lowlevel_notify_inval_entry, then the
// root inode's attributes and data (readdir) with
// fuse_lowlevel_notify_inval_inode(ch, 1, 0, 0). The kernel handles an
// inval_entry under the directory's inode lock: if a request holding that
// lock (LOOKUP, READDIR, ...) waits for the JS thread while the JS thread
// waits for the notify, neither moves. So the notifications are sent from a
// new detached pthread (not libuv's thread pool: a blocked notify must not
// starve fs.* calls that a pending FUSE handler may be waiting for), and the
// result comes back on the JS thread through a thread-safe function:
//   done(res, invalidated, notCached, failedIndex)
// res: 0 or the first negative errno other than -ENOENT; invalidated: names
// whose dentry was dropped; notCached: names the kernel had no dentry for
// (-ENOENT, normal); failedIndex: index of the name that failed, -1 = the
// root inode, -2 = none. Synchronous failures (no memory, no thread) are
// returned as -errno and done is never called.

typedef struct {
  fuse_thread_t *ft;
  napi_ref ft_ref;
  napi_threadsafe_function tsfn;
  uint32_t count;
  char **names;
  size_t *lens;
  int32_t res;
  int32_t failed;
  uint32_t invalidated;
  uint32_t not_cached;
  int refs; // the notify thread + the thread-safe function's finalizer
} fuse_native_inval_t;

static void fuse_native_inval_unref (fuse_native_inval_t *job) {
  if (__atomic_sub_fetch(&(job->refs), 1, __ATOMIC_ACQ_REL) > 0) return;
  for (uint32_t i = 0; i < job->count; i++) free(job->names[i]);
  free(job->names);
  free(job->lens);
  free(job);
}

// Finalizer of the thread-safe function (JS thread), also used on the error
// paths before the notify thread exists (refs is 1 then).
static void fuse_native_inval_free (napi_env env, void *data, void *hint) {
  fuse_native_inval_t *job = (fuse_native_inval_t *) data;
  if (env != NULL && job->ft_ref != NULL) napi_delete_reference(env, job->ft_ref);
  job->ft_ref = NULL;
  fuse_native_inval_unref(job);
}

static void fuse_native_inval_call_js (napi_env env, napi_value js_cb, void *context, void *data) {
  fuse_native_inval_t *job = (fuse_native_inval_t *) data;
  if (env == NULL || js_cb == NULL) return; // environment shutting down
  napi_value argv[4];
  napi_value global;
  napi_create_int32(env, job->res, &(argv[0]));
  napi_create_uint32(env, job->invalidated, &(argv[1]));
  napi_create_uint32(env, job->not_cached, &(argv[2]));
  napi_create_int32(env, job->failed, &(argv[3]));
  napi_get_global(env, &global);
  napi_call_function(env, global, js_cb, 4, argv, NULL);
}

static napi_value fuse_native_inval_int32 (napi_env env, int32_t v) {
  napi_value res;
  napi_create_int32(env, v, &res);
  return res;
}

static int fuse_native_inval_fatal (int r) {
  return r == -ENOTCONN || r == -ENODEV || r == -EBADF || r == -ENOSYS || r == -EINVAL;
}

static void * fuse_native_inval_thread (void *data) {
  fuse_native_inval_t *job = (fuse_native_inval_t *) data;
  fuse_thread_t *ft = job->ft;
  int fatal = 0;

  pthread_mutex_lock(&(ft->notify_mut));
  struct fuse_session *se = ft->se;
  if (se == NULL) {
    job->res = -ENOTCONN;
    fatal = 1;
  }
  for (uint32_t i = 0; i < job->count && !fatal; i++) {
    int r = fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, job->names[i], job->lens[i]);
    if (r == 0) job->invalidated++;
    else if (r == -ENOENT) job->not_cached++;
    else {
      if (job->res == 0) {
        job->res = r;
        job->failed = (int32_t) i;
      }
      fatal = fuse_native_inval_fatal(r);
    }
  }
  if (!fatal) {
    int r = fuse_lowlevel_notify_inval_inode(se, FUSE_ROOT_ID, 0, 0);
    if (r != 0 && r != -ENOENT && job->res == 0) {
      job->res = r;
      job->failed = -1;
    }
  }
  pthread_mutex_unlock(&(ft->notify_mut));

  napi_threadsafe_function tsfn = job->tsfn;
  napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  fuse_native_inval_unref(job);
  return NULL;
}

NAPI_METHOD(fuse_native_invalidate) {
  NAPI_ARGV(3)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0);
  napi_value names = argv[1];
  napi_value done = argv[2];

  uint32_t count = 0;
  if (napi_get_array_length(env, names, &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "names must be an array of strings");
    return NULL;
  }

  fuse_native_inval_t *job = calloc(1, sizeof(fuse_native_inval_t));
  if (job == NULL) return fuse_native_inval_int32(env, -ENOMEM);
  job->ft = ft;
  job->failed = -2;
  job->refs = 1;
  job->names = calloc(count ? count : 1, sizeof(char *));
  job->lens = calloc(count ? count : 1, sizeof(size_t));
  if (job->names == NULL || job->lens == NULL) {
    fuse_native_inval_free(env, job, NULL);
    return fuse_native_inval_int32(env, -ENOMEM);
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, names, i, &v) != napi_ok ||
        napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
      fuse_native_inval_free(env, job, NULL);
      napi_throw_type_error(env, NULL, "names must be an array of strings");
      return NULL;
    }
    job->names[i] = malloc(len + 1);
    if (job->names[i] == NULL) {
      fuse_native_inval_free(env, job, NULL);
      return fuse_native_inval_int32(env, -ENOMEM);
    }
    job->count = i + 1;
    napi_get_value_string_utf8(env, v, job->names[i], len + 1, &len);
    job->lens[i] = len;
  }

  // Keeps the fuse_thread_t buffer alive while the notify thread uses it.
  napi_create_reference(env, argv[0], 1, &(job->ft_ref));

  napi_value resource_name;
  napi_create_string_utf8(env, "fuse-native:invalidate", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_threadsafe_function(env, done, NULL, resource_name, 0, 1, job,
        fuse_native_inval_free, NULL, fuse_native_inval_call_js, &(job->tsfn)) != napi_ok) {
    fuse_native_inval_free(env, job, NULL);
    return fuse_native_inval_int32(env, -ENOMEM);
  }

  job->refs = 2; // from here on the finalizer and the notify thread share it
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024 > PTHREAD_STACK_MIN ? 256 * 1024 : PTHREAD_STACK_MIN);
  int err = pstore_thread_create_unsignalled(&thread, &attr, fuse_native_inval_thread, job);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    // done is never called; the finalizer frees the job.
    job->refs = 1;
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    return fuse_native_inval_int32(env, -err);
  }

  return fuse_native_inval_int32(env, 0);
}

NAPI_INIT() {
  const napi_node_version* version;
  assert(napi_get_node_version(env, &version) == napi_ok);

  if (version->major > 12 || (version->major == 12 && version->minor >= 16)) {
    IS_ARRAY_BUFFER_DETACH_SUPPORTED = 1;
  }

  pthread_key_create(&(thread_locals_key), NULL); // TODO: add destructor

  NAPI_EXPORT_SIZEOF(fuse_thread_t)
  NAPI_EXPORT_UINT32(pstore_native_version)
  NAPI_EXPORT_UINT32(utime_omit)

  NAPI_EXPORT_FUNCTION(fuse_native_mount)
  NAPI_EXPORT_FUNCTION(fuse_native_unmount)
  NAPI_EXPORT_FUNCTION(fuse_native_detach)
  NAPI_EXPORT_FUNCTION(fuse_native_invalidate)
  NAPI_EXPORT_FUNCTION(fuse_native_files_create)
  NAPI_EXPORT_FUNCTION(fuse_native_files_root)
  NAPI_EXPORT_FUNCTION(fuse_native_files_set)
  NAPI_EXPORT_FUNCTION(fuse_native_files_set_stat)
  NAPI_EXPORT_FUNCTION(fuse_native_files_set_content)
  NAPI_EXPORT_FUNCTION(fuse_native_files_remove)
  NAPI_EXPORT_FUNCTION(fuse_native_files_clear)
  NAPI_EXPORT_FUNCTION(fuse_native_files_retire)
  NAPI_EXPORT_FUNCTION(fuse_native_files_batch)

  NAPI_EXPORT_FUNCTION(fuse_native_signal_getattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_init)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_access)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_statfs)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fgetattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_getattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_flush)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsync)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsyncdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_truncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_ftruncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_utimens)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chown)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chmod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mknod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_setxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_getxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_listxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_removexattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_open)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_opendir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_read)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_write)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_release)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_releasedir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_create)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_unlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rename)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_link)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_symlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mkdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rmdir)

  NAPI_EXPORT_UINT32(op_getattr)
  NAPI_EXPORT_UINT32(op_init)
  NAPI_EXPORT_UINT32(op_error)
  NAPI_EXPORT_UINT32(op_access)
  NAPI_EXPORT_UINT32(op_statfs)
  NAPI_EXPORT_UINT32(op_fgetattr)
  NAPI_EXPORT_UINT32(op_getattr)
  NAPI_EXPORT_UINT32(op_flush)
  NAPI_EXPORT_UINT32(op_fsync)
  NAPI_EXPORT_UINT32(op_fsyncdir)
  NAPI_EXPORT_UINT32(op_readdir)
  NAPI_EXPORT_UINT32(op_truncate)
  NAPI_EXPORT_UINT32(op_ftruncate)
  NAPI_EXPORT_UINT32(op_utimens)
  NAPI_EXPORT_UINT32(op_readlink)
  NAPI_EXPORT_UINT32(op_chown)
  NAPI_EXPORT_UINT32(op_chmod)
  NAPI_EXPORT_UINT32(op_mknod)
  NAPI_EXPORT_UINT32(op_setxattr)
  NAPI_EXPORT_UINT32(op_getxattr)
  NAPI_EXPORT_UINT32(op_listxattr)
  NAPI_EXPORT_UINT32(op_removexattr)
  NAPI_EXPORT_UINT32(op_open)
  NAPI_EXPORT_UINT32(op_opendir)
  NAPI_EXPORT_UINT32(op_read)
  NAPI_EXPORT_UINT32(op_write)
  NAPI_EXPORT_UINT32(op_release)
  NAPI_EXPORT_UINT32(op_releasedir)
  NAPI_EXPORT_UINT32(op_create)
  NAPI_EXPORT_UINT32(op_unlink)
  NAPI_EXPORT_UINT32(op_rename)
  NAPI_EXPORT_UINT32(op_link)
  NAPI_EXPORT_UINT32(op_symlink)
  NAPI_EXPORT_UINT32(op_mkdir)
  NAPI_EXPORT_UINT32(op_rmdir)
}
