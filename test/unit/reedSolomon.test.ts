import t from 'tap'
import { ReedSolomon, reedSolomon } from '../../src/format/reedSolomon.js'

// ---------------------------------------------------------------------------
// Independent slow reference: bitwise GF(2^8) multiply + polynomial long division
// ---------------------------------------------------------------------------

function slowMul(a: number, b: number): number {
  let r = 0
  while (b) {
    if (b & 1) r ^= a
    a <<= 1
    if (a & 0x100) a ^= 0x11d
    b >>= 1
  }
  return r
}

function slowPow(a: number, e: number): number {
  let r = 1
  for (let i = 0; i < e; i++) r = slowMul(r, a)
  return r
}

/** Generator polynomial, highest degree first (monic): ∏ (x − 2^i), i < E. */
function slowGenerator(E: number): number[] {
  let g = [1]
  for (let i = 0; i < E; i++) {
    const root = slowPow(2, i)
    const next = new Array<number>(g.length + 1).fill(0)
    for (let j = 0; j < g.length; j++) {
      next[j] ^= g[j] // · x
      next[j + 1] ^= slowMul(g[j], root)
    }
    g = next
  }
  return g
}

/** (msg(x) · x^E) mod g(x) by schoolbook long division. */
function slowParity(msg: Uint8Array, E: number): Uint8Array {
  const g = slowGenerator(E)
  const work = [...msg, ...new Array<number>(E).fill(0)]
  for (let i = 0; i < msg.length; i++) {
    const coef = work[i]
    if (coef === 0) continue
    for (let j = 0; j < g.length; j++) work[i + j] ^= slowMul(g[j], coef)
  }
  return Uint8Array.from(work.slice(msg.length))
}

/** Evaluate the received word (data ‖ parity) at 2^i: the syndrome S_i. */
function slowSyndrome(word: Uint8Array, i: number): number {
  const x = slowPow(2, i)
  let s = 0
  for (const b of word) s = slowMul(s, x) ^ b
  return s
}

// Seeded PRNG (mulberry32)
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let z = a
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296
  }
}
const randInt = (rnd: () => number, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1))
function randBytes(rnd: () => number, n: number): Uint8Array {
  const u = new Uint8Array(n)
  for (let i = 0; i < n; i++) u[i] = Math.floor(rnd() * 256)
  return u
}
/** k distinct positions in [0, n). */
function randPositions(rnd: () => number, n: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i)
  for (let i = 0; i < k; i++) {
    const j = randInt(rnd, i, n - 1)
    ;[all[i], all[j]] = [all[j], all[i]]
  }
  return all.slice(0, k)
}
/** XOR non-zero values at `positions` of the word data ‖ parity. */
function corrupt(rnd: () => number, data: Uint8Array, parity: Uint8Array, positions: number[]): void {
  for (const p of positions) {
    const v = randInt(rnd, 1, 255)
    if (p < data.length) data[p] ^= v
    else parity[p - data.length] ^= v
  }
}

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex')
const fromHex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'))
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts))
const eq = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

// ---------------------------------------------------------------------------

t.test('spec test vectors (E=16)', async (t) => {
  const rs = reedSolomon(16)
  const hello = new TextEncoder().encode('hello')
  const vectors: [Uint8Array, string][] = [
    [fromHex('44424743 00000000 00000000'), 'aa25d52132e2353a385519c02bcbad5f'],
    [fromHex('44424743 05000000 05000000'), '125ca27e16ae0367152a685174cb9762'],
    [new Uint8Array(128), '00000000000000000000000000000000'],
    [concat(hello, new Uint8Array(123)), '7328581736de7db676a0b1ae56cb5253'],
    [hello, 'e81fbd0f8b4a8c73533b819fc7a85555'],
  ]
  for (const [data, want] of vectors) {
    const par = new Uint8Array(16)
    rs.encode(data, par)
    t.equal(hex(par), want, `encode ${data.length} bytes`)
    t.equal(hex(slowParity(data, 16)), want, 'slow reference agrees')
    t.equal(rs.decode(data.slice(), par.slice()), 0, 'clean block decodes to 0')
  }
})

