/**
 * Reed–Solomon codec over GF(2^8) compatible with the Linux kernel's
 * lib/reed_solomon as configured by ramoops (fs/pstore/ram_core.c):
 *
 *   init_rs(symsize 8, poly 0x11D, fcr 0, prim 1, nroots E), n = 255.
 *
 * Code word layout (systematic, shortened): the `len` data bytes are the
 * polynomial coefficients from the highest degree down, followed by the E
 * parity bytes (x^(E-1) … x^0). A block shorter than 255 − E is a shortened
 * code: implicit zero symbols *in front* of the data (never trailing padding).
 *
 *   parity(x) = data(x) · x^E  mod  g(x),   g(x) = ∏_{i=0}^{E-1} (x − α^i),  α = 2.
 *
 * Decoder semantics (checked against the kernel's lib/reed_solomon/decode_rs.c
 * and fs/pstore/ram_core.c; this is an independent implementation):
 *
 * - Errors-only decoding (ramoops never passes erasures): syndromes,
 *   Berlekamp–Massey, Chien search, Forney, then a re-check that the error
 *   pattern reproduces every syndrome. Each failure path returns -1 where the
 *   kernel returns -EBADMSG: deg Λ = 0 with a non-zero syndrome, a root of Λ
 *   in the shortened (implicit zero) positions, number of roots ≠ deg Λ,
 *   or a syndrome mismatch of the computed error pattern.
 * - Return value = number of located symbols with a non-zero error value,
 *   counted in data *and* parity alike (decode_rs.c increments its counter
 *   for every error value before it looks at where the location lies).
 *   ramoops adds this to corrected_bytes, so parity errors are counted too.
 * - Parity corrections are not written back: persistent_ram_decode_rs8 copies
 *   the parity bytes into a scratch array (prz->ecc_info.par) and hands that
 *   to decode_rs8, so only the data bytes in RAM are fixed. `decode` therefore
 *   leaves `parity` untouched unless `fixParity` is true.
 * - Like the kernel, no separate "more than E/2 errors" test exists: a block
 *   is rejected only through the checks above (which do reject it in almost
 *   all cases with more than floor(E/2) errors; otherwise it miscorrects, as
 *   any bounded-distance decoder must). For E = 1 this means a single-symbol
 *   "correction" is made whenever the lone syndrome is non-zero — exactly what
 *   the kernel does too.
 */

import { EXP, gfMul, LOG, NN } from './galoisField.js'

export class ReedSolomon {
  readonly nroots: number
  /** Maximum data length of one block (255 − nroots). */
  readonly maxDataLength: number

  /** 32-bit words holding the parity shift register (ceil(nroots/4)). */
  private readonly words: number
  /**
   * Encoder table: for feedback byte f, words [f·W, f·W+W) hold the bytes
   * f·g_{E-1}, f·g_{E-2}, …, f·g_0 packed big-endian (byte j of the register
   * is bits 31−8(j mod 4) … of word j>>2); unused trailing bytes are 0.
   */
  private readonly encTable: Int32Array
  private readonly reg: Int32Array

  // Decoder scratch (no allocation per call).
  private readonly rem: Uint8Array
  private readonly syn: Uint8Array
  private readonly lambda: Uint8Array
  private readonly prev: Uint8Array // B(x) of Berlekamp–Massey
  private readonly tmp: Uint8Array
  private readonly omega: Uint8Array
  private readonly chien: Int32Array
  private readonly rootPow: Int32Array // i such that Λ(α^i) = 0
  private readonly errPos: Int32Array // position in the 255-symbol word
  private readonly errVal: Uint8Array

