// native/index.cjs: pstore-sim's FUSE binding for Node (native/fuse.c, libfuse 3) and the
// system calls beside it (native/sys.c), as the Fuse class src/util/fuseNative.ts loads.
// Derived from fuse-native 2.2.6's index.js (MIT, Mathias Buus; see native/LICENSE).
'use strict'

const fs = require('fs')
const path = require('path')
const util = require('util')
const { execFile } = require('child_process')

// The addons native-setup/setup.sh builds here with node-gyp. Both carry the native layer's
// one version number (version.h): two that differ are a half-finished build, refused here
// (src/util/fuseNative.ts refuses any version but its own).
const binding = require('./build/Release/fuse.node')
const sys = require('./sys.cjs')
const NATIVE_VERSION = binding.pstore_native_version
if (sys.NATIVE_VERSION !== NATIVE_VERSION) {
  throw new Error(`native/build/Release: fuse.node is version ${NATIVE_VERSION}, sys.node ${sys.NATIVE_VERSION} (a half-finished build): run "npm run setup"`)
}

const DEFAULT_TIMEOUT = 15 * 1000
const TIMEOUT_ERRNO = -110
const ENOTCONN = -107
const UTIME_OMIT = binding.utime_omit

const OpcodesAndDefaults = new Map([
  ['init', {
    op: binding.op_init
  }],
  ['error', {
    op: binding.op_error
  }],
  ['access', {
    op: binding.op_access,
    defaults: [0]
  }],
  ['statfs', {
    op: binding.op_statfs,
    defaults: [getStatfsArray()]
  }],
  ['fgetattr', {
    op: binding.op_fgetattr,
    defaults: [getStatArray()]
  }],
  ['getattr', {
    op: binding.op_getattr,
    defaults: [getStatArray()]
  }],
  ['flush', {
    op: binding.op_flush
  }],
  ['fsync', {
    op: binding.op_fsync
  }],
  ['fsyncdir', {
    op: binding.op_fsyncdir
  }],
  ['readdir', {
    op: binding.op_readdir,
    defaults: [[], []]
  }],
  ['truncate', {
    op: binding.op_truncate
  }],
  ['ftruncate', {
    op: binding.op_ftruncate
  }],
  ['utimens', {
    op: binding.op_utimens
  }],
  ['readlink', {
    op: binding.op_readlink,
    defaults: ['']
  }],
  ['chown', {
    op: binding.op_chown
  }],
  ['chmod', {
    op: binding.op_chmod
  }],
  ['mknod', {
    op: binding.op_mknod
  }],
  ['setxattr', {
    op: binding.op_setxattr
  }],
  ['getxattr', {
    op: binding.op_getxattr
  }],
  ['listxattr', {
    op: binding.op_listxattr
  }],
  ['removexattr', {
    op: binding.op_removexattr
  }],
  ['open', {
    op: binding.op_open,
    defaults: [0]
  }],
  ['opendir', {
    op: binding.op_opendir,
    defaults: [0]
  }],
  ['read', {
    op: binding.op_read,
    defaults: [0]
  }],
  ['write', {
    op: binding.op_write,
    defaults: [0]
  }],
  ['release', {
    op: binding.op_release
  }],
  ['releasedir', {
    op: binding.op_releasedir
  }],
  ['create', {
    op: binding.op_create,
    defaults: [0]
  }],
  ['unlink', {
    op: binding.op_unlink
  }],
  ['rename', {
    op: binding.op_rename
  }],
  ['link', {
    op: binding.op_link
  }],
  ['symlink', {
    op: binding.op_symlink
  }],
  ['mkdir', {
    op: binding.op_mkdir
  }],
  ['rmdir', {
    op: binding.op_rmdir
  }]
])

class Fuse {
  constructor (mnt, ops, opts = {}) {
    // mount()/unmount() state (what fuse-native took from nanoresource): opening and
    // closing queue their callers; a failed unmount leaves the mount open.
    this.opening = false
    this.opened = false
    this.closing = false
    this.closed = false
    this._openQueue = null
    this._closeQueue = null
    this._closeAfterOpen = null

    this.opts = opts
    this.mnt = path.resolve(mnt)
    this.ops = ops
    this.timeout = opts.timeout === false ? 0 : (opts.timeout || DEFAULT_TIMEOUT)

    this._force = !!opts.force
    this._mkdir = !!opts.mkdir
    this._thread = null
    this._handlers = this._makeHandlerArray()
    this._threads = new Set()

    const implemented = [binding.op_init, binding.op_error, binding.op_getattr]
    if (ops) {
      for (const [name, { op }] of OpcodesAndDefaults) {
        if (ops[name]) implemented.push(op)
      }
    }
    this._implemented = new Set(implemented)

    // See NativeFiles.
    this.files = new NativeFiles(binding.fuse_native_files_create())

  }

  _getImplementedArray () {
    const implemented = new Uint32Array(35)
    for (const impl of this._implemented) {
      implemented[impl] = 1
    }
    return implemented
  }

