# Two addons, built by native-setup/setup.sh with node-gyp (native/README.md):
#   fuse.node  the FUSE binding (fuse.c), linked against libfuse 3 (pkg-config fuse3)
#   sys.node   the system calls that are not FUSE (sys.c)
# napi-macros' folder is given relative to this file: gyp's make generator writes an absolute
# -I path unquoted, so a checkout in a folder with a space ("My Projects/") failed to compile.
{
  "targets": [{
    "target_name": "fuse",
    "include_dirs": [
      "<!(node -p \"require('path').relative(process.cwd(), require('path').dirname(require.resolve('napi-macros/napi-macros.h')))\")",
    ],
    "cflags": ["-g", "-O3", "-Wall", "<!@(pkg-config --cflags fuse3)"],
    "libraries": ["<!@(pkg-config --libs fuse3)"],
    "sources": ["fuse.c"],
  }, {
    "target_name": "sys",
    "include_dirs": [
      "<!(node -p \"require('path').relative(process.cwd(), require('path').dirname(require.resolve('napi-macros/napi-macros.h')))\")",
    ],
    "cflags": ["-g", "-O3", "-Wall"],
    "sources": ["sys.c"],
  }]
}