t.test('constructor / cache / argument checks', async (t) => {
  for (const bad of [0, -1, 255, 256, 1.5, NaN]) {
    t.throws(() => new ReedSolomon(bad), RangeError, `nroots ${bad}`)
  }
  t.equal(new ReedSolomon(1).nroots, 1)
  t.equal(new ReedSolomon(254).nroots, 254)
  t.equal(reedSolomon(16), reedSolomon(16), 'cached instance')
  t.not(reedSolomon(16), reedSolomon(8))
  const rs = reedSolomon(16)
  t.throws(() => rs.encode(new Uint8Array(0), new Uint8Array(16)), RangeError, 'empty block')
  t.throws(() => rs.encode(new Uint8Array(240), new Uint8Array(16)), RangeError, 'len + E > 255')
  t.throws(() => rs.encode(new Uint8Array(10), new Uint8Array(15)), RangeError, 'parity length')
  t.throws(() => rs.decode(new Uint8Array(240), new Uint8Array(16)), RangeError)
  t.doesNotThrow(() => rs.encode(new Uint8Array(239), new Uint8Array(16)), 'len 239 ok')
})

t.test('table encoder equals slow long division for several E', async (t) => {
  const rnd = prng(0xc0ffee)
  for (const E of [1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 17, 24, 32, 64, 100, 254]) {
    const rs = new ReedSolomon(E)
    const par = new Uint8Array(E)
    const trials = E === 8 || E === 16 ? 300 : 40
    let ok = 0
    for (let n = 0; n < trials; n++) {
      const len = n === 0 ? 1 : n === 1 ? 255 - E : n === 2 ? Math.min(128, 255 - E) : randInt(rnd, 1, 255 - E)
      const data = randBytes(rnd, len)
      rs.encode(data, par)
      if (eq(par, slowParity(data, E))) ok++
      else t.fail(`E=${E} len=${len} mismatch`)
    }
    t.equal(ok, trials, `E=${E}: ${trials} blocks match`)
  }
})

t.test('codewords have zero syndromes at 2^0..2^(E-1) (fcr=0, prim=1)', async (t) => {
  const rnd = prng(7)
  for (const E of [8, 16]) {
    const rs = reedSolomon(E)
    const data = randBytes(rnd, 100)
    const par = new Uint8Array(E)
    rs.encode(data, par)
    const word = concat(data, par)
    const syn = Array.from({ length: E }, (_, i) => slowSyndrome(word, i))
    t.same(syn, new Array(E).fill(0), `E=${E}`)
    t.not(slowSyndrome(word, E), 0, `2^${E} is not a root`)
  }
})

t.test('shortened blocks: implicit leading zeros, not trailing padding', async (t) => {
  const rnd = prng(42)
  const rs = reedSolomon(16)
  for (let n = 0; n < 50; n++) {
    const len = randInt(rnd, 1, 127)
    const data = randBytes(rnd, len)
    const a = new Uint8Array(16)
    const b = new Uint8Array(16)
    const c = new Uint8Array(16)
    rs.encode(data, a)
    rs.encode(concat(new Uint8Array(randInt(rnd, 1, 239 - len)), data), b)
    rs.encode(concat(data, new Uint8Array(128 - len)), c)
    t.ok(eq(a, b), 'leading zeros do not change parity')
    if (data.some((x) => x !== 0)) t.notOk(eq(a, c), 'trailing padding gives different parity')
  }
})

t.test('encode/decode on subarray views of a bigger buffer', async (t) => {
  const rnd = prng(99)
  const region = Buffer.alloc(4096)
  region.set(randBytes(rnd, 4096))
  const rs = reedSolomon(16)
  const data = region.subarray(100, 228)
  const parity = region.subarray(3000, 3016)
  rs.encode(data, parity)
  t.equal(hex(parity), hex(slowParity(new Uint8Array(data), 16)))
  const saved = Buffer.from(data)
  data[5] ^= 0x40
  data[77] ^= 0xff
  parity[3] ^= 1
  t.equal(rs.decode(data, parity), 3, 'two data + one parity error counted')
  t.ok(saved.equals(data), 'data restored in place')
  t.equal(parity[3], slowParity(new Uint8Array(saved), 16)[3] ^ 1, 'parity left as is (kernel semantics)')
})