  _fuseOptions () {
    const options = []

    if ((/\*|(^,)fuse-bindings(,$)/.test(process.env.DEBUG)) || this.opts.debug) options.push('debug')
    if (this.opts.allowOther) options.push('allow_other')
    if (this.opts.allowRoot) options.push('allow_root')
    if (this.opts.autoUnmount) options.push('auto_unmount')
    if (this.opts.defaultPermissions) options.push('default_permissions')
    if (this.opts.blkdev) options.push('blkdev')
    if (this.opts.blksize) options.push('blksize=' + this.opts.blksize)
    if (this.opts.maxRead) options.push('max_read=' + this.opts.maxRead)
    // libfuse 3 opens /dev/fuse and works out user_id itself: fuse_new refuses fd= and
    // user_id= (libfuse 2 took them), so asking for them is an error here, not a silent drop.
    if (this.opts.fd || this.opts.userId) throw new TypeError('fuse options fd and userId do not exist in libfuse 3')
    if (this.opts.fsname) options.push('fsname=' + this.opts.fsname)
    if (this.opts.subtype) options.push('subtype=' + this.opts.subtype)
    if (this.opts.kernelCache) options.push('kernel_cache')
    if (this.opts.autoCache) options.push('auto_cache')
    // libfuse parses umask with %o: a JS number (0o022) must be written in octal.
    if (this.opts.umask) options.push('umask=' + (typeof this.opts.umask === 'number' ? this.opts.umask.toString(8) : this.opts.umask))
    if (this.opts.uid) options.push('uid=' + this.opts.uid)
    if (this.opts.gid) options.push('gid=' + this.opts.gid)
    // Timeouts honour 0 (0 = no caching in the kernel), unlike a plain truthiness test.
    if (isSetOption(this.opts.entryTimeout)) options.push('entry_timeout=' + this.opts.entryTimeout)
    if (isSetOption(this.opts.negativeTimeout)) options.push('negative_timeout=' + this.opts.negativeTimeout)
    if (isSetOption(this.opts.attrTimeout)) options.push('attr_timeout=' + this.opts.attrTimeout)
    if (isSetOption(this.opts.acAttrTimeout)) options.push('ac_attr_timeout=' + this.opts.acAttrTimeout)
    if (this.opts.noforget) options.push('noforget')
    if (this.opts.remember) options.push('remember=' + this.opts.remember)
    if (this.opts.modules) options.push('modules=' + this.opts.modules)
    // Not here: nonempty and big_writes (libfuse 2 only: FUSE 3 mounts over a non-empty
    // directory and writes in big chunks by default, and fuse_new refuses both options).

    return options.length ? '-o' + options.join(',') : ''
  }

  // What libfuse 3 takes only in its init's struct fuse_config, not as -o options (libfuse 2
  // took them as options): hard_remove, use_ino, direct_io, in this order (fuse.c's init).
  _fuseConfig () {
    return new Uint32Array([this.opts.hardRemove ? 1 : 0, this.opts.useIno ? 1 : 0, this.opts.directIO ? 1 : 0])
  }

  _malloc (size) {
    const buf = Buffer.alloc(size)
    this._threads.add(buf)
    return buf
  }

  _makeHandlerArray () {
    const self = this
    const handlers = new Array(OpcodesAndDefaults.size)

    for (const [name, { op, defaults }] of OpcodesAndDefaults) {
      const nativeSignal = binding[`fuse_native_signal_${name}`]
      if (!nativeSignal) continue

      handlers[op] = makeHandler(name, op, defaults, nativeSignal)
    }

    return handlers

    function makeHandler (name, op, defaults, nativeSignal) {
      let to = self.timeout
      if (typeof to === 'object' && to) {
        const defaultTimeout = to.default || DEFAULT_TIMEOUT
        to = to[name]
        if (!to && to !== false) to = defaultTimeout
      }

      return function (nativeHandler, opCode, ...args) {
        const sig = signal.bind(null, nativeHandler)
        const input = [...args]
        const boundSignal = to ? autoTimeout(sig, input) : sig
        const funcName = `_op_${name}`
        if (!self[funcName] || !self._implemented.has(op)) return boundSignal(-1, ...defaults)
        return self[funcName].apply(self, [boundSignal, ...args])
      }

      function signal (nativeHandler, err, ...args) {
        var arr = [nativeHandler, toErrno(err), ...args]

        if (defaults) {
          while (arr.length > 2 && arr[arr.length - 1] === undefined) arr.pop()
          if (arr.length === 2) arr = arr.concat(defaults)
        }

        return process.nextTick(nativeSignal, ...arr)
      }

      function autoTimeout (cb, input) {
        let called = false
        const timeout = setTimeout(timeoutWrap, to, TIMEOUT_ERRNO)
        return timeoutWrap

        function timeoutWrap (err, ...args) {
          if (called) return
          called = true

          clearTimeout(timeout)

          if (err === TIMEOUT_ERRNO) {
            switch (name) {
              case 'write':
              case 'read':
                return cb(TIMEOUT_ERRNO, 0, input[2].buffer)
              case 'setxattr':
                return cb(TIMEOUT_ERRNO, input[2].buffer)
              case 'getxattr':
                return cb(TIMEOUT_ERRNO, input[2].buffer)
              case 'listxattr':
                return cb(TIMEOUT_ERRNO, input[1].buffer)
            }
          }

          cb(err, ...args)
        }
      }
    }
  }

