/**
 * Benchmark of the ramoops Reed–Solomon codec (E = 16, 128-byte blocks).
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench-ecc.js [rounds]
 *
 * Measures, interleaved within every round (order rotated per round) and
 * reported as the median over the rounds (default 11, minimum 9):
 *   - table-driven encode (src/reedSolomon.ts) of a 1 MiB region's blocks
 *   - naive encode: schoolbook polynomial long division with bitwise GF(2^8)
 *     multiplication (written here, shares nothing with the codec)
 *   - decode of every block with 0 errors
 *   - decode of every block with 8 symbol errors (the E = 16 maximum)
 */
import { reedSolomon } from '../src/format/reedSolomon.js'

const E = 16
const BLOCK = 128
const REGION = 1 << 20 // 1 MiB
const BLOCKS = REGION / BLOCK
const rounds = Math.max(9, Number.parseInt(process.argv[2] ?? '11', 10) || 11)

// ---------------------------------------------------------------- naive codec
function bitMul(a: number, b: number): number {
  let r = 0
  while (b !== 0) {
    if (b & 1) r ^= a
    a <<= 1
    if (a & 0x100) a ^= 0x11d
    b >>>= 1
  }
  return r
}

/** Monic generator ∏_{i<E} (x − 2^i), highest degree first. */
function naiveGenerator(nroots: number): Uint8Array {
  let g = Uint8Array.of(1)
  let root = 1
  for (let i = 0; i < nroots; i++) {
    const next = new Uint8Array(g.length + 1)
    for (let j = 0; j < g.length; j++) {
      next[j] ^= g[j]
      next[j + 1] ^= bitMul(g[j], root)
    }
    g = next
    root = bitMul(root, 2)
  }
  return g
}

const GEN = naiveGenerator(E)
const work = new Uint8Array(255)

/** (msg · x^E) mod g by long division, bitwise multiplication. */
function naiveEncode(data: Uint8Array, parity: Uint8Array): void {
  const len = data.length
  work.set(data)
  work.fill(0, len, len + E)
  for (let i = 0; i < len; i++) {
    const c = work[i]
    if (c === 0) continue
    for (let j = 1; j <= E; j++) work[i + j] ^= bitMul(GEN[j], c)
  }
  parity.set(work.subarray(len, len + E))
}

// ---------------------------------------------------------------- fixtures
let seed = 0x12345678
function rand(): number {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 4294967296
}

const rs = reedSolomon(E)
const data = new Uint8Array(REGION)
for (let i = 0; i < REGION; i++) data[i] = (rand() * 256) | 0
const parity = new Uint8Array(BLOCKS * E)
const naiveParity = new Uint8Array(BLOCKS * E)

const blockOf = (buf: Uint8Array, b: number) => buf.subarray(b * BLOCK, (b + 1) * BLOCK)
const parOf = (buf: Uint8Array, b: number) => buf.subarray(b * E, (b + 1) * E)

// Views are created once so the timed loops measure the codec, not subarray().
const dataViews = Array.from({ length: BLOCKS }, (_, b) => blockOf(data, b))
const parViews = Array.from({ length: BLOCKS }, (_, b) => parOf(parity, b))
const naiveParViews = Array.from({ length: BLOCKS }, (_, b) => parOf(naiveParity, b))

for (let b = 0; b < BLOCKS; b++) rs.encode(dataViews[b], parViews[b])
const cleanParity = parity.slice()