t.test('decode corrects <= E/2 errors in data and parity', async (t) => {
  const rnd = prng(0x5eed)
  const Es = [16, 8, 1, 2, 3, 5, 6, 7, 9, 13, 20, 32]
  for (const E of Es) {
    const rs = new ReedSolomon(E)
    const tcap = E >> 1
    const trials = E === 16 || E === 8 ? 3000 : 400
    let ok = 0
    for (let n = 0; n < trials; n++) {
      const len = randInt(rnd, 1, Math.min(128, 255 - E))
      const orig = randBytes(rnd, len)
      const origPar = new Uint8Array(E)
      rs.encode(orig, origPar)
      const data = orig.slice()
      const par = origPar.slice()
      const w = randInt(rnd, 0, Math.min(tcap, len + E))
      const positions = randPositions(rnd, len + E, w)
      corrupt(rnd, data, par, positions)
      const corruptedPar = par.slice()
      const fix = (n & 1) === 1
      const ret = rs.decode(data, par, fix)
      const good = ret === w && eq(data, orig) && (fix ? eq(par, origPar) : eq(par, corruptedPar))
      if (good) ok++
      else t.fail(`E=${E} len=${len} errors=${positions} -> ${ret}`)
    }
    t.equal(ok, trials, `E=${E}: ${trials} random blocks restored with exact count`)
  }
})

t.test('E=16, exactly 8 errors incl. all-parity and all-data patterns', async (t) => {
  const rnd = prng(1234)
  const rs = reedSolomon(16)
  const orig = randBytes(rnd, 128)
  const origPar = new Uint8Array(16)
  rs.encode(orig, origPar)
  const patterns = [
    [128, 129, 130, 131, 132, 133, 134, 135], // parity only
    [136, 137, 138, 139, 140, 141, 142, 143],
    [0, 1, 2, 3, 4, 5, 6, 7], // data only, first bytes
    [0, 20, 40, 60, 80, 100, 127, 143],
  ]
  for (const pos of patterns) {
    const data = orig.slice()
    const par = origPar.slice()
    corrupt(rnd, data, par, pos)
    t.equal(rs.decode(data, par, true), 8, `pattern ${pos}`)
    t.ok(eq(data, orig) && eq(par, origPar))
  }
})

t.test('beyond capacity: E/2+1..E errors -> -1 or miscorrection, never a throw', async (t) => {
  for (const E of [16, 8]) {
    const rnd = prng(0xbad + E)
    const rs = reedSolomon(E)
    const tcap = E >> 1
    const trials = 20000
    let failed = 0
    let miscorrected = 0
    let restored = 0
    let threw = 0
    let notCodeword = 0
    const check = new Uint8Array(E)
    for (let n = 0; n < trials; n++) {
      const len = randInt(rnd, 1, 128)
      const orig = randBytes(rnd, len)
      const origPar = new Uint8Array(E)
      rs.encode(orig, origPar)
      const data = orig.slice()
      const par = origPar.slice()
      const w = randInt(rnd, tcap + 1, Math.min(E, len + E))
      corrupt(rnd, data, par, randPositions(rnd, len + E, w))
      let ret: number
      try {
        ret = rs.decode(data, par, true)
      } catch {
        threw++
        continue
      }
      if (ret < 0) {
        failed++
        continue
      }
      // whatever it returns must at least be a codeword
      rs.encode(data, check)
      if (!eq(check, par)) notCodeword++
      if (eq(data, orig)) restored++
      else miscorrected++
    }
    t.comment(
      `E=${E}, ${trials} trials with ${tcap + 1}..${E} errors: ` +
        `uncorrectable ${((100 * failed) / trials).toFixed(3)}%, ` +
        `silent miscorrection ${((100 * miscorrected) / trials).toFixed(3)}% (${miscorrected}), ` +
        `restored anyway ${restored}`,
    )
    t.equal(threw, 0, `E=${E}: never throws`)
    t.equal(notCodeword, 0, `E=${E}: any accepted result is a codeword`)
    t.ok(miscorrected / trials < 0.05, `E=${E}: miscorrection rate < 5%`)
  }
})