  // Static methods

  // fusermount3 through execFile, no shell (a shell would see $(...) in a mountpoint's name).
  // As root, a lazy umount2() from here instead, as libfuse's own fuse_kern_unmount does for
  // root (fusermount3's fork and exec were ~15 ms of an unmount). Not when /etc/mtab is a
  // file fusermount3 would have to edit, nor for a path the addon's buffer would cut short;
  // any failure (not mounted, EPERM in a user namespace) goes to fusermount3, whose answer
  // it was.
  static unmount (mnt, cb) {
    if (canDetachNatively(mnt) && binding.fuse_native_detach(mnt) === 0) return process.nextTick(cb, null)
    execFile('fusermount3', ['-uz', mnt], err => {
      if (err) return cb(err)
      return cb(null)
    })
  }

  // Debugging methods

  // Lifecycle methods

  _open (cb) {
    const self = this

    if (this._force) {
      return fs.stat(path.join(this.mnt, 'test'), (err, st) => {
        if (err && (err.errno === ENOTCONN || err.errno === Fuse.ENXIO)) return Fuse.unmount(this.mnt, open)
        return open()
      })
    }
    return open()

    function open () {
      // If there was an unmount error, continue attempting to mount (this is the best we can do)
      self._thread = Buffer.alloc(binding.sizeof_fuse_thread_t)
      self._openCallback = cb

      let opts
      try {
        opts = self._fuseOptions()
      } catch (err) {
        return cb(err)
      }
      const implemented = self._getImplementedArray()

      return fs.stat(self.mnt, (err, stat) => {
        if (err && err.errno !== -2) return cb(err)
        if (err) {
          if (!self._mkdir) return cb(new Error('Mountpoint does not exist'))
          return fs.mkdir(self.mnt, { recursive: true }, err => {
            if (err) return cb(err)
            fs.stat(self.mnt, (err, stat) => {
              if (err) return cb(err)
              return onexists(stat)
            })
          })
        }
        if (!stat.isDirectory()) return cb(new Error('Mountpoint is not a directory'))
        return onexists(stat)
      })

      function onexists (stat) {
        fs.stat(path.join(self.mnt, '..'), (_, parent) => {
          if (parent && parent.dev !== stat.dev) return cb(new Error('Mountpoint in use'))
          try {
            // TODO: asyncify
            binding.fuse_native_mount(self.mnt, opts, self._thread, self, self._malloc, self._handlers, implemented, self.files._table, self._fuseConfig())
          } catch (err) {
            return cb(err)
          }
        })
      }
    }
  }

  _close (cb) {
    const self = this

    Fuse.unmount(this.mnt, err => {
      if (err) {
        // Already unmounted from outside (fusermount3 -u, umount -l): fusermount3
        // fails ("entry for ... not found in /etc/mtab"), but the native side must still
        // be released or close() can never succeed.
        if (!isMounted(self.mnt)) return nativeUnmount()
        err.unmountFailure = true
        return cb(err)
      }
      nativeUnmount()
    })

    function nativeUnmount () {
      try {
        binding.fuse_native_unmount(self.mnt, self._thread)
      } catch (err) {
        return cb(err)
      }
      return cb(null)
    }
  }

  // Handlers

  _op_init (signal) {
    if (this._openCallback) {
      process.nextTick(this._openCallback, null)
      this._openCallback = null
    }
    if (!this.ops.init) {
      signal(0)
      return
    }
    this.ops.init(err => {
      return signal(err)
    })
  }

  _op_error (signal) {
    if (!this.ops.error) {
      signal(0)
      return
    }
    this.ops.error(err => {
      return signal(err)
    })
  }

  _op_statfs (signal, path) {
    this.ops.statfs(path, (err, statfs) => {
      if (err) return signal(err)
      const arr = getStatfsArray(statfs)
      return signal(0, arr)
    })
  }

  _op_getattr (signal, path) {
    if (!this.ops.getattr) {
      if (path !== '/') {
        signal(Fuse.EPERM)
      } else {
        signal(0, getStatArray({ mtime: new Date(0), atime: new Date(0), ctime: new Date(0), mode: 16877, size: 4096 }))
      }
      return
    }

    this.ops.getattr(path, (err, stat) => {
      if (err) return signal(err, getStatArray())
      return signal(0, getStatArray(stat))
    })
  }

