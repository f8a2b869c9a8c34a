/** CRC-32 (IEEE 802.3, reflected, as zlib's crc32 and edk2's CalculateCrc32). */
let table: Uint32Array | undefined

function makeTable(): Uint32Array {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
}

export function crc32(bytes: Uint8Array): number {
  table ??= makeTable()
  let c = 0xffffffff
  for (const byte of bytes) c = (table[(c ^ byte) & 0xff] as number) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
