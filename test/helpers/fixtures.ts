/**
 * Access to the kernel fixtures in test/fixtures/ (test/fixtures/README.md: which kernel wrote
 * each and how). Images and the System.map are stored gzipped; `fixturePath` and `readFixture`
 * take the uncompressed name and gunzip transparently, so tests never see the `.gz`.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { fromModuleParams, type RamoopsSetup, type TargetOptions } from '../../src/backend/ramoops/ramoopsSetup.js'

/** The checkout: the nearest folder above with package.json (this file also runs built, from dist/test/helpers). */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}

export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)))
export const fixturesDir = path.join(repoRoot, 'test/fixtures')

const abs = (rel: string): string => (path.isAbsolute(rel) ? rel : path.join(fixturesDir, rel))

/** Whether a fixture file exists, stored plain or gzipped. */
export function fixtureExists(rel: string): boolean {
  const f = abs(rel)
  return fs.existsSync(f) || fs.existsSync(`${f}.gz`)
}

/** A fixture's bytes; `rel` is relative to test/fixtures/ and names the uncompressed file. */
export function readFixture(rel: string): Buffer {
  const f = abs(rel)
  if (fs.existsSync(f)) return fs.readFileSync(f)
  if (fs.existsSync(`${f}.gz`)) return gunzipSync(fs.readFileSync(`${f}.gz`))
  throw new Error(`fixture ${rel} not found (neither ${f} nor ${f}.gz)`)
}

/**
 * A path to the uncompressed fixture, for code that wants a file (the CLI, QEMU, copyFileSync).
 * A gzipped fixture is unpacked once into a temp directory keyed by the .gz's content, so an
 * updated fixture never meets a stale copy; the rename makes it safe for parallel test files.
 */
export function fixturePath(rel: string): string {
  const f = abs(rel)
  if (fs.existsSync(f)) return f
  const gz = `${f}.gz`
  if (!fs.existsSync(gz)) throw new Error(`fixture ${rel} not found (neither ${f} nor ${gz})`)
  const packed = fs.readFileSync(gz)
  const key = createHash('sha256').update(packed).digest('hex').slice(0, 16)
  const dir = path.join(os.tmpdir(), `pstore-sim-fixtures-${process.getuid?.() ?? 'u'}`, key)
  const out = path.join(dir, path.basename(f))
  if (fs.existsSync(out)) return out
  fs.mkdirSync(dir, { recursive: true })
  const tmp = `${out}.${process.pid}.tmp`
  fs.writeFileSync(tmp, gunzipSync(packed))
  fs.renameSync(tmp, out)
  return out
}

/** What `stat` says of a file, as the kernel's listings record it (mode as 4 octal digits, mtime in whole seconds). */
export interface FileAttributes {
  name: string
  size: number
  mode: string
  uid: number
  gid: number
  mtime: number
}

/** A file of a kernel's /sys/fs/pstore listing, as the fixtures' listing.json holds it. */
export interface KernelListingFile extends FileAttributes {
  mtime_nsec: number
  sha256: string
  content_b64: string
}

export interface KernelListing {
  files: KernelListingFile[]
  listings: { tag: string; files: KernelListingFile[] }[]
}

export interface FixtureCase {
  dir: string
  name: string
  params: {
    ramoops: Record<string, string>
    guest_nr_cpus: number
    kernel_kind?: string
    effective_module_params: Record<string, string>
  }
  /** a path to the uncompressed file (gunzipped into a temp dir if stored as .gz) */
  file(name: string): string
  read(name: string): Buffer
  listing(name?: string): KernelListing
  exists(name: string): boolean
}

export function fixtureCase(kernel: 'kernel-6.1' | 'kernel-6.1-custom', name: string): FixtureCase {
  const dir = path.join(fixturesDir, kernel, name)
  const rel = (f: string) => path.join(kernel, name, f)
  return {
    dir,
    name,
    params: JSON.parse(readFixture(rel('params.json')).toString('utf8')),
    file: (f) => fixturePath(rel(f)),
    read: (f) => readFixture(rel(f)),
    listing: (f = 'listing.json') => JSON.parse(readFixture(rel(f)).toString('utf8')),
    exists: (f) => fixtureExists(rel(f)),
  }
}

/** The setup a fixture's kernel ran with: Debian's 6.1.192, frontends only in the custom build. */
export function fixtureConfig(c: FixtureCase, overrides: TargetOptions = {}): RamoopsSetup {
  const p = c.params.ramoops
  const n = (v: string) => Number(v)
  const custom = c.params.kernel_kind === 'custom'
  return fromModuleParams(
    {
      mem_address: n(p.mem_address),
      mem_size: n(p.mem_size),
      record_size: n(p.record_size),
      console_size: n(p.console_size),
      ftrace_size: n(p.ftrace_size),
      pmsg_size: n(p.pmsg_size),
      ecc: n(p.ecc),
      max_reason: n(c.params.effective_module_params['ramoops/parameters/max_reason']),
    },
    {
      kernel: '6.1.192',
      cpus: c.params.guest_nr_cpus,
      frontends: { console: custom, pmsg: custom, ftrace: custom },
      ...overrides,
    },
  )
}

export const SYSTEM_MAP_6_1_CUSTOM = 'kernel-6.1-custom/System.map'

/** The kernel-6.1-custom System.map as a plain file (the fixture is gzipped). */
export const systemMapPath = (): string => fixturePath(SYSTEM_MAP_6_1_CUSTOM)

/** First differing offsets between two buffers, for readable failures. */
export function describeDiff(a: Buffer, b: Buffer, limit = 8): string {
  if (a.length !== b.length) return `lengths differ: ${a.length} vs ${b.length}`
  const diffs: string[] = []
  for (let i = 0; i < a.length && diffs.length < limit; i++) {
    if (a[i] !== b[i]) diffs.push(`@${i} (0x${i.toString(16)}): ${a[i]} vs ${b[i]}`)
  }
  return diffs.length ? diffs.join(', ') : 'identical'
}

/** CLI setup flags for a harness run's ramoops module parameters (params.json's `ramoops`). */
export function ramoopsFlags(p: Record<string, string>, target: { kernel: string; cpus: number; frontends: string }): string[] {
  return [
    '--kernel',
    target.kernel,
    '--mem-size',
    p.mem_size,
    '--record-size',
    p.record_size,
    '--console-size',
    p.console_size,
    '--ftrace-size',
    p.ftrace_size,
    '--pmsg-size',
    p.pmsg_size,
    '--ecc',
    p.ecc,
    '--cpus',
    String(target.cpus),
    '--frontends',
    target.frontends,
  ]
}

/** The setup flags the fixture's kernel ran with. */
export function fixtureFlags(kernel: 'kernel-6.1' | 'kernel-6.1-custom', name: string): string[] {
  const c = fixtureCase(kernel, name)
  const frontends = kernel === 'kernel-6.1-custom' ? 'console,pmsg,ftrace' : 'none'
  return ramoopsFlags(c.params.ramoops, { kernel: '6.1.192', cpus: c.params.guest_nr_cpus, frontends })
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function noise(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}