  _op_fgetattr (signal, path, fd) {
    if (!this.ops.fgetattr) {
      if (path !== '/') {
        signal(Fuse.EPERM)
      } else {
        signal(0, getStatArray({ mtime: new Date(0), atime: new Date(0), ctime: new Date(0), mode: 16877, size: 4096 }))
      }
      return
    }
    this.ops.fgetattr(path, fd, (err, stat) => {
      if (err) return signal(err)
      return signal(0, getStatArray(stat))
    })
  }

  _op_access (signal, path, mode) {
    this.ops.access(path, mode, err => {
      return signal(err)
    })
  }

  _op_open (signal, path, flags) {
    this.ops.open(path, flags, (err, fd) => {
      return signal(err, fd)
    })
  }

  _op_opendir (signal, path, flags) {
    this.ops.opendir(path, flags, (err, fd) => {
      return signal(err, fd)
    })
  }

  _op_create (signal, path, mode) {
    this.ops.create(path, mode, (err, fd) => {
      return signal(err, fd)
    })
  }

  _op_utimens (signal, path, ...t) {
    // (secLow, secHigh, nsec) per time
    const atime = getUtimensArg(t[0], t[1], t[2])
    const mtime = getUtimensArg(t[3], t[4], t[5])
    this.ops.utimens(path, atime, mtime, err => {
      return signal(err)
    })
  }

  _op_release (signal, path, fd) {
    this.ops.release(path, fd, err => {
      return signal(err)
    })
  }

  _op_releasedir (signal, path, fd) {
    this.ops.releasedir(path, fd, err => {
      return signal(err)
    })
  }

  _op_read (signal, path, fd, buf, len, offsetLow, offsetHigh) {
    this.ops.read(path, fd, buf, len, getDoubleArg(offsetLow, offsetHigh), (err, bytesRead) => {
      return signal(err, bytesRead || 0, buf.buffer)
    })
  }

  _op_write (signal, path, fd, buf, len, offsetLow, offsetHigh) {
    this.ops.write(path, fd, buf, len, getDoubleArg(offsetLow, offsetHigh), (err, bytesWritten) => {
      return signal(err, bytesWritten || 0, buf.buffer)
    })
  }

  _op_readdir (signal, path) {
    this.ops.readdir(path, (err, names, stats) => {
      if (err) return signal(err)
      if (stats) stats = stats.map(getStatArray)
      return signal(0, names, stats || [])
    })
  }

  _op_setxattr (signal, path, name, value, position, flags) {
    this.ops.setxattr(path, name, value, position, flags, err => {
      return signal(err, value.buffer)
    })
  }

  _op_getxattr (signal, path, name, valueBuf, position) {
    this.ops.getxattr(path, name, position, (err, value) => {
      if (!err) {
        if (!value) return signal(-61, valueBuf.buffer)
        value.copy(valueBuf)
        return signal(value.length, valueBuf.buffer)
      }
      return signal(err, valueBuf.buffer)
    })
  }

  _op_listxattr (signal, path, listBuf) {
    this.ops.listxattr(path, (err, list) => {
      if (list && !err) {
        if (!listBuf.length) {
          let size = 0
          for (const name of list) size += Buffer.byteLength(name) + 1
          size += 128 // fuse yells if we do not signal room for some mac stuff also
          return signal(size, listBuf.buffer)
        }

        let ptr = 0
        for (const name of list) {
          listBuf.write(name, ptr)
          ptr += Buffer.byteLength(name)
          listBuf[ptr++] = 0
        }

        return signal(ptr, listBuf.buffer)
      }
      return signal(err, listBuf.buffer)
    })
  }

  _op_removexattr (signal, path, name) {
    this.ops.removexattr(path, name, err => {
      return signal(err)
    })
  }

  _op_flush (signal, path, fd) {
    this.ops.flush(path, fd, err => {
      return signal(err)
    })
  }

  _op_fsync (signal, path, datasync, fd) {
    this.ops.fsync(path, datasync, fd, err => {
      return signal(err)
    })
  }

  _op_fsyncdir (signal, path, datasync, fd) {
    this.ops.fsyncdir(path, datasync, fd, err => {
      return signal(err)
    })
  }

  _op_truncate (signal, path, sizeLow, sizeHigh) {
    const size = getDoubleArg(sizeLow, sizeHigh)
    this.ops.truncate(path, size, err => {
      return signal(err)
    })
  }

  _op_ftruncate (signal, path, fd, sizeLow, sizeHigh) {
    const size = getDoubleArg(sizeLow, sizeHigh)
    this.ops.ftruncate(path, fd, size, err => {
      return signal(err)
    })
  }

  _op_readlink (signal, path) {
    this.ops.readlink(path, (err, linkname) => {
      return signal(err, linkname)
    })
  }

  _op_chown (signal, path, uid, gid) {
    this.ops.chown(path, uid, gid, err => {
      return signal(err)
    })
  }

  _op_chmod (signal, path, mode) {
    this.ops.chmod(path, mode, err => {
      return signal(err)
    })
  }

  _op_mknod (signal, path, mode, dev) {
    this.ops.mknod(path, mode, dev, err => {
      return signal(err)
    })
  }

