/** Access to the kernel fixtures in ../shared/fixtures (override with PSTORE_SIM_SHARED). */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { fromModuleParams, RamoopsConfig, TargetOptions } from '../../src/backend/ramoops/config.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const sharedDir = process.env.PSTORE_SIM_SHARED ?? path.resolve(repoRoot, '../shared')
export const fixturesDir = path.join(sharedDir, 'fixtures')

export interface KernelListingFile {
  name: string
  size: number
  mode: string
  uid: number
  gid: number
  mtime: number
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
  file(name: string): string
  read(name: string): Buffer
  listing(name?: string): KernelListing
  exists(name: string): boolean
}

export function fixtureCase(kernel: 'kernel-6.1' | 'kernel-6.1-custom', name: string): FixtureCase {
  const dir = path.join(fixturesDir, kernel, name)
  const file = (f: string) => path.join(dir, f)
  return {
    dir,
    name,
    params: JSON.parse(fs.readFileSync(file('params.json'), 'utf8')),
    file,
    read: (f) => fs.readFileSync(file(f)),
    listing: (f = 'listing.json') => JSON.parse(fs.readFileSync(file(f), 'utf8')),
    exists: (f) => fs.existsSync(file(f)),
  }
}

/** The setup a fixture's kernel ran with: Debian's 6.1.192, frontends only in the custom build. */
export function fixtureConfig(c: FixtureCase, overrides: TargetOptions = {}): RamoopsConfig {
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

export const systemMapPath = path.join(fixturesDir, 'kernel-6.1-custom', 'System.map')

/** First differing offsets between two buffers, for readable failures. */
export function describeDiff(a: Buffer, b: Buffer, limit = 8): string {
  if (a.length !== b.length) return `lengths differ: ${a.length} vs ${b.length}`
  const diffs: string[] = []
  for (let i = 0; i < a.length && diffs.length < limit; i++) {
    if (a[i] !== b[i]) diffs.push(`@${i} (0x${i.toString(16)}): ${a[i]} vs ${b[i]}`)
  }
  return diffs.length ? diffs.join(', ') : 'identical'
}

/** The setup flags the fixture's kernel ran with. */
export function fixtureFlags(kernel: 'kernel-6.1' | 'kernel-6.1-custom', name: string): string[] {
  const c = fixtureCase(kernel, name)
  const p = c.params.ramoops
  const custom = kernel === 'kernel-6.1-custom'
  return [
    '--kernel', '6.1.192',
    '--mem-size', p.mem_size,
    '--record-size', p.record_size,
    '--console-size', p.console_size,
    '--ftrace-size', p.ftrace_size,
    '--pmsg-size', p.pmsg_size,
    '--ecc', p.ecc,
    '--cpus', String(c.params.guest_nr_cpus),
    '--frontends', custom ? 'console,pmsg,ftrace' : 'none',
  ]
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
