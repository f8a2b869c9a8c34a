/**
 * A corrupt compressed record that fails to inflate must cost nothing once read: a daemon reads
 * the same corrupt records at every reboot. (zlib.inflateRawSync() kept ~11 KB per failure.)
 */

import { spawnSync } from 'node:child_process'
import t from 'tap'
import { productCommand, runProductsUninstrumented } from '../helpers/mount.js'
import { sourceBundle } from '../helpers/sourceBundle.js'

// the probe runs without tap's per-process hook (helpers/mount.ts): a clean Node
runProductsUninstrumented()

const compressionJs = await sourceBundle('pstore/compression.ts')

// In its own process, with --expose-gc: the figures are then this loop's alone.
const probe = `
const { decompress } = await import(${JSON.stringify(compressionJs)})
const zlib = await import('node:zlib')
const good = zlib.deflateRawSync(Buffer.from('a line of kernel log text\\n'.repeat(120)))
const inputs = [
  Buffer.from([0x0b, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a]), // invalid block type
  good.subarray(0, good.length - 9), // truncated
  Buffer.concat([good.subarray(0, 20), Buffer.alloc(40, 0xa5)]), // corrupt tail
]
let failures = 0
const run = (n) => { for (let i = 0; i < n; i++) if (!decompress('zlib-raw-15', inputs[i % 3], 12252).ok) failures++ }
run(1000)
globalThis.gc(); const before = process.memoryUsage()
run(10000)
await new Promise((r) => setTimeout(r, 50)); globalThis.gc()
const after = process.memoryUsage()
console.log(JSON.stringify({ failures, rss: after.rss - before.rss, external: after.external - before.external, heap: after.heapUsed - before.heapUsed }))
`

t.test('10,000 failed inflates: memory stays bounded', async (t) => {
  const r = spawnSync(...productCommand(process.execPath, ['--expose-gc', '--input-type=module', '-e', probe]), { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const m = JSON.parse(r.stdout) as { failures: number; rss: number; external: number; heap: number }
  t.equal(m.failures, 11000, 'every inflate failed')
  const MB = 1024 * 1024
  // Generous bounds (RSS keeps freed heap pages): the leak was ~117 MB of external memory.
  t.ok(m.external < 8 * MB, `external memory grew ${(m.external / MB).toFixed(1)} MB`)
  t.ok(m.heap < 8 * MB, `heap grew ${(m.heap / MB).toFixed(1)} MB`)
  t.ok(m.rss < 64 * MB, `RSS grew ${(m.rss / MB).toFixed(1)} MB`)
})