  _op_unlink (signal, path) {
    this.ops.unlink(path, err => {
      return signal(err)
    })
  }

  _op_rename (signal, src, dest) {
    this.ops.rename(src, dest, err => {
      return signal(err)
    })
  }

  _op_link (signal, src, dest) {
    this.ops.link(src, dest, err => {
      return signal(err)
    })
  }

  _op_symlink (signal, src, dest) {
    this.ops.symlink(src, dest, err => {
      return signal(err)
    })
  }

  _op_mkdir (signal, path, mode) {
    this.ops.mkdir(path, mode, err => {
      return signal(err)
    })
  }

  _op_rmdir (signal, path) {
    this.ops.rmdir(path, err => {
      return signal(err)
    })
  }

  // Public API

  mount (cb) {
    return this.open(cb)
  }

  unmount (cb) {
    return this.close(cb)
  }

  // open/close: callers of a mount or unmount in progress wait for it; an unmount asked
  // during the mount runs after it; callbacks always come on a later tick.
  open (cb = noop) {
    if (this.closing || this.closed) return process.nextTick(cb, new Error('Resource is closed'))
    if (this.opened) return process.nextTick(cb, null)
    if (this.opening) return this._openQueue.push(cb)
    this.opening = true
    this._openQueue = [cb]
    this._open((err) => process.nextTick(() => {
      const queue = this._openQueue
      this._openQueue = null
      this.opening = false
      this.opened = !err
      for (const fn of queue) fn(err || null)
      const closers = this._closeAfterOpen
      this._closeAfterOpen = null
      if (closers) for (const fn of closers) this.close(fn)
    }))
  }

  close (cb = noop) {
    if (this.closed) return process.nextTick(cb, null)
    if (this.opening) {
      if (!this._closeAfterOpen) this._closeAfterOpen = []
      return this._closeAfterOpen.push(cb)
    }
    if (!this.opened) {
      this.closed = true
      return process.nextTick(cb, null)
    }
    if (this.closing) return this._closeQueue.push(cb)
    this.closing = true
    this._closeQueue = [cb]
    this._close((err) => process.nextTick(() => {
      const queue = this._closeQueue
      this._closeQueue = null
      this.closing = false
      this.closed = !err
      for (const fn of queue) fn(err || null)
    }))
  }

  // invalidate(names, cb) drops what the kernel cached about
  // the entries `names` of the root directory (dentries, hence their
  // attributes: the next access sends a fresh LOOKUP) and the root directory's
  // own attributes and data. For mounts with attrTimeout/entryTimeout > 0 whose
  // files change behind the kernel's back. The notifications are sent from a
  // native thread: the event loop keeps serving FUSE requests meanwhile, and it
  // may be called from anywhere (a FUSE handler too, as long as that handler's
  // reply does not wait for this callback: the kernel may hold the directory
  // lock until the reply).
  //   names: array of names in the root directory, 'A' or '/A' (no other '/').
  //   cb(err, { invalidated, notCached }): invalidated = dentries dropped,
  //     notCached = names the kernel had not cached (ENOENT, normal, no error).
  //     err: an Error with a negative errno and code: ENOTCONN (not mounted, or
  //     unmounted meanwhile), EINVAL (a
  //     kernel without notify support, before 2.6.36), or what the kernel
  //     answered; it carries the same invalidated/notCached counts.
  // Without cb it returns a Promise of { invalidated, notCached }.
  // Bad arguments (not an array, a name with '/', '', '.', '..', NUL, over
  // 1024 bytes) throw a TypeError synchronously (the Promise form rejects).
  invalidate (names, cb) {
    if (cb === undefined || cb === null) {
      return new Promise((resolve, reject) => {
        this.invalidate(names, (err, res) => err ? reject(err) : resolve(res))
      })
    }
    if (typeof cb !== 'function') throw new TypeError('fuse.invalidate(names, cb): cb must be a function')
    const list = invalidateNames(names)
    const fail = (errno, what) => process.nextTick(cb, invalidateError(errno, what, 0, 0))

    if (!this.opened || this.closing || this.closed || !this._thread) return fail(ENOTCONN, 'not mounted')

    const started = binding.fuse_native_invalidate(this._thread, list, (res, invalidated, notCached, failed) => {
      const err = res < 0
        ? invalidateError(res, failed >= 0 ? 'name ' + JSON.stringify(list[failed]) : (failed === -1 ? 'root directory' : 'not mounted (the FUSE session has ended)'), invalidated, notCached)
        : null
      // Called from a native thread-safe function: run the user's callback on
      // its own tick so that what it throws is an ordinary uncaught exception.
      process.nextTick(cb, err, err ? undefined : { invalidated, notCached })
    })
    if (started < 0) fail(started, 'cannot start the notify thread')
  }

  errno (code) {
    return (code && Fuse[code.toUpperCase()]) || -1
  }
}

