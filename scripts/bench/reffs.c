/*
 * reffs: the C reference filesystem of scripts/bench.sh.
 *
 * A libfuse 3 high-level filesystem that serves, from memory, the regular files of a snapshot
 * directory (e.g. the files copied out of a pstore-sim mount): same names, sizes, modes, times
 * and bytes. Operations: getattr, readdir, open, read, unlink (nothing else, so libfuse answers
 * ENOSYS for the rest, as for any op a filesystem leaves out). Multi-threaded fuse_loop_mt, the
 * libfuse default (no -s).
 *
 *   gcc -O2 -Wall -o reffs reffs.c $(pkg-config fuse3 --cflags --libs)
 *   reffs SNAPDIR MOUNTPOINT -f -o attr_timeout=0,entry_timeout=0,negative_timeout=0,hard_remove,default_permissions
 *
 * Every argument after SNAPDIR goes to fuse_main() unchanged (give -f: the benchmark tracks
 * the process itself), except hard_remove: libfuse 3 takes it only in init's struct
 * fuse_config, so it is taken out of the -o list here and set there (as pstore-sim does). Names are looked up in an open-addressing hash table under a rwlock, so
 * the cost per operation does not grow with the number of files (pstore-sim uses a Map).
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct entry {
  char *name;
  char *data;
  size_t size;
  struct stat st;
  int live;
};

static struct entry *entries;
static size_t n_entries;
static int32_t *table; /* index into entries, -1 empty */
static size_t table_size;
static struct stat root_st;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static void table_put(int32_t index) {
  size_t i = hash(entries[index].name) & (table_size - 1);
  while (table[i] >= 0) i = (i + 1) & (table_size - 1);
  table[i] = index;
}

/* Live or unlinked entry by name (the slot stays: unlink only clears `live`). */
static struct entry *find(const char *path) {
  if (path[0] != '/' || strchr(path + 1, '/')) return NULL;
  const char *name = path + 1;
  size_t i = hash(name) & (table_size - 1);
  while (table[i] >= 0) {
    struct entry *e = &entries[table[i]];
    if (strcmp(e->name, name) == 0) return e;
    i = (i + 1) & (table_size - 1);
  }
  return NULL;
}

static int ref_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  if (fi != NULL) { /* fstat(2): by handle; an unlinked file has no path (NULL) */
    *st = entries[fi->fh].st;
    return 0;
  }
  if (strcmp(path, "/") == 0) {
    *st = root_st;
    return 0;
  }
  pthread_rwlock_rdlock(&lock);
  struct entry *e = find(path);
  int res = -ENOENT;
  if (e && e->live) {
    *st = e->st;
    res = 0;
  }
  pthread_rwlock_unlock(&lock);
  return res;
}

static int ref_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *fi,
                       enum fuse_readdir_flags flags) {
  (void)offset;
  (void)fi;
  (void)flags;
  if (strcmp(path, "/") != 0) return -ENOTDIR;
  filler(buf, ".", NULL, 0, 0);
  filler(buf, "..", NULL, 0, 0);
  pthread_rwlock_rdlock(&lock);
  for (size_t i = 0; i < n_entries; i++)
    if (entries[i].live) filler(buf, entries[i].name, NULL, 0, 0);
  pthread_rwlock_unlock(&lock);
  return 0;
}

static int ref_open(const char *path, struct fuse_file_info *fi) {
  pthread_rwlock_rdlock(&lock);
  struct entry *e = find(path);
  int res = -ENOENT;
  if (e && e->live) {
    fi->fh = (uint64_t)(e - entries);
    res = 0;
  }
  pthread_rwlock_unlock(&lock);
  return res;
}

static int ref_read(const char *path, char *buf, size_t size, off_t offset, struct fuse_file_info *fi) {
  (void)path;
  struct entry *e = &entries[fi->fh]; /* still readable after unlink, as with hard_remove */
  if ((size_t)offset >= e->size) return 0;
  size_t n = e->size - (size_t)offset;
  if (n > size) n = size;
  memcpy(buf, e->data + offset, n);
  return (int)n;
}

