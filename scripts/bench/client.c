/*
 * client: the load generator of scripts/bench.sh. One tiny process, the same for every
 * filesystem, that times its own loop with CLOCK_MONOTONIC (process start-up is not counted)
 * and prints one line: "<operations> <elapsed ns> <bytes>".
 *
 *   client stat N DIR        N stat(2) calls, cycling over the files of DIR, after one untimed
 *                            pass over the first min(N, files) of them (the steady state: with
 *                            a kernel attribute cache, what a loop sees once the cache is warm)
 *   client orc N DIR         N cycles of open(O_RDONLY) + read(2) to EOF + close(2), cycling
 *   client run K CMD ARG...  runs CMD K times in a row (fork+exec+wait, stdout and stdin on
 *                            /dev/null) and times the whole: for `ls -l DIR`, `cat FILES...`, `rm`
 *   client runwarm K CMD...  the same after one untimed run of CMD
 *
 * DIR is listed once (readdir, then sorted by name, so every filesystem sees the same order)
 * before the clock starts; names starting with '.' are skipped.
 * Exit status 1 when an operation fails (the line is still printed, with what was done).
 *
 *   gcc -O2 -Wall -o client client.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list(const char *dir, size_t *count) {
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    exit(2);
  }
  size_t cap = 64, n = 0;
  char **paths = malloc(cap * sizeof *paths);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    if (n == cap) paths = realloc(paths, (cap *= 2) * sizeof *paths);
    if (asprintf(&paths[n], "%s/%s", dir, de->d_name) < 0) exit(2);
    n++;
  }
  closedir(d);
  qsort(paths, n, sizeof *paths, by_name);
  if (n == 0) {
    fprintf(stderr, "%s: no files\n", dir);
    exit(2);
  }
  *count = n;
  return paths;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s stat|orc N DIR | run K CMD [ARG...]\n", argv[0]);
    return 2;
  }
  long n = atol(argv[2]);
  int failed = 0;
  long done = 0;
  long long bytes = 0, t0, t1;
  if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "runwarm") == 0) {
    int devnull = open("/dev/null", O_RDWR);
    int warm = argv[1][3] == 'w';
    t0 = now_ns();
    for (done = -warm; done < n; done++) {
      if (done == 0) t0 = now_ns();
      pid_t pid = fork();
      if (pid == 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        execvp(argv[3], argv + 3);
        _exit(127);
      }
      int status;
      if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failed = 1;
        done++;
        break;
      }
    }
    t1 = now_ns();
  } else {
    size_t count;
    char **paths = list(argv[3], &count);
    int orc = strcmp(argv[1], "orc") == 0;
    if (!orc && strcmp(argv[1], "stat") != 0) {
      fprintf(stderr, "unknown mode %s\n", argv[1]);
      return 2;
    }
    static char buf[1 << 17];
    struct stat st;
    if (!orc)
      for (size_t i = 0; i < count && i < (size_t)n; i++) stat(paths[i], &st);
    t0 = now_ns();
    for (; done < n; done++) {
      const char *p = paths[done % count];
      if (!orc) {
        if (stat(p, &st) != 0) {
          perror(p);
          failed = 1;
          break;
        }
        continue;
      }
      int fd = open(p, O_RDONLY);
      if (fd < 0) {
        perror(p);
        failed = 1;
        break;
      }
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) bytes += r;
      if (r < 0) {
        perror(p);
        failed = 1;
      }
      close(fd);
      if (failed) break;
    }
    t1 = now_ns();
  }
  printf("%ld %lld %lld\n", done, t1 - t0, bytes);
  return failed;
}