// fuse.files, a table of files that the addon answers
// without calling into JS. Once setRoot() has been called, getattr, fgetattr,
// readdir, open (read-only, without O_TRUNC) and read of the root directory
// and of the files in the table are answered on the FUSE thread from the table;
// the handlers for them are called only for other opens (writing, O_TRUNC).
// Every other operation (unlink, chmod, utimens, truncate, ...) still goes to
// its handler, which must update the table before it calls back: the reply
// orders it, so no client sees the old state after the change returns.
// A file is keyed by its handle (a non-zero uint32: what open returns as fd,
// read/fgetattr find it by fd, without one by path). The content buffer is
// referenced, not copied: do not change it while it is in the table.
//   setRoot(stat)                      root attributes; activates the table
//   set(handle, name, stat, content)   adds a file, or replaces that handle's;
//                                      content null: not made yet, open and
//                                      read go to the handlers (level 6)
//   setContent(handle, content)        gives such a file its content; later
//                                      opens and reads are native (level 6)
//   setStat(handle, stat) -> boolean   new attributes (size bounds reads)
//   remove(handle) -> boolean          unlisted; still readable through an
//                                      open handle (unlink of an open file)
//   retire()                           a reboot: unlisted files are freed,
//                                      listed ones unlisted but readable
//                                      through open handles
//   clear()                            forgets every file and handle
//   batch(fn)                          runs fn(); clients see all of its
//                                      changes or none (FUSE threads wait)
// Stats as for getattr ({ mode, uid, gid, size, mtime, ... }).
class NativeFiles {
  constructor (table) {
    this._table = table
  }

  setRoot (stat) {
    binding.fuse_native_files_root(this._table, getStatArray(stat))
  }

  set (handle, name, stat, content) {
    if (typeof name !== 'string' || !name || name === '.' || name === '..') throw new TypeError('fuse.files.set: bad name ' + JSON.stringify(name))
    if (content !== null && !Buffer.isBuffer(content)) throw new TypeError('fuse.files.set: content must be a Buffer or null')
    const res = binding.fuse_native_files_set(this._table, handle, name, getStatArray(stat), content)
    if (res < 0) throw new Error('fuse.files.set: out of memory')
  }

  setContent (handle, content) {
    if (!Buffer.isBuffer(content)) throw new TypeError('fuse.files.setContent: content must be a Buffer')
    const res = binding.fuse_native_files_set_content(this._table, handle, content)
    if (res === -12) throw new Error('fuse.files.setContent: out of memory')
    return res === 0
  }

  setStat (handle, stat) {
    return binding.fuse_native_files_set_stat(this._table, handle, getStatArray(stat)) === 0
  }

  remove (handle) {
    return binding.fuse_native_files_remove(this._table, handle) === 0
  }

  retire () {
    binding.fuse_native_files_retire(this._table)
  }

  clear () {
    binding.fuse_native_files_clear(this._table)
  }

  batch (fn) {
    binding.fuse_native_files_batch(this._table, true)
    try {
      return fn()
    } finally {
      binding.fuse_native_files_batch(this._table, false)
    }
  }
}

function canDetachNatively (mnt) {
  if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) return false
  if (typeof mnt !== 'string' || mnt.includes('\0') || Buffer.byteLength(mnt) >= 4096) return false
  try {
    return fs.lstatSync('/etc/mtab').isSymbolicLink()
  } catch (err) {
    return err.code === 'ENOENT'
  }
}