  constructor(nroots: number) {
    if (!Number.isInteger(nroots) || nroots < 1 || nroots > 254) {
      throw new RangeError(`Reed-Solomon nroots must be an integer in 1..254, got ${nroots}`)
    }
    this.nroots = nroots
    this.maxDataLength = NN - nroots

    // Generator polynomial, ascending coefficients gen[0..E], gen[E] = 1.
    const gen = new Uint8Array(nroots + 1)
    gen[0] = 1
    for (let i = 0; i < nroots; i++) {
      const root = EXP[i] // α^(fcr + i·prim) with fcr = 0, prim = 1
      // gen(x) ← gen(x) · (x + root)
      for (let j = i + 1; j > 0; j--) gen[j] = gen[j - 1] ^ gfMul(gen[j], root)
      gen[0] = gfMul(gen[0], root)
    }

    const W = (nroots + 3) >> 2
    this.words = W
    this.encTable = new Int32Array(256 * W)
    for (let f = 1; f < 256; f++) {
      for (let j = 0; j < nroots; j++) {
        const v = gfMul(f, gen[nroots - 1 - j])
        this.encTable[f * W + (j >> 2)] |= v << (24 - ((j & 3) << 3))
      }
    }
    this.reg = new Int32Array(W)

    this.rem = new Uint8Array(nroots)
    this.syn = new Uint8Array(nroots)
    this.lambda = new Uint8Array(nroots + 1)
    this.prev = new Uint8Array(nroots + 1)
    this.tmp = new Uint8Array(nroots + 1)
    this.omega = new Uint8Array(nroots + 1)
    this.chien = new Int32Array(nroots + 1)
    this.rootPow = new Int32Array(nroots + 1)
    this.errPos = new Int32Array(nroots + 1)
    this.errVal = new Uint8Array(nroots + 1)
  }

  private checkLengths(data: Uint8Array, parity: Uint8Array): void {
    const len = data.length
    if (len < 1 || len > this.maxDataLength) {
      throw new RangeError(`Reed-Solomon block length must be 1..${this.maxDataLength} for nroots=${this.nroots}, got ${len}`)
    }
    if (parity.length !== this.nroots) {
      throw new RangeError(`parity length must be ${this.nroots}, got ${parity.length}`)
    }
  }

  /** Runs the LFSR over `data`; leaves the remainder packed in `this.reg`. */
  private runRegister(data: Uint8Array): void {
    const T = this.encTable
    const len = data.length
    const W = this.words
    if (W === 4) {
      // E in 13..16 (ramoops default 16): keep the register in locals.
      let w0 = 0,
        w1 = 0,
        w2 = 0,
        w3 = 0
      for (let i = 0; i < len; i++) {
        const b = ((data[i] ^ (w0 >>> 24)) & 0xff) << 2
        w0 = ((w0 << 8) | (w1 >>> 24)) ^ T[b]
        w1 = ((w1 << 8) | (w2 >>> 24)) ^ T[b + 1]
        w2 = ((w2 << 8) | (w3 >>> 24)) ^ T[b + 2]
        w3 = (w3 << 8) ^ T[b + 3]
      }
      const r = this.reg
      r[0] = w0
      r[1] = w1
      r[2] = w2
      r[3] = w3
      return
    }
    if (W === 2) {
      let w0 = 0,
        w1 = 0
      for (let i = 0; i < len; i++) {
        const b = ((data[i] ^ (w0 >>> 24)) & 0xff) << 1
        w0 = ((w0 << 8) | (w1 >>> 24)) ^ T[b]
        w1 = (w1 << 8) ^ T[b + 1]
      }
      this.reg[0] = w0
      this.reg[1] = w1
      return
    }
    const r = this.reg
    r.fill(0)
    const last = W - 1
    for (let i = 0; i < len; i++) {
      const b = ((data[i] ^ (r[0] >>> 24)) & 0xff) * W
      for (let w = 0; w < last; w++) r[w] = ((r[w] << 8) | (r[w + 1] >>> 24)) ^ T[b + w]
      r[last] = (r[last] << 8) ^ T[b + last]
    }
  }

  /** Parity of `data` (length 1..255-nroots) written into `parity` (length nroots). */
  encode(data: Uint8Array, parity: Uint8Array): void {
    this.checkLengths(data, parity)
    this.runRegister(data)
    const r = this.reg
    const E = this.nroots
    for (let j = 0; j < E; j++) parity[j] = r[j >> 2] >>> (24 - ((j & 3) << 3))
  }