// Decode inputs: a clean copy and a copy with 8 symbol errors per block.
const dec0Data = new Uint8Array(REGION)
const dec0Par = new Uint8Array(BLOCKS * E)
const dec8Data = new Uint8Array(REGION)
const dec8Par = new Uint8Array(BLOCKS * E)
const bad8Data = data.slice()
const bad8Par = cleanParity.slice()
for (let b = 0; b < BLOCKS; b++) {
  const used = new Set<number>()
  while (used.size < 8) used.add((rand() * (BLOCK + E)) | 0)
  for (const p of used) {
    const v = 1 + ((rand() * 255) | 0)
    if (p < BLOCK) bad8Data[b * BLOCK + p] ^= v
    else bad8Par[b * E + p - BLOCK] ^= v
  }
}
const dec0DataViews = Array.from({ length: BLOCKS }, (_, b) => blockOf(dec0Data, b))
const dec0ParViews = Array.from({ length: BLOCKS }, (_, b) => parOf(dec0Par, b))
const dec8DataViews = Array.from({ length: BLOCKS }, (_, b) => blockOf(dec8Data, b))
const dec8ParViews = Array.from({ length: BLOCKS }, (_, b) => parOf(dec8Par, b))

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

// ---------------------------------------------------------------- cases
interface Case {
  name: string
  /** untimed preparation */
  prepare?: () => void
  run: () => number
  /** untimed check of the run's result */
  verify: (result: number) => void
  samples: number[]
}

const cases: Case[] = [
  {
    name: 'encode, table (ReedSolomon)',
    prepare: () => parity.fill(0),
    run: () => {
      for (let b = 0; b < BLOCKS; b++) rs.encode(dataViews[b], parViews[b])
      return 0
    },
    verify: () => {
      if (!equal(parity, cleanParity)) throw new Error('table encode mismatch')
    },
    samples: [],
  },
  {
    name: 'encode, naive (bitwise division)',
    prepare: () => naiveParity.fill(0),
    run: () => {
      for (let b = 0; b < BLOCKS; b++) naiveEncode(dataViews[b], naiveParViews[b])
      return 0
    },
    verify: () => {
      if (!equal(naiveParity, cleanParity)) throw new Error('naive encode mismatch')
    },
    samples: [],
  },
  {
    name: 'decode, 0 errors/block',
    prepare: () => {
      dec0Data.set(data)
      dec0Par.set(cleanParity)
    },
    run: () => {
      let n = 0
      for (let b = 0; b < BLOCKS; b++) n += rs.decode(dec0DataViews[b], dec0ParViews[b])
      return n
    },
    verify: (n) => {
      if (n !== 0) throw new Error(`clean decode returned ${n}`)
    },
    samples: [],
  },
  {
    name: 'decode, 8 errors/block',
    prepare: () => {
      dec8Data.set(bad8Data)
      dec8Par.set(bad8Par)
    },
    run: () => {
      let n = 0
      for (let b = 0; b < BLOCKS; b++) n += rs.decode(dec8DataViews[b], dec8ParViews[b])
      return n
    },
    verify: (n) => {
      if (n !== 8 * BLOCKS || !equal(dec8Data, data)) throw new Error(`8-error decode: ${n}`)
    },
    samples: [],
  },
]

function measure(c: Case, record: boolean): void {
  c.prepare?.()
  const t0 = process.hrtime.bigint()
  const result = c.run()
  const t1 = process.hrtime.bigint()
  c.verify(result)
  if (record) c.samples.push(Number(t1 - t0) / 1e6)
}

// warm-up (JIT), not recorded
for (const c of cases) measure(c, false)
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < cases.length; k++) measure(cases[(k + r) % cases.length], true)
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const MiB = REGION / (1 << 20)
const tableMs = median(cases[0].samples)
const naiveMs = median(cases[1].samples)

console.log(`Reed-Solomon E=${E}, ${BLOCKS} blocks of ${BLOCK} bytes (${MiB} MiB), ` + `median of ${rounds} interleaved rounds, node ${process.version}`)
console.log('')
const header = ['operation', 'ms/MiB (median)', 'min', 'max', 'MiB/s']
const rows = cases.map((c) => {
  const med = median(c.samples) / MiB
  return [c.name, med.toFixed(2), (Math.min(...c.samples) / MiB).toFixed(2), (Math.max(...c.samples) / MiB).toFixed(2), (1000 / med).toFixed(1)]
})
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
console.log(line(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(line(r))
console.log('')
console.log(`encode speed-up (naive / table): ${(naiveMs / tableMs).toFixed(1)}x`)