Fuse.EPERM = -1
Fuse.ENOENT = -2
Fuse.ESRCH = -3
Fuse.EINTR = -4
Fuse.EIO = -5
Fuse.ENXIO = -6
Fuse.E2BIG = -7
Fuse.ENOEXEC = -8
Fuse.EBADF = -9
Fuse.ECHILD = -10
Fuse.EAGAIN = -11
Fuse.ENOMEM = -12
Fuse.EACCES = -13
Fuse.EFAULT = -14
Fuse.ENOTBLK = -15
Fuse.EBUSY = -16
Fuse.EEXIST = -17
Fuse.EXDEV = -18
Fuse.ENODEV = -19
Fuse.ENOTDIR = -20
Fuse.EISDIR = -21
Fuse.EINVAL = -22
Fuse.ENFILE = -23
Fuse.EMFILE = -24
Fuse.ENOTTY = -25
Fuse.ETXTBSY = -26
Fuse.EFBIG = -27
Fuse.ENOSPC = -28
Fuse.ESPIPE = -29
Fuse.EROFS = -30
Fuse.EMLINK = -31
Fuse.EPIPE = -32
Fuse.EDOM = -33
Fuse.ERANGE = -34
Fuse.EDEADLK = -35
Fuse.ENAMETOOLONG = -36
Fuse.ENOLCK = -37
Fuse.ENOSYS = -38
Fuse.ENOTEMPTY = -39
Fuse.ELOOP = -40
Fuse.EWOULDBLOCK = -11
Fuse.ENOMSG = -42
Fuse.EIDRM = -43
Fuse.ECHRNG = -44
Fuse.EL2NSYNC = -45
Fuse.EL3HLT = -46
Fuse.EL3RST = -47
Fuse.ELNRNG = -48
Fuse.EUNATCH = -49
Fuse.ENOCSI = -50
Fuse.EL2HLT = -51
Fuse.EBADE = -52
Fuse.EBADR = -53
Fuse.EXFULL = -54
Fuse.ENOANO = -55
Fuse.EBADRQC = -56
Fuse.EBADSLT = -57
Fuse.EDEADLOCK = -35
Fuse.EBFONT = -59
Fuse.ENOSTR = -60
Fuse.ENODATA = -61
Fuse.ETIME = -62
Fuse.ENOSR = -63
Fuse.ENONET = -64
Fuse.ENOPKG = -65
Fuse.EREMOTE = -66
Fuse.ENOLINK = -67
Fuse.EADV = -68
Fuse.ESRMNT = -69
Fuse.ECOMM = -70
Fuse.EPROTO = -71
Fuse.EMULTIHOP = -72
Fuse.EDOTDOT = -73
Fuse.EBADMSG = -74
Fuse.EOVERFLOW = -75
Fuse.ENOTUNIQ = -76
Fuse.EBADFD = -77
Fuse.EREMCHG = -78
Fuse.ELIBACC = -79
Fuse.ELIBBAD = -80
Fuse.ELIBSCN = -81
Fuse.ELIBMAX = -82
Fuse.ELIBEXEC = -83
Fuse.EILSEQ = -84
Fuse.ERESTART = -85
Fuse.ESTRPIPE = -86
Fuse.EUSERS = -87
Fuse.ENOTSOCK = -88
Fuse.EDESTADDRREQ = -89
Fuse.EMSGSIZE = -90
Fuse.EPROTOTYPE = -91
Fuse.ENOPROTOOPT = -92
Fuse.EPROTONOSUPPORT = -93
Fuse.ESOCKTNOSUPPORT = -94
Fuse.EOPNOTSUPP = -95
Fuse.EPFNOSUPPORT = -96
Fuse.EAFNOSUPPORT = -97
Fuse.EADDRINUSE = -98
Fuse.EADDRNOTAVAIL = -99
Fuse.ENETDOWN = -100
Fuse.ENETUNREACH = -101
Fuse.ENETRESET = -102
Fuse.ECONNABORTED = -103
Fuse.ECONNRESET = -104
Fuse.ENOBUFS = -105
Fuse.EISCONN = -106
Fuse.ENOTCONN = -107
Fuse.ESHUTDOWN = -108
Fuse.ETOOMANYREFS = -109
Fuse.ETIMEDOUT = -110
Fuse.ECONNREFUSED = -111
Fuse.EHOSTDOWN = -112
Fuse.EHOSTUNREACH = -113
Fuse.EALREADY = -114
Fuse.EINPROGRESS = -115
Fuse.ESTALE = -116
Fuse.EUCLEAN = -117
Fuse.ENOTNAM = -118
Fuse.ENAVAIL = -119
Fuse.EISNAM = -120
Fuse.EREMOTEIO = -121
Fuse.EDQUOT = -122
Fuse.ENOMEDIUM = -123
Fuse.EMEDIUMTYPE = -124

// The system calls beside FUSE (native/sys.cjs), where fuse-native's users found them.
Fuse.mkfifo = sys.mkfifo
Fuse.setPipeSize = sys.setPipeSize
Fuse.flock = sys.flock
Fuse.pipeBytes = sys.pipeBytes
Fuse.startRingPump = sys.startRingPump
Fuse.exitNow = sys.exitNow

// The native layer's version (native/version.h), which src/util/fuseNative.ts checks.
Fuse.NATIVE_VERSION = NATIVE_VERSION

module.exports = Fuse

function invalidateNames (names) {
  if (!Array.isArray(names)) throw new TypeError('fuse.invalidate(names, cb): names must be an array of file names')
  return names.map((n) => {
    const name = typeof n === 'string' && n.startsWith('/') ? n.slice(1) : n
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' ||
        name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 1024) {
      throw new TypeError('fuse.invalidate: ' + JSON.stringify(n) + ' is not the name of an entry of the root directory')
    }
    return name
  })
}

function invalidateError (errno, what, invalidated, notCached) {
  let code = 'E' + (-errno)
  try { code = util.getSystemErrorName(errno) } catch (_) {}
  const err = new Error('fuse.invalidate: ' + what + ': ' + code)
  err.errno = errno
  err.code = code
  err.invalidated = invalidated
  err.notCached = notCached
  return err
}

function isSetOption (v) {
  return v !== undefined && v !== null && v !== false && v !== ''
}

// Callbacks may pass null/undefined (Node style) or an Error: the native
// signal functions need an int32, and would throw "Expected number" (leaving
// the FUSE request hanging forever) on anything else.
function toErrno (err) {
  if (typeof err === 'number') return Number.isFinite(err) ? Math.trunc(err) : Fuse.EIO
  if (err === null || err === undefined || err === false) return 0
  if (typeof err === 'object') {
    if (typeof err.errno === 'number' && err.errno < 0) return err.errno
    if (typeof err.errno === 'number' && err.errno > 0) return -err.errno
    if (typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code) && typeof Fuse[err.code] === 'number') return Fuse[err.code]
  }
  return Fuse.EIO
}

