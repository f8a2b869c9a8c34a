/**
 * The `-o` options of a mount as mount(8) and mount.fuse hand them over (`-o ro,dev,suid,…`):
 * pstore's own (kmsg_bytes), the daemon's, the ramoops module parameters for the setup, and the
 * generic flags mount(8)/mount.fuse add, which change nothing on files that are neither devices
 * nor executables and are accepted and ignored.
 */

import type { MountOptions } from '../daemon/daemon.js'
import { COMPRESS_CHOICES, parseSize, type SetupOverrides } from '../machine/imageSetup.js'
import { PstoreSimError } from '../util/errors.js'

/** Generic mount(8) and FUSE flags: no effect on a pstore's 0400/0440 regular files. */
const IGNORED = new Set([
  'defaults',
  'dev',
  'nodev',
  'suid',
  'nosuid',
  'exec',
  'noexec',
  'atime',
  'noatime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'diratime',
  'nodiratime',
  'lazytime',
  'nolazytime',
  'sync',
  'async',
  'dirsync',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  'nofail',
  '_netdev',
  'default_permissions',
  'silent',
  'loud',
  'iversion',
  'noiversion',
  'mand',
  'nomand',
])

/** ramoops module parameters (sizes), as `mem_size=1M` (the kernel's names). */
const SIZE_PARAMS = ['mem_size', 'record_size', 'console_size', 'ftrace_size', 'pmsg_size'] as const

export type MountOptionFields = Omit<MountOptions, 'image' | 'mountpoint'>

const KNOWN =
  'ro, rw, kmsg_bytes=N, cache_timeout=SECONDS, allow_other, mem_size=, record_size=, console_size=, ftrace_size=, pmsg_size=, ecc=N, max_reason=N, kernel=VERSION, compress=deflate|lzo|lz4|lz4hc|842|zstd|none, cpus=N, frontends=console+pmsg+ftrace|none, detect, pmsg_fifo=PATH, exact_names, system_map=PATH'

function bad(opt: string, why: string): PstoreSimError {
  return new PstoreSimError(`-o ${opt}: ${why}`)
}

function integer(opt: string, value: string | undefined, max = 0xffffffff): number {
  const n = Number(value)
  if (value === undefined || value === '' || !Number.isInteger(n) || n < 0 || n > max) throw bad(opt, `takes a whole number (0-${max})`)
  return n
}

/** Applies one `key[=value]` to `out`; false when the key is not one of ours. */
function apply(
  out: MountOptionFields & { overrides: SetupOverrides & { params: Record<string, number | undefined>; target: Record<string, unknown> } },
  opt: string,
): boolean {
  const eq = opt.indexOf('=')
  const key = eq < 0 ? opt : opt.slice(0, eq)
  const value = eq < 0 ? undefined : opt.slice(eq + 1)
  if ((SIZE_PARAMS as readonly string[]).includes(key)) {
    if (value === undefined) throw bad(opt, 'takes a size, e.g. 1M or 0x100000')
    out.overrides.params[key] = parseSize(value, `-o ${key}`)
  } else if (key === 'ecc' || key === 'max_reason') out.overrides.params[key] = integer(opt, value, key === 'ecc' ? 255 : 5)
  else if (key === 'detect') {
    if (value !== undefined) throw bad(opt, 'takes no value: the setup is read from the image')
    out.overrides.detect = true
  } else if (key === 'ro') out.readOnly = true
  else if (key === 'rw') out.readOnly = false
  else if (key === 'allow_other') out.allowOther = true
  else if (key === 'exact_names') out.exactNames = true
  else if (key === 'kmsg_bytes') {
    // pstore ignores an invalid value silently; so do we
    const n = Number(value)
    if (Number.isInteger(n) && n >= 0 && n <= 0xffffffff) out.kmsgBytes = n
  } else if (key === 'cache_timeout') {
    const n = Number(value)
    if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) throw bad(opt, "cache_timeout takes seconds (0 turns the kernel's cache off)")
    out.cacheTimeout = n
  } else if (key === 'kernel') {
    if (!value || !/^\d+\.\d+(\.\d+)?$/.test(value)) throw bad(opt, 'takes a kernel version, e.g. kernel=6.1.192')
    out.overrides.target.kernel = value
  } else if (key === 'compress') {
    if (!value || !(COMPRESS_CHOICES as readonly string[]).includes(value)) throw bad(opt, `takes ${COMPRESS_CHOICES.join(', ')}`)
    out.overrides.target.compress = value
  } else if (key === 'frontends') {
    // '+' between names: ',' separates the options themselves
    const list = (value ?? '').split('+').filter(Boolean)
    if (!list.length || list.some((f) => !['console', 'pmsg', 'ftrace', 'none'].includes(f)))
      throw bad(opt, 'takes console, pmsg, ftrace joined by + (e.g. frontends=console+pmsg), or none')
    out.overrides.target.frontends = { console: list.includes('console'), pmsg: list.includes('pmsg'), ftrace: list.includes('ftrace') }
  } else if (key === 'cpus') out.overrides.target.cpus = integer(opt, value, 4096)
  else if (key === 'pmsg_fifo' || key === 'system_map') {
    if (!value) throw bad(opt, 'takes a path')
    if (key === 'pmsg_fifo') out.pmsgFifo = value
    else out.systemMap = value
  } else return IGNORED.has(key) || key.startsWith('x-') || key === 'comment'
  return true
}

/** A subset of the options, for a form that takes the rest as flags of its own. */
export interface MountOptionScope {
  keys: readonly string[]
  /** The accepted options as the "unknown mount option" message lists them. */
  known: string
}

/**
 * `pstore-sim mount -o`: its setup, FIFO and names have flags (--mem-size, --pmsg-fifo…), so
 * its -o takes only what it has always taken, with the message its users know.
 */
export const MOUNT_COMMAND_SCOPE: MountOptionScope = {
  keys: ['ro', 'rw', 'kmsg_bytes', 'allow_other', 'cache_timeout', 'detect'],
  known: 'ro, rw, kmsg_bytes=N, allow_other, cache_timeout=SECONDS, detect',
}

/**
 * Parses a `-o` list (every option, or only those of `scope`); an unknown option is a user
 * error naming it and the accepted ones.
 */
export function parseMountOptionList(list: string | undefined, scope?: MountOptionScope): MountOptionFields {
  const params: Record<string, number | undefined> = {}
  const target: Record<string, unknown> = {}
  const out = { overrides: { params, target } } as Parameters<typeof apply>[0]
  for (const opt of (list ?? '').split(',').filter(Boolean)) {
    const key = opt.split('=')[0]
    if (scope ? !scope.keys.includes(key) || !apply(out, opt) : !apply(out, opt)) throw bad(opt, `unknown mount option (${scope?.known ?? KNOWN})`)
  }
  if (!Object.keys(params).length) delete (out.overrides as SetupOverrides).params
  if (!Object.keys(target).length) delete (out.overrides as SetupOverrides).target
  return out
}
