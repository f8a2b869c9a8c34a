// The native layer's one version number (native/README.md). Both addons export it as
// pstore_native_version; native/index.cjs refuses addons that disagree with each other and
// src/util/fuseNative.ts (NATIVE_VERSION) refuses any other version with one line. Raise it
// with every change to what the addons do or take.
//   9: the libfuse 3 port, as source in the repository (patch levels 1-8 were fuse-native
//      2.2.6 patched for libfuse 2; this continues their numbering)
//  10: no READDIRPLUS (libfuse 2's high-level API never asked for it; fuse.c's init)
//  11: the threads the addons start block every signal (threads.h: SIGCHLD reaches the event loop);
//      the native listing is a copy per listing with offsets (libfuse 3 walked a list per READDIR)
#define PSTORE_NATIVE_VERSION 11