function isMounted (mnt) {
  try {
    let real = mnt
    try { real = path.join(fs.realpathSync(path.dirname(mnt)), path.basename(mnt)) } catch (_) {}
    const info = fs.readFileSync('/proc/self/mountinfo', 'utf-8')
    for (const line of info.split('\n')) {
      const field = line.split(' ')[4]
      if (!field) continue
      const point = unescapeMountPath(field)
      if (point === mnt || point === real) return true
    }
    return false
  } catch (_) {
    return true // cannot tell: keep the old behaviour (report the error)
  }
}

function unescapeMountPath (s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
}

function getStatfsArray (statfs) {
  const ints = new Uint32Array(11)

  ints[0] = (statfs && statfs.bsize) || 0
  ints[1] = (statfs && statfs.frsize) || 0
  ints[2] = (statfs && statfs.blocks) || 0
  ints[3] = (statfs && statfs.bfree) || 0
  ints[4] = (statfs && statfs.bavail) || 0
  ints[5] = (statfs && statfs.files) || 0
  ints[6] = (statfs && statfs.ffree) || 0
  ints[7] = (statfs && statfs.favail) || 0
  ints[8] = (statfs && statfs.fsid) || 0
  ints[9] = (statfs && statfs.flag) || 0
  ints[10] = (statfs && statfs.namemax) || 0

  return ints
}

function setDoubleInt (arr, idx, num) {
  arr[idx] = num % 4294967296
  arr[idx + 1] = (num - arr[idx]) / 4294967296
}

function getDoubleArg (a, b) {
  return a + b * 4294967296
}

function toDateMS (st) {
  if (typeof st === 'number') return st
  if (!st) return Date.now()
  if (isTimespecObject(st)) return Number(st.sec) * 1000 + Math.floor(Number(st.nsec || 0) / 1e6)
  return st.getTime()
}

function isTimespecObject (t) {
  return typeof t === 'object' && t !== null && !(t instanceof Date) && 'sec' in t
}

// A stat time -> [sec, nsec] with 0 <= nsec < 1e9. Accepts a Date, a number of
// milliseconds (as before), or { sec, nsec } (nanosecond precision).
function toTimespec (t) {
  let sec, nsec
  if (isTimespecObject(t)) {
    const s = Number(t.sec)
    sec = Math.floor(s)
    nsec = Number(t.nsec || 0) + Math.round((s - sec) * 1e9)
  } else {
    const ms = toDateMS(t)
    sec = Math.floor(ms / 1000)
    nsec = Math.round((ms - sec * 1000) * 1e6)
  }
  if (!Number.isFinite(sec) || !Number.isFinite(nsec)) return [0, 0]
  nsec = Math.floor(nsec)
  sec += Math.floor(nsec / 1e9)
  nsec = ((nsec % 1e9) + 1e9) % 1e9
  return [sec, nsec]
}

function setTimespec (arr, idx, t) {
  const [sec, nsec] = toTimespec(t)
  arr[idx] = sec % 4294967296 // Uint32Array stores it modulo 2^32: two's complement low word
  arr[idx + 1] = Math.floor(sec / 4294967296) // negative -> high word of the two's complement
  arr[idx + 2] = nsec
}

// utimens times from the addon. null = UTIME_OMIT (leave unchanged);
// UTIME_NOW is resolved to the current time natively. valueOf() gives
// milliseconds so handlers written for the old API (new Date(atime),
// arithmetic) keep working.
function getUtimensArg (secLow, secHigh, nsec) {
  if (nsec === UTIME_OMIT) return null
  const sec = (secHigh >= 0x80000000 ? secHigh - 4294967296 : secHigh) * 4294967296 + secLow
  const t = { sec, nsec }
  Object.defineProperty(t, 'valueOf', { value: () => sec * 1000 + Math.floor(nsec / 1e6) })
  return Object.freeze(t)
}

function getStatArray (stat) {
  const ints = new Uint32Array(21)

  ints[0] = (stat && stat.mode) || 0
  ints[1] = (stat && stat.uid) || 0
  ints[2] = (stat && stat.gid) || 0
  setDoubleInt(ints, 3, (stat && stat.size) || 0)
  ints[5] = (stat && stat.dev) || 0
  ints[6] = (stat && stat.nlink) || 1
  ints[7] = (stat && stat.ino) || 0
  ints[8] = (stat && stat.rdev) || 0
  ints[9] = (stat && stat.blksize) || 0
  setDoubleInt(ints, 10, (stat && stat.blocks) || 0)
  setTimespec(ints, 12, stat && stat.atime)
  setTimespec(ints, 15, stat && stat.mtime)
  setTimespec(ints, 18, stat && stat.ctime)
  return ints
}

function noop () {}
