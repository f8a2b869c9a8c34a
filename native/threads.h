// Threads the addons start (the FUSE loop, the invalidation thread, the pmsg ring pump) begin
// with every signal blocked, as libfuse's own workers and libuv's threads do. Node's event loop
// learns that a child it spawned has exited from SIGCHLD, which the kernel hands to any thread
// that does not block it: one of ours, busy in libfuse or just exiting, left an outside
// `fusermount3 -u` unreaped now and then (native-setup/check-addon.cjs hung about 1 run in 50).
#ifndef PSTORE_NATIVE_THREADS_H
#define PSTORE_NATIVE_THREADS_H

#include <pthread.h>
#include <signal.h>

// pthread_create with the new thread's signal mask full (a thread inherits its creator's mask:
// the caller's is set full for the call only, then restored). Returns pthread_create's result.
static inline int pstore_thread_create_unsignalled (pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int err = pthread_create(thread, attr, start, arg);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return err;
}

#endif
