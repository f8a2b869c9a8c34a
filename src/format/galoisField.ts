/**
 * GF(2^8) with the field polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and α = 2, as ramoops'
 * init_rs(8, 0x11d, …) builds it: log/antilog tables and the product (reedSolomon.ts codes over it).
 */

/** Symbols in a code word of GF(2^8): 2^8 − 1. */
export const NN = 255
const FIELD_POLY = 0x11d

/** EXP[i] = α^i for 0 ≤ i < 512 (doubled so sums of two logs need no modulo). */
export const EXP = new Uint8Array(512)
/** LOG[x] = log_α x for x ≠ 0 (LOG[0] is unused and kept 0). */
export const LOG = new Uint8Array(256)
{
  let x = 1
  for (let i = 0; i < NN; i++) {
    EXP[i] = x
    LOG[x] = i
    x <<= 1
    if (x & 0x100) x ^= FIELD_POLY
  }
  for (let i = NN; i < 512; i++) EXP[i] = EXP[i - NN]
}

export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]
}