  /**
   * Errors-only decode in place: corrects `data` (parity is left as is unless
   * `fixParity`). Returns the number of corrected symbols in data and parity
   * (0 = clean), or -1 when the block is uncorrectable. Never throws for any
   * byte values (only for invalid lengths).
   */
  decode(data: Uint8Array, parity: Uint8Array, fixParity = false): number {
    this.checkLengths(data, parity)
    if (!this.remainder(data, parity)) return 0
    this.computeSyndromes()
    const deg = this.berlekampMassey()
    if (deg === 0) return -1
    const pad = NN - this.nroots - data.length
    const count = this.chienSearch(deg, pad)
    if (count !== deg) return -1
    const corrected = this.forney(deg, count)
    if (corrected < 0 || !this.errorsMatchSyndromes(count)) return -1
    const firstParity = NN - this.nroots
    for (let k = 0; k < count; k++) {
      const e = this.errVal[k]
      if (e === 0) continue
      const p = this.errPos[k]
      if (p < firstParity) data[p - pad] ^= e
      else if (fixParity) parity[p - firstParity] ^= e
    }
    return corrected
  }

  /**
   * received(x) = data(x)·x^E + parity(x) ≡ rem(x) (mod g), with
   * rem = (freshly computed parity) XOR (stored parity). Since g(α^i) = 0,
   * the syndromes S_i = received(α^i) = rem(α^i). False when rem is 0 (clean).
   */
  private remainder(data: Uint8Array, parity: Uint8Array): boolean {
    const E = this.nroots
    this.runRegister(data)
    const r = this.reg
    const rem = this.rem
    let any = 0
    for (let j = 0; j < E; j++) {
      const v = ((r[j >> 2] >>> (24 - ((j & 3) << 3))) ^ parity[j]) & 0xff
      rem[j] = v
      any |= v
    }
    return any !== 0
  }

  /** Syndromes S_i = Σ_j rem[j]·α^(i·(E−1−j)), i = 0..E−1 (Horner per root). */
  private computeSyndromes(): void {
    const E = this.nroots
    const rem = this.rem
    const syn = this.syn
    syn[0] = 0
    for (let j = 0; j < E; j++) syn[0] ^= rem[j]
    for (let i = 1; i < E; i++) {
      let s = 0
      for (let j = 0; j < E; j++) {
        s = (s === 0 ? 0 : EXP[LOG[s] + i]) ^ rem[j]
      }
      syn[i] = s
    }
  }

  /** Berlekamp–Massey: Λ(x) (lambda) and B(x) (prev), ascending coefficients. Answers deg Λ. */
  private berlekampMassey(): number {
    const E = this.nroots
    const syn = this.syn
    const lambda = this.lambda
    const prev = this.prev
    const tmp = this.tmp
    lambda.fill(0)
    prev.fill(0)
    lambda[0] = 1
    prev[0] = 1
    let L = 0
    for (let step = 1; step <= E; step++) {
      let d = 0
      for (let i = 0; i < step; i++) {
        const l = lambda[i]
        const s = syn[step - 1 - i]
        if (l !== 0 && s !== 0) d ^= EXP[LOG[l] + LOG[s]]
      }
      if (d === 0) {
        prev.copyWithin(1, 0, E)
        prev[0] = 0
        continue
      }
      const logD = LOG[d]
      // T(x) = Λ(x) − d·x·B(x)
      tmp[0] = lambda[0]
      for (let i = 0; i < E; i++) {
        const b = prev[i]
        tmp[i + 1] = b === 0 ? lambda[i + 1] : lambda[i + 1] ^ EXP[logD + LOG[b]]
      }
      if (2 * L <= step - 1) {
        L = step - L
        // B(x) = Λ(x) / d
        const invD = NN - logD
        for (let i = 0; i <= E; i++) {
          const l = lambda[i]
          prev[i] = l === 0 ? 0 : EXP[LOG[l] + invD]
        }
      } else {
        prev.copyWithin(1, 0, E)
        prev[0] = 0
      }
      lambda.set(tmp)
    }

    let deg = 0
    for (let i = 1; i <= E; i++) if (lambda[i] !== 0) deg = i
    return deg
  }

