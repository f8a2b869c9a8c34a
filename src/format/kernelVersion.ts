/**
 * The target kernel's version, and every format or behaviour difference that depends on it.
 *
 * pstore's on-RAM format changed in small ways over the years (zone order, even zone sizes,
 * compression, notice text...). Each difference is a named quirk derived from the version, so a
 * setup can also override a single quirk when a vendor or stable tree backported it.
 */
export interface KernelVersion {
  major: number
  minor: number
  patch: number
}

export const DEFAULT_KERNEL = '6.12.0'

export function parseKernelVersion(text: string): KernelVersion {
  const match = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~][\w.+~-]*)?\s*$/.exec(text)
  if (!match) {
    throw new RangeError(`invalid kernel version "${text}": expected major.minor.patch, e.g. 6.12.0 or 6.1.192`)
  }
  const version = { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) }
  if (version.major > 255 || version.minor > 255) {
    throw new RangeError(`invalid kernel version "${text}": major and minor must be below 256`)
  }
  return version
}

export function formatKernelVersion(v: KernelVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`
}

/** LINUX_VERSION_CODE: the sublevel is clamped to 255 (include/generated/uapi/linux/version.h). */
export function linuxVersionCode(v: KernelVersion): number {
  return (v.major << 16) + (v.minor << 8) + Math.min(v.patch, 255)
}

/** Negative, zero or positive like a comparator: `atLeast(v, 6, 2)` reads better, see below. */
export function compareVersion(a: KernelVersion, major: number, minor: number, patch = 0): number {
  return a.major - major || a.minor - minor || a.patch - patch
}

export function atLeast(v: KernelVersion, major: number, minor: number, patch = 0): boolean {
  return compareVersion(v, major, minor, patch) >= 0
}

/** The compression stream a kernel writes and reads for dmesg records (docs/ramoops-format.md §6.3). */
export type CompressionFlavour =
  | 'zlib-raw-15' // 6.6+: zlib library, raw deflate, window 2^15, read limit 3 x bufsize
  | 'crypto-deflate-11' // ~4.17..6.5: crypto API "deflate": raw, window 2^11, scratch buffer sized by ratio
  | 'zlib-wrapped-12' // 3.11..~4.16: zlib library with header and adler32, window 2^12

export interface KernelQuirks {
  /** 6.2+ places pmsg before ftrace; older kernels ftrace before pmsg. */
  pmsgBeforeFtrace: boolean
  /** d49270a04623 (6.8, backported to stable trees): dmesg and ftrace zone sizes rounded down to even. */
  evenZoneSizes: boolean
  /** 6.6 "Check start of empty przs" (and stable backports): a zone with size 0 but start != 0 is invalid and zapped. */
  emptyZoneChecksStart: boolean
  compression: CompressionFlavour
  /** 5.18 prefixed the ECC notice with "ECC: ". */
  eccNoticePrefix: boolean
}

/**
 * Stable trees that received the even-zone-size fix (upstream d49270a04623, Cc: stable).
 * The first stable release carrying it per branch; Debian's 6.1.192 (the fixtures) has it.
 * A vendor tree that differs can override the quirk in its setup.
 */
const EVEN_ZONE_BACKPORTS: Record<string, number> = { '6.7': 3, '6.6': 15, '6.1': 76, '5.15': 148, '5.10': 209 }

/**
 * Stable trees that received "pstore/ram: Check start of empty przs during init" (upstream in
 * 6.6, CVE-2023-53331): the first stable release carrying it per branch.
 */
const EMPTY_START_BACKPORTS: Record<string, number> = { '6.5': 3, '6.4': 16, '6.1': 53, '5.15': 132, '5.10': 195, '5.4': 257, '4.19': 295, '4.14': 326 }

function hasFix(v: KernelVersion, mainline: [number, number], backports: Record<string, number>): boolean {
  const first = backports[`${v.major}.${v.minor}`]
  return atLeast(v, mainline[0], mainline[1]) || (first !== undefined && v.patch >= first)
}

export function quirksFor(v: KernelVersion): KernelQuirks {
  return {
    pmsgBeforeFtrace: atLeast(v, 6, 2),
    evenZoneSizes: hasFix(v, [6, 8], EVEN_ZONE_BACKPORTS),
    emptyZoneChecksStart: hasFix(v, [6, 6], EMPTY_START_BACKPORTS),
    compression: atLeast(v, 6, 6) ? 'zlib-raw-15' : atLeast(v, 4, 17) ? 'crypto-deflate-11' : 'zlib-wrapped-12',
    eccNoticePrefix: atLeast(v, 5, 18),
  }
}

/** What pstore.compress= names (CONFIG_PSTORE_*_COMPRESS): the crypto API's algorithms 4.19–6.5, deflate alone from 6.6. */
export type CompressAlgorithm = 'deflate' | 'lzo' | 'lz4' | 'lz4hc' | '842' | 'zstd'
export const COMPRESS_ALGORITHMS: readonly CompressAlgorithm[] = ['deflate', 'lzo', 'lz4', 'lz4hc', '842', 'zstd']
/** pstore.compress's values: an algorithm, or none (records stored as text). */
export type CompressChoice = CompressAlgorithm | 'none'
export const COMPRESS_CHOICES: readonly CompressChoice[] = [...COMPRESS_ALGORITHMS, 'none']

/**
 * Why kernel `v` cannot compress pstore records with `choice`, or undefined when it can. 4.19
 * (pstore compressing through the crypto API with a runtime choice) to 6.5 take every
 * algorithm; 6.6 kept deflate alone (it logs "Unsupported compression" and falls back to
 * deflate); kernels before 4.19 are modelled with deflate only.
 */
export function compressChoiceRefusal(v: KernelVersion, choice: string): string | undefined {
  if (!(COMPRESS_CHOICES as readonly string[]).includes(choice)) return `unknown compression "${choice}" (${COMPRESS_CHOICES.join(', ')})`
  if (choice === 'deflate' || choice === 'none') return undefined
  const kernel = formatKernelVersion(v)
  if (atLeast(v, 6, 6))
    return `kernel ${kernel} compresses pstore records with deflate only (6.6 replaced the crypto API's lzo, lz4, lz4hc, 842 and zstd with zlib; pstore.compress=${choice} falls back to deflate there): use deflate or none, or a 4.19–6.5 kernel`
  if (!atLeast(v, 4, 19)) return `compression ${choice} is modelled for kernels 4.19 to 6.5, not ${kernel}: use deflate or none`
  return undefined
}
