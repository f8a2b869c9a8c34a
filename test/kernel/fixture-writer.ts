/**
 * What every fixture writer (make-fixtures.ts, make-blk-fixtures.ts, and the next backend's)
 * does the same way: a case's boots, each from zeros or an earlier boot's image; the kernel's
 * listings as JSON; the params.json record of each boot and of the kernel; one progress line a
 * boot. Not a test: the writers are run by hand.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { KernelListingFile } from '../helpers/fixtures.js'
import type { KernelFile, KernelInfo, KernelRun, KernelSelector } from './harness.js'
import { repoRoot } from './harness.js'

export interface FixtureBoot {
  label: string
  actions: string[]
  /** The image it boots with: 'zero' or the image after an earlier boot (its label). */
  from: string
}

/** The fixture directory test/fixtures/<set>/<name>, created. */
export function fixtureDir(set: string, name: string): string {
  const dir = path.join(repoRoot, 'test/fixtures', set, name)
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

/** As the fixture files are written: one space of indent, a final newline. */
export function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, JSON.stringify(value, null, 1) + '\n')
}

/** A listed file as the fixtures' listing.json has it, but for its content. */
export function listedFile(f: KernelFile): Omit<KernelListingFile, 'content_b64'> {
  return { name: f.name, size: f.size, mode: f.mode, uid: f.uid, gid: f.gid, mtime: f.mtimeSec, mtime_nsec: f.mtimeNsec, sha256: f.sha256 }
}

/**
 * The kernel's /sys/fs/pstore listings of a run and its events: name, size, mode, uid, gid,
 * mtime + ns, sha256 and base64 content of each file (`contentLength`: also its length, as the
 * ramoops fixtures have it).
 */
export function listingJson(r: KernelRun, options: { contentLength?: boolean } = {}): { listings: object[]; events: KernelRun['events'] } {
  return {
    listings: r.listings.map((l) => ({
      tag: l.tag,
      files: l.files.map((f) => ({
        ...listedFile(f),
        ...(options.contentLength ? { content_len: f.content.length } : {}),
        content_b64: f.content.toString('base64'),
      })),
    })),
    events: r.events,
  }
}

/** A boot as params.json records it; `image` names the file it booted from. */
export function bootRecord(boot: FixtureBoot, image: string, r: KernelRun): object {
  return {
    label: boot.label,
    image,
    actions: boot.actions.join(','),
    panicked: r.panicked,
    cmdline: r.cmdline,
    seconds: Math.round(r.timings.totalMs / 100) / 10,
  }
}

/** params.json's kernel: the selector and the package, version and release it stands for. */
export function kernelRecord(kernel: KernelSelector, info: KernelInfo): object {
  return { selector: kernel, package: info.package, version: info.version, release: info.release, kernelVersion: info.kernelVersion }
}

/** One line on stderr a boot: panicked or not, and the files of each listing. */
export function reportBoot(what: string, r: KernelRun): void {
  process.stderr.write(`${what}: ${r.panicked ? 'panicked' : 'done'}, ${r.listings.map((l) => l.files.map((f) => f.name).join(' ')).join(' | ')}\n`)
}