  /**
   * Chien search over the real positions only. Position p (0 = first symbol
   * of the full 255-symbol word, whose first `pad` symbols are the implicit
   * zeros of the shortened code) has locator X = α^(254−p); it is an error
   * location iff Λ(X⁻¹) = Λ(α^(p+1)) = 0. The kernel scans all 255
   * positions and fails on a root inside the implicit-zero part; scanning
   * only the real ones is equivalent because Λ has at most deg roots, so
   * "deg roots among the real positions" is exactly the kernel's success
   * condition. Answers the number of roots found (at most deg).
   */
  private chienSearch(deg: number, pad: number): number {
    const lambda = this.lambda
    const chien = this.chien
    const rootPow = this.rootPow
    const errPos = this.errPos
    const start = pad + 1
    for (let j = 1; j <= deg; j++) {
      chien[j] = lambda[j] === 0 ? -1 : (LOG[lambda[j]] + j * start) % NN
    }
    let count = 0
    for (let p = pad; p < NN; p++) {
      let q = 1 // λ_0 = 1
      for (let j = 1; j <= deg; j++) {
        const c = chien[j]
        if (c >= 0) {
          q ^= EXP[c]
          const n = c + j
          chien[j] = n >= NN ? n - NN : n
        }
      }
      if (q === 0) {
        rootPow[count] = (p + 1) % NN
        errPos[count] = p
        if (++count === deg) break
      }
    }
    return count
  }

  /**
   * Ω(x) = S(x)·Λ(x) mod x^deg, then Forney (fcr = 0): e = X^(1−fcr) · Ω(X⁻¹) / Λ'(X⁻¹),
   * X⁻¹ = α^rootPow. Answers the number of nonzero error values, or -1.
   */
  private forney(deg: number, count: number): number {
    const syn = this.syn
    const lambda = this.lambda
    const rootPow = this.rootPow
    const omega = this.omega
    for (let i = 0; i < deg; i++) {
      let v = 0
      for (let j = 0; j <= i; j++) {
        const s = syn[i - j]
        const l = lambda[j]
        if (s !== 0 && l !== 0) v ^= EXP[LOG[s] + LOG[l]]
      }
      omega[i] = v
    }

    const errVal = this.errVal
    let corrected = 0
    for (let k = 0; k < count; k++) {
      const ip = rootPow[k]
      let num = 0
      for (let i = 0; i < deg; i++) {
        const o = omega[i]
        if (o !== 0) num ^= EXP[(LOG[o] + i * ip) % NN]
      }
      if (num === 0) {
        errVal[k] = 0
        continue
      }
      // Λ'(x) = Σ_{m odd} λ_m x^(m−1) in characteristic 2.
      let den = 0
      for (let m = 1; m <= deg; m += 2) {
        const l = lambda[m]
        if (l !== 0) den ^= EXP[(LOG[l] + (m - 1) * ip) % NN]
      }
      if (den === 0) return -1 // cannot happen for distinct roots; be safe
      // X = α^(−ip)
      errVal[k] = EXP[(LOG[num] + (NN - ip) + (NN - LOG[den])) % NN]
      corrected++
    }
    return corrected
  }

  /** The error pattern must reproduce every syndrome: S_i = Σ_k e_k · X_k^i with X_k = α^(254 − p_k). */
  private errorsMatchSyndromes(count: number): boolean {
    const E = this.nroots
    const errVal = this.errVal
    const errPos = this.errPos
    for (let i = 0; i < E; i++) {
      let v = 0
      for (let k = 0; k < count; k++) {
        const e = errVal[k]
        if (e !== 0) v ^= EXP[(LOG[e] + i * (NN - 1 - errPos[k])) % NN]
      }
      if (v !== this.syn[i]) return false
    }
    return true
  }
}

const cache = new Map<number, ReedSolomon>()

/** Shared (cached) codec instance for `nroots` parity symbols. */
export function reedSolomon(nroots: number): ReedSolomon {
  let rs = cache.get(nroots)
  if (rs === undefined) {
    rs = new ReedSolomon(nroots)
    cache.set(nroots, rs)
  }
  return rs
}