static int ref_unlink(const char *path) {
  pthread_rwlock_wrlock(&lock);
  struct entry *e = find(path);
  int res = -ENOENT;
  if (e && e->live) {
    e->live = 0;
    res = 0;
  }
  pthread_rwlock_unlock(&lock);
  return res;
}

static void load(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    exit(2);
  }
  size_t cap = 64;
  entries = calloc(cap, sizeof *entries);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char file[4096];
    snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (n_entries == cap) {
      cap *= 2;
      entries = realloc(entries, cap * sizeof *entries);
    }
    struct entry *e = &entries[n_entries];
    e->name = strdup(de->d_name);
    e->size = (size_t)st.st_size;
    e->data = malloc(e->size ? e->size : 1);
    int fd = open(file, O_RDONLY);
    size_t got = 0;
    while (fd >= 0 && got < e->size) {
      ssize_t r = read(fd, e->data + got, e->size - got);
      if (r <= 0) break;
      got += (size_t)r;
    }
    if (fd >= 0) close(fd);
    e->size = got;
    memset(&e->st, 0, sizeof e->st);
    e->st.st_mode = S_IFREG | (st.st_mode & 07777);
    e->st.st_nlink = 1;
    e->st.st_uid = getuid();
    e->st.st_gid = getgid();
    e->st.st_size = (off_t)got;
    e->st.st_blksize = 4096;
    e->st.st_blocks = (blkcnt_t)((got + 511) / 512);
    e->st.st_atim = st.st_atim;
    e->st.st_mtim = st.st_mtim;
    e->st.st_ctim = st.st_mtim;
    e->live = 1;
    n_entries++;
  }
  closedir(d);
  table_size = 16;
  while (table_size < n_entries * 2 + 2) table_size *= 2;
  table = malloc(table_size * sizeof *table);
  for (size_t i = 0; i < table_size; i++) table[i] = -1;
  for (size_t i = 0; i < n_entries; i++) table_put((int32_t)i);
  memset(&root_st, 0, sizeof root_st);
  root_st.st_mode = S_IFDIR | 0750;
  root_st.st_nlink = 2;
  root_st.st_uid = getuid();
  root_st.st_gid = getgid();
  root_st.st_blksize = 4096;
  clock_gettime(CLOCK_REALTIME, &root_st.st_mtim);
  root_st.st_atim = root_st.st_ctim = root_st.st_mtim;
}

static int hard_remove;

static void *ref_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->hard_remove = hard_remove;
  return NULL;
}

/* Takes hard_remove out of every -o list (libfuse 3's fuse_new refuses it as an option). */
static void take_hard_remove(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    char *o = argv[i];
    if (strncmp(o, "-o", 2) == 0 && o[2] == '\0' && i + 1 < argc) o = argv[++i];
    else if (strncmp(o, "-o", 2) == 0) o += 2;
    else continue;
    char *out = o, *p = o;
    while (*p) {
      char *end = strchr(p, ',');
      size_t n = end ? (size_t)(end - p) : strlen(p);
      if (n == 11 && strncmp(p, "hard_remove", 11) == 0) {
        hard_remove = 1;
      } else {
        if (out != o) *out++ = ',';
        memmove(out, p, n);
        out += n;
      }
      p += n + (end ? 1 : 0);
    }
    *out = '\0';
  }
}

static struct fuse_operations ops = {
  .init = ref_init,
  .getattr = ref_getattr,
  .readdir = ref_readdir,
  .open = ref_open,
  .read = ref_read,
  .unlink = ref_unlink,
};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SNAPDIR MOUNTPOINT [fuse options: -f -o ...]\n", argv[0]);
    return 1;
  }
  load(argv[1]);
  take_hard_remove(argc, argv);
  argv[1] = argv[0];
  return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
