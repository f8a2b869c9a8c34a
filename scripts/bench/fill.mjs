#!/usr/bin/env node
/*
 * fill: writes many dmesg records into a formatted image quickly, through the library (one
 * process) instead of one CLI call per record: N-1 oopses, console lines, a pmsg write, ftrace
 * records, then a panic (the machine halts, as after the CLI's `panic`). Records are compressed
 * unless --no-compress, like the CLI's default.
 *
 * Speed: the first REAL (48) oopses are real SimulatedMachine.crash() calls (each dumps this
 * boot's growing log, compressed with pako: ~3 ms each). The rest reuse those dump parts
 * round-robin with their own wall-clock time, written with the backend's writeDmesg() exactly
 * where crash() would write them (its dumpWriteCnt), so that 8,000 records take seconds, not half a
 * minute. The image is byte-for-byte what the backend writes; only the oops numbers inside the
 * compressed text repeat. The mount still inflates every record.
 *
 *   node scripts/bench/fill.mjs PROJECT_DIR IMAGE N [--no-compress]
 *
 * Prints JSON: { records, ms }.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [projectDir, image, countText, ...flags] = process.argv.slice(2)
const count = Number(countText)
if (!projectDir || !image || !(count >= 1)) {
  process.stderr.write('usage: fill.mjs PROJECT_DIR IMAGE N [--no-compress]\n')
  process.exit(1)
}
const compress = !flags.includes('--no-compress')
const load = (m) => import(pathToFileURL(path.join(projectDir, 'dist/src', m)).href)
// ImageSession (machine/imageSession.js); a project before issue 29's names calls it Simulation
const ImageSession = await load('machine/imageSession.js').then(
  (m) => m.ImageSession,
  () => load('machine/simulation.js').then((m) => m.Simulation),
)

const t0 = performance.now()
const session = ImageSession.open(image, {}, { readOnly: false })
const machine = session.machine
const backend = machine.backend
if (backend.name !== 'ramoops') throw new Error(`${image}: fill writes ramoops images (this one is ${backend.name})`)
const ramoops = backend.ramoops
const zones = ramoops.dmesg.length
const n = Math.min(count, zones)
const REAL = 48
let stored = 0
const parts = []
const realWrite = backend.writeDmesg.bind(backend)
// Keep a copy of the parts the real crashes stored (ramoops refuses every part but the first:
// with records smaller than a dump, a copy of a refused part would be counted and never stored).
backend.writeDmesg = (part) => {
  const result = realWrite(part)
  if (result.stored) parts.push(part)
  return result
}
for (let i = 0; i < Math.min(n - 1, REAL); i++) {
  if (machine.crash({ reason: 'oops', compress }).stored) stored++
}
backend.writeDmesg = realWrite
const baseSec = Math.floor(Date.now() / 1000)
// The backend keeps its own dump counter (the kernel's dumpWriteCnt); the last crash below saves
// it into the machine's state.
for (let i = REAL; i < n - 1 && parts.length; i++) {
  const part = parts[i % parts.length]
  if (!backend.writeDmesg({ ...part, time: { sec: baseSec + i, nsec: (i * 7919) % 1e9 } }).stored) continue
  machine.state.oopsCount++
  stored++
}
if (ramoops.console) machine.console('systemd[1]: Started Journal Service.\nbench[1]: filling the region\n')
if (ramoops.pmsg) machine.pmsg(Buffer.from('bench: last words before the crash\n'))
if (ramoops.ftrace.length) {
  machine.ftrace([
    { cpu: 0, ip: 0xffffffff81234560n, parentIp: 0xffffffff81200010n },
    { cpu: 0, ip: 0xffffffff81234890n, parentIp: 0xffffffff81234560n },
  ])
}
if (machine.crash({ reason: 'panic', compress, message: 'bench fill' }).stored) stored++
session.close()
process.stdout.write(JSON.stringify({ records: stored, zones, ms: performance.now() - t0 }) + '\n')