t.test('errors located in the shortened (implicit-zero) part -> -1', async (t) => {
  const rs = reedSolomon(16)
  const hello = new TextEncoder().encode('hello')

  // Encode a 6-byte block [a, "hello"]: its parity belongs to a code word whose
  // symbol just in front of "hello" is a ≠ 0. Presented as a 5-byte block, the
  // received word is exactly one symbol away from that code word, and the
  // error sits in position pad−1: inside the implicit zeros.
  const longer = concat(Uint8Array.of(0x5a), hello)
  const par = new Uint8Array(16)
  rs.encode(longer, par)
  const data = hello.slice()
  t.equal(rs.decode(data, par.slice()), -1, 'single error in the shortened part')
  t.ok(eq(data, hello), 'data untouched on failure')

  // The same word decoded as a 6-byte block (leading symbol 0) corrects it.
  const six = concat(Uint8Array.of(0), hello)
  t.equal(rs.decode(six, par.slice()), 1, 'as a 6-byte block: one correction')
  t.ok(eq(six, longer))

  // Random: k ≤ E/2 non-zero symbols in the implicit part plus up to E/2 − k
  // real errors: the unique nearest code word needs a non-zero implicit
  // symbol, so the decoder must refuse.
  const rnd = prng(555)
  let refused = 0
  const trials = 2000
  for (let n = 0; n < trials; n++) {
    const len = randInt(rnd, 1, 128)
    const extra = randInt(rnd, 1, 255 - 16 - len)
    const k = randInt(rnd, 1, Math.min(8, extra))
    const prefix = new Uint8Array(extra)
    for (const p of randPositions(rnd, extra, k)) prefix[p] = randInt(rnd, 1, 255)
    const body = randBytes(rnd, len)
    const p2 = new Uint8Array(16)
    rs.encode(concat(prefix, body), p2)
    const d = body.slice()
    corrupt(rnd, d, p2, randPositions(rnd, len + 16, randInt(rnd, 0, Math.min(8 - k, len + 16))))
    const before = d.slice()
    const ret = rs.decode(d, p2)
    if (ret === -1 && eq(d, before)) refused++
    else t.fail(`len=${len} extra=${extra} k=${k} -> ${ret}`)
  }
  t.equal(refused, trials, 'all refused, data untouched')
})

t.test('extreme sizes', async (t) => {
  // E = 254: one data byte, 127 correctable symbols.
  const rs254 = reedSolomon(254)
  const d = Uint8Array.of(0x99)
  const p = new Uint8Array(254)
  rs254.encode(d, p)
  t.equal(hex(p), hex(slowParity(d, 254)))
  const rnd = prng(3)
  const dd = d.slice()
  const pp = p.slice()
  corrupt(rnd, dd, pp, randPositions(rnd, 255, 127))
  t.equal(rs254.decode(dd, pp), 127)
  t.equal(dd[0], 0x99)

  // E = 1 (t = 0): like the kernel there is no separate capacity check. The
  // lone syndrome S0 equals the error value e, Berlekamp–Massey yields
  // Λ(x) = 1 + e·x, whose root puts the "error" at degree log2(e) with value e.
  // Inside the word that is a (wrong) one-symbol "correction"; beyond it,
  // the location is in the implicit-zero part and the block is refused.
  const rs1 = reedSolomon(1)
  const long = randBytes(rnd, 200)
  const par = new Uint8Array(1)
  rs1.encode(long, par)
  const bad = long.slice()
  bad[1] ^= 0x10 // log2(0x10) = 4 -> degree 4 = data index 200 + 1 - 1 - 4
  t.equal(rs1.decode(bad, par.slice()), 1, 'E=1: one symbol "corrected"')
  const expect = long.slice()
  expect[1] ^= 0x10
  expect[196] ^= 0x10
  t.ok(eq(bad, expect), 'E=1: ...at the position the syndrome points to')
  const abc = new TextEncoder().encode('abc')
  const p1 = new Uint8Array(1)
  rs1.encode(abc, p1)
  const abcBad = abc.slice()
  abcBad[1] ^= 0x10 // degree 4 is outside a 4-symbol word
  t.equal(rs1.decode(abcBad, p1.slice()), -1, 'E=1: location in the shortened part -> -1')
})

t.test('fuzz: arbitrary bytes never throw, results in {-1} ∪ [0, E]', async (t) => {
  const rnd = prng(0xf00d)
  let bad = 0
  for (let n = 0; n < 3000; n++) {
    const E = randInt(rnd, 1, 40)
    const rs = reedSolomon(E)
    const len = randInt(rnd, 1, 255 - E)
    const data = randBytes(rnd, len)
    const par = randBytes(rnd, E)
    try {
      const r = rs.decode(data, par, rnd() < 0.5)
      if (!(r === -1 || (Number.isInteger(r) && r >= 0 && r <= E))) bad++
    } catch {
      bad++
    }
  }
  t.equal(bad, 0)
})
