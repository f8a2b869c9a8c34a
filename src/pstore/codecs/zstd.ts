/**
 * zstd frames as the crypto API's "zstd" stores them (one frame, level 3, content size in the
 * header, no checksum), through @bokuweb/zstd-wasm: the reference zstd library compiled to
 * WebAssembly and shipped in the package (no native build, nothing downloaded at install).
 * The package instantiates its module asynchronously; a dump is written synchronously (as the
 * kernel's panic path), so the module is instantiated here at first use through Emscripten's
 * `instantiateWasm` hook, synchronously, from the package's own file.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

export type DecodeResult = { ok: true; data: Uint8Array } | { ok: false; reason: string }

interface ZstdModule {
  HEAPU8: Uint8Array
  _malloc(size: number): number
  _free(pointer: number): void
  _ZSTD_compressBound(size: number): number
  _ZSTD_compress(dst: number, capacity: number, src: number, size: number, level: number): number
  _ZSTD_decompress(dst: number, capacity: number, src: number, size: number): number
  _ZSTD_isError(code: number): number
  instantiateWasm?: (imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance) => void) => WebAssembly.Exports
  onRuntimeInitialized?: () => void
  init(): void
}

const require = createRequire(import.meta.url)
let zstdModule: ZstdModule | undefined

function loadZstd(): ZstdModule {
  if (zstdModule) return zstdModule
  const dir = path.dirname(require.resolve('@bokuweb/zstd-wasm'))
  const { Module } = require(path.join(dir, 'module.js')) as { Module: ZstdModule }
  let ready = false
  Module.instantiateWasm = (imports, receive) => {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path.join(dir, 'zstd.wasm'))), imports)
    receive(instance)
    return instance.exports
  }
  Module.onRuntimeInitialized = () => {
    ready = true
  }
  Module.init()
  if (!ready) throw new Error('@bokuweb/zstd-wasm did not initialise synchronously')
  zstdModule = Module
  return Module
}

/** zstd's default level, the one crypto/zstd.c compresses with. */
export const ZSTD_LEVEL = 3

/** ZSTD_compressBound() / zstd_compress_bound(): what the kernel sizes its scratch buffer by. */
export function zstdCompressBound(size: number): number {
  const small = size < 128 << 10 ? ((128 << 10) - size) >> 11 : 0
  return size + (size >> 8) + small
}

function withBuffers<T>(z: ZstdModule, input: Uint8Array, capacity: number, run: (src: number, dst: number) => T): T {
  const src = z._malloc(Math.max(1, input.length))
  const dst = z._malloc(Math.max(1, capacity))
  try {
    z.HEAPU8.set(input, src)
    return run(src, dst)
  } finally {
    z._free(src)
    z._free(dst)
  }
}

/** One frame at level 3. */
export function zstdCompress(input: Uint8Array): Uint8Array {
  const z = loadZstd()
  const capacity = z._ZSTD_compressBound(input.length)
  return withBuffers(z, input, capacity, (src, dst) => {
    const size = z._ZSTD_compress(dst, capacity, src, input.length, ZSTD_LEVEL)
    if (z._ZSTD_isError(size)) throw new Error(`zstd: compression failed (${size})`)
    return z.HEAPU8.slice(dst, dst + size)
  })
}

/** Decodes into at most `limit` bytes, failing where the kernel's zstd_decompress_dctx() does. */
export function zstdDecompress(input: Uint8Array, limit: number): DecodeResult {
  const z = loadZstd()
  return withBuffers(z, input, limit, (src, dst) => {
    const size = z._ZSTD_decompress(dst, limit, src, input.length)
    if (z._ZSTD_isError(size)) return { ok: false, reason: `zstd: not a frame that decodes into the kernel's ${limit}-byte buffer` }
    return { ok: true, data: z.HEAPU8.slice(dst, dst + size) }
  })
}
