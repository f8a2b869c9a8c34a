/**
 * What the argument-check suites share (arguments.test.ts, arguments.mount.test.ts): a refusal as
 * users must see it, the files of a folder by content, and an image an old kernel would write out
 * of bounds from.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { pstoreSim, type RunResult, sha256 } from './mount.js'

/** The files of DIR (not its folders) by their sha256. */
export function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name)
    if (fs.statSync(file).isFile()) out[name] = sha256(fs.readFileSync(file))
  }
  return out
}

/** Exit 1, one stderr line that says who speaks and names the argument, no stack trace. */
export function assertOneLine(t: Test, r: RunResult, names: RegExp, label: string): void {
  t.equal(r.code, 1, `${label}: exit 1`)
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 1, `${label}: one stderr line (${JSON.stringify(r.stderr)})`)
  t.match(lines[0] ?? '', /^pstore-sim: /, `${label}: the line says who speaks`)
  t.match(lines[0] ?? '', names, `${label}: names the argument`)
  t.notMatch(r.stderr, /\n\s+at /, `${label}: no stack trace`)
}

/** The setup of oldTargetImage's image: 64 KiB, two CPUs. */
export const OLD_SETUP = ['--mem-size', '64K', '--cpus', '2']

/**
 * OLD formatted for kernel 6.1.10 with OLD_SETUP, its console and pmsg zones empty with a start
 * past their capacity (accepted before 6.6): a dump that kernel would write out of bounds from.
 */
export async function oldTargetImage(t: Test, old: string, setup = OLD_SETUP): Promise<void> {
  const r = await pstoreSim(['format', old, ...setup, '--kernel', '6.1.10'])
  t.equal(r.code, 0, `format ${path.basename(old)} --kernel 6.1.10: ${r.stderr}`)
  const inspect = JSON.parse((await pstoreSim(['inspect', old, '--json'])).stdout.toString()) as { zones: Array<{ type: string; offset: number }> }
  const bytes = fs.readFileSync(old)
  for (const zone of inspect.zones.filter((z) => z.type === 'console' || z.type === 'pmsg')) {
    bytes.writeInt32LE(5000, zone.offset + 4)
    bytes.writeInt32LE(0, zone.offset + 8)
  }
  fs.writeFileSync(old, bytes)
}
