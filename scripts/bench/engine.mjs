#!/usr/bin/env node
/*
 * engine: pstore-sim's engine alone, without FUSE or the CLI, in one fresh process (so the first
 * iteration is what a freshly started daemon pays: cold JIT), then warm iterations.
 *
 *   node scripts/bench/engine.mjs PROJECT_DIR ROUNDS LABEL=IMAGE [LABEL=IMAGE ...] [--ecc-image IMAGE]
 *
 * For every image (opened read-only: nothing is written to it):
 *   open   ImageSession.open(): sidecar + whole image read into memory
 *   boot   SimulatedMachine.boot(): every zone validated (ECC decoded), snapshots, read pass
 *          with inflate of compressed records
 *   view   MountView.load(): the files (names, contents, ftrace text)
 *   panic  a panic written into dmesg zone 0 (read-write copy of the image in memory, flush off)
 * plus the Reed-Solomon parity (E = 16, 128-byte blocks) of 1 MiB of data, and with
 * --ecc-image the boot of a region with ECC on.
 * Prints one JSON object: per measurement { cold, median, samples } in ms, and RSS.
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const args = process.argv.slice(2)
const projectDir = args.shift()
const rounds = Math.max(1, Number(args.shift()) || 5)
const images = []
let eccImage
while (args.length) {
  const a = args.shift()
  if (a === '--ecc-image') eccImage = args.shift()
  else {
    const i = a.indexOf('=')
    images.push({ label: a.slice(0, i), image: a.slice(i + 1) })
  }
}
const load = (m) => import(pathToFileURL(path.join(projectDir, 'dist/src', m)).href)
// ImageSession (machine/imageSession.js); a project before issue 29's names calls it Simulation
const ImageSession = await load('machine/imageSession.js').then(
  (m) => m.ImageSession,
  () => load('machine/simulation.js').then((m) => m.Simulation),
)
const { SimulatedMachine } = await load('machine/machine.js')
const { RegionImage } = await load('format/region.js')
const { MountView } = await load('pstore/mountView.js')
const { nowTimespec } = await load('pstore/filesystem.js')
const { reedSolomon } = await load('format/reedSolomon.js')

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const summary = (samples) => ({ cold: samples[0], median: median(samples.length > 1 ? samples.slice(1) : samples), samples })
const time = (fn) => {
  const t0 = performance.now()
  const r = fn()
  return [performance.now() - t0, r]
}

const out = { images: {}, ecc: {} }
for (const { label, image } of images) {
  const open = [],
    boot = [],
    view = [],
    panic = []
  let records = 0,
    files = 0,
    bytes = 0,
    rssMiB = 0
  for (let r = 0; r <= rounds; r++) {
    const [tOpen, session] = time(() => ImageSession.open(image, {}, { readOnly: true }))
    const [tBoot, booted] = time(() => session.machine.boot())
    const v = new MountView({ uid: 0, gid: 0 }, nowTimespec())
    const [tView] = time(() => v.load(booted.records, { now: nowTimespec(), wordBits: (session.setup ?? session.config).wordBits }))
    records = booted.records.length
    files = v.names().length
    bytes = v.names().reduce((n, name) => n + v.get(name).file.content.length, 0)
    rssMiB = Math.max(rssMiB, process.memoryUsage().rss / 1048576)
    // A panic on a writable in-memory copy (RegionImage.fromBuffer: no file, so no flush I/O).
    const region = RegionImage.fromBuffer(Buffer.from(session.region.bytes))
    const machine = new SimulatedMachine(session.setup ?? session.config, region, session.machine.state)
    machine.boot()
    const [tPanic, result] = time(() => machine.crash({ reason: 'panic', message: 'bench' }))
    if (!result.stored) throw new Error(`${label}: the panic was not stored: ${result.why}`)
    open.push(tOpen)
    boot.push(tBoot)
    view.push(tView)
    panic.push(tPanic)
  }
  out.images[label] = {
    image,
    records,
    files,
    contentBytes: bytes,
    rssMiB,
    open: summary(open),
    boot: summary(boot),
    view: summary(view),
    panic: summary(panic),
  }
}

// Reed-Solomon parity of 1 MiB: 8192 blocks of 128 bytes, E = 16 (ramoops' ecc=1).
{
  const rs = reedSolomon(16)
  const data = Buffer.alloc(1 << 20)
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24
  const parity = Buffer.alloc((data.length / 128) * 16)
  const samples = []
  for (let r = 0; r <= Math.max(rounds, 5); r++) {
    const [t] = time(() => {
      for (let b = 0, p = 0; b < data.length; b += 128, p += 16) rs.encode(data.subarray(b, b + 128), parity.subarray(p, p + 16))
    })
    samples.push(t)
  }
  out.ecc.parity1MiB = summary(samples)
}
if (eccImage) {
  const samples = []
  let records = 0
  for (let r = 0; r <= rounds; r++) {
    const session = ImageSession.open(eccImage, {}, { readOnly: true })
    const [t, booted] = time(() => session.machine.boot())
    records = booted.records.length
    samples.push(t)
  }
  out.ecc.bootEccImage = { image: eccImage, records, ...summary(samples) }
}
out.rssMiB = process.memoryUsage().rss / 1048576
process.stdout.write(JSON.stringify(out) + '\n')
