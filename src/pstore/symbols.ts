/**
 * A kernel symbol table built from `System.map`, resolving addresses the way the kernel's
 * kallsyms does for `%ps` / `%pS` (used by the ftrace text of `ftrace-ramoops-0`).
 *
 * Which symbols kallsyms keeps (scripts/kallsyms.c, 6.1 .. 6.12):
 * - Ignored outright: undefined (`U`/`u`), debugging (`N`/`n`) and absolute (`A`/`a`) symbols,
 *   a few names that vary between link passes (`kallsyms_*`, `_SDA_BASE_`...), toolchain thunks
 *   and stubs (`__efistub_`, `__kcfi_typeid_`, `*_veneer`...) and local labels / ARM mapping
 *   symbols (`.L*`, `$*`, normally already dropped by mksysmap when System.map is written).
 * - Without CONFIG_KALLSYMS_ALL (the default, and the fixture kernel): **the symbol type does not
 *   matter, the address does**. Only symbols inside [_stext, _etext] or [_sinittext, _einittext]
 *   (both ends inclusive, so `_etext` / `_einittext` themselves are symbols) are kept, except
 *   other symbols sitting exactly on `_etext` / `_einittext`. In a real System.map these are the
 *   `t`, `T` and `W` symbols of .text and .init.text; weak `W` symbols are kept like any other
 *   (`w`, weak undefined, never reaches System.map). Data symbols are not kallsyms symbols.
 * - With CONFIG_KALLSYMS_ALL (`{ allSymbols: true }`): every non-ignored symbol.
 *
 * Aliases (several symbols at one address): kallsyms sorts by address, then non-weak before weak,
 * then names that do not look linker-provided (`__start_*`, `__stop_*`, `__end_*`, `__*_start`,
 * `__*_end`) first, then fewer leading underscores, then System.map order; a lookup reports the
 * first of the run. Example: `_stext` and `_text` share an address, `_stext` wins (map order).
 *
 * Lookup (kernel/kallsyms.c): an address is resolvable only if it lies in [_stext, _etext) or
 * [_sinittext, _einittext) (KALLSYMS_ALL: [_stext, _end) or [__init_begin, __init_end)). Then the
 * symbol is the last one at or below it, its size is the distance to the next symbol with a higher
 * address, or, if there is none, to the end of its section (_einittext, _end or _etext).
 * Anything else (modules, BPF, ftrace trampolines do not exist here) is unknown and printed by
 * vsprintf as `0x%lx` (lowercase hex, no padding).
 *
 * Hand-made maps without `_stext`/`_etext` (tests, synthetic kernels): kallsyms would keep
 * nothing. As a documented fallback, the text symbols (types t, T, w, W) are kept and the
 * highest-addressed one plays the role of `_etext`: it ends the symbol before it, and addresses
 * at or after it are unknown. Inittext is handled the same way only when both of its markers exist.
 */
import { readFile } from 'node:fs/promises'
import { PstoreSimError } from '../util/errors.js'

export interface KernelSymbol {
  address: bigint
  name: string
  size: bigint
}

export interface SymbolTableOptions {
  /** CONFIG_KALLSYMS_ALL: keep data symbols too (lookup range becomes [_stext, _end)). */
  allSymbols?: boolean
}

export interface SymbolLookup {
  name: string
  offset: bigint
  size: bigint
}

interface RawSymbol {
  address: bigint
  type: string
  name: string
  order: number
}

interface Range {
  start: bigint
  /** exclusive */
  end: bigint
}

const U64_MAX = (1n << 64n) - 1n

const IGNORED_NAMES = new Set([
  'kallsyms_addresses',
  'kallsyms_offsets',
  'kallsyms_relative_base',
  'kallsyms_num_syms',
  'kallsyms_names',
  'kallsyms_markers',
  'kallsyms_token_table',
  'kallsyms_token_index',
  'kallsyms_seqs_of_names',
  '_SDA_BASE_',
  '_SDA2_BASE_',
])
const IGNORED_PREFIXES = [
  '__efistub_',
  '__kvm_nvhe_$',
  '__kvm_nvhe_.L',
  '__AArch64ADRPThunk_',
  '__ARMV5PILongThunk_',
  '__ARMV7PILongThunk_',
  '__ThumbV7PILongThunk_',
  '__LA25Thunk_',
  '__microLA25Thunk_',
  '__kcfi_typeid_',
  '$',
  '.L',
]
const IGNORED_SUFFIXES = ['_from_arm', '_from_thumb', '_veneer']
const IGNORED_INFIXES = ['.long_branch.', '.plt_branch.']
/** Absolute symbols kallsyms keeps on purpose (ia64 / parisc). */
const KEPT_ABSOLUTE = new Set(['__kernel_syscall_via_break', '__kernel_syscall_via_epc', '__kernel_sigtramp', '__gp'])

function isIgnored(name: string, type: string): boolean {
  if (IGNORED_NAMES.has(name)) return true
  if (IGNORED_PREFIXES.some((p) => name.startsWith(p))) return true
  if (IGNORED_SUFFIXES.some((s) => name.endsWith(s))) return true
  if (IGNORED_INFIXES.some((s) => name.includes(s))) return true
  if (type === 'U' || type === 'u' || type === 'N' || type === 'n') return true
  if ((type === 'A' || type === 'a') && !KEPT_ABSOLUTE.has(name)) return true
  return false
}

function isWeak(s: RawSymbol): boolean {
  return s.type === 'w' || s.type === 'W'
}

/** scripts/kallsyms.c's guess for symbols a linker script provides (sorted after real ones). */
function looksLinkerProvided(name: string): boolean {
  if (name.length < 8 || !name.startsWith('__')) return false
  return name.startsWith('__start_') || name.startsWith('__stop_') || name.startsWith('__end_') || name.endsWith('_start') || name.endsWith('_end')
}

function leadingUnderscores(name: string): number {
  let n = 0
  while (n < name.length && name[n] === '_') n++
  return n
}

function compareKallsyms(a: RawSymbol, b: RawSymbol): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1
  const wa = Number(isWeak(a))
  const wb = Number(isWeak(b))
  if (wa !== wb) return wa - wb
  const la = Number(looksLinkerProvided(a.name))
  const lb = Number(looksLinkerProvided(b.name))
  if (la !== lb) return la - lb
  const ua = leadingUnderscores(a.name)
  const ub = leadingUnderscores(b.name)
  if (ua !== ub) return ua - ub
  return a.order - b.order
}

const LINE_RE = /^([0-9A-Fa-f]+)[ \t]+(\S)[ \t]+(\S+)$/

function hex(v: bigint): string {
  return v.toString(16)
}

/** A System.map that cannot be read or used; the message names the file (and line). */
export class SymbolMapError extends PstoreSimError {
  override name = 'SymbolMapError'
}

export class SymbolTable {
  /** kallsyms' table: kept symbols in kallsyms order, sizes as a lookup at their address reports. */
  readonly symbols: readonly KernelSymbol[]
  private readonly addresses: bigint[]
  private readonly names: string[]
  private readonly ranges: Range[]
  private readonly initRange: Range | undefined
  private readonly fallbackEnd: bigint

  private constructor(sorted: RawSymbol[], ranges: Range[], initRange: Range | undefined, fallbackEnd: bigint) {
    this.addresses = sorted.map((s) => s.address)
    this.names = sorted.map((s) => s.name)
    this.ranges = ranges
    this.initRange = initRange
    this.fallbackEnd = fallbackEnd
    const symbols: KernelSymbol[] = []
    for (let i = 0; i < sorted.length; i++) {
      const address = sorted[i].address
      symbols.push({ address, name: sorted[i].name, size: this.symbolEnd(i, address) - address })
    }
    this.symbols = symbols
  }

  /**
   * Parses `System.map` text: one `<hex address> <type> <name>` per line (blank lines and a
   * trailing CR are tolerated). `fileName` only labels error messages.
   */
  static parseSystemMap(text: string, fileName = 'System.map', options: SymbolTableOptions = {}): SymbolTable {
    const raw: RawSymbol[] = []
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i]
      if (line.trim() === '') continue
      const m = LINE_RE.exec(line.trim())
      if (!m) {
        throw new SymbolMapError(
          `${fileName}:${i + 1}: malformed System.map line ${JSON.stringify(line)} ` + '(expected "<hex address> <type letter> <symbol name>")',
        )
      }
      if (m[1].length > 16) {
        throw new SymbolMapError(`${fileName}:${i + 1}: address ${m[1]} does not fit in 64 bits`)
      }
      raw.push({ address: BigInt('0x' + m[1]), type: m[2], name: m[3], order: raw.length })
    }
    if (raw.length === 0) {
      throw new SymbolMapError(`${fileName}: no symbols found (empty System.map?)`)
    }
    return SymbolTable.build(raw, options, fileName)
  }

  /** Reads and parses a System.map file; errors name the file. */
  static async load(path: string, options: SymbolTableOptions = {}): Promise<SymbolTable> {
    let text: string
    try {
      text = await readFile(path, 'latin1')
    } catch (err) {
      throw new SymbolMapError(`cannot read symbol map ${path}: ${(err as Error).message}`, undefined, { cause: err })
    }
    return SymbolTable.parseSystemMap(text, path, options)
  }

  private static build(all: RawSymbol[], options: SymbolTableOptions, fileName: string): SymbolTable {
    const candidates = all.filter((s) => !isIgnored(s.name, s.type))
    // scripts/kallsyms.c remembers the last occurrence of each marker among non-ignored symbols
    const marker = new Map<string, bigint>()
    for (const s of candidates) marker.set(s.name, s.address)
    const stext = marker.get('_stext')
    const etext = marker.get('_etext')
    const sinit = marker.get('_sinittext')
    const einit = marker.get('_einittext')
    const hasText = stext !== undefined && etext !== undefined
    const hasInit = sinit !== undefined && einit !== undefined

    let kept: RawSymbol[]
    const ranges: Range[] = []
    let initRange: Range | undefined
    let fallbackEnd = 0n

    if (options.allSymbols) {
      kept = candidates
      const end = marker.get('_end')
      if (stext === undefined || end === undefined) {
        throw new SymbolMapError(`${fileName}: _stext or _end missing, cannot emulate CONFIG_KALLSYMS_ALL`)
      }
      ranges.push({ start: stext, end })
      const ib = marker.get('__init_begin')
      const ie = marker.get('__init_end')
      if (ib !== undefined && ie !== undefined) ranges.push({ start: ib, end: ie })
      if (hasInit) {
        initRange = { start: sinit, end: einit }
        ranges.push(initRange)
      }
      fallbackEnd = end
    } else if (hasText) {
      const inRange = (a: bigint): boolean => (a >= stext && a <= etext) || (hasInit && a >= sinit && a <= einit)
      kept = candidates.filter(
        (s) => inRange(s.address) && !(s.address === etext && s.name !== '_etext') && !(hasInit && s.address === einit && s.name !== '_einittext'),
      )
      ranges.push({ start: stext, end: etext })
      if (hasInit) {
        initRange = { start: sinit, end: einit }
        ranges.push(initRange)
      }
      fallbackEnd = etext
    } else {
      kept = candidates.filter((s) => 'tTwW'.includes(s.type))
      if (kept.length > 0) {
        let lo = kept[0].address
        let hi = kept[0].address
        for (const s of kept) {
          if (s.address < lo) lo = s.address
          if (s.address > hi) hi = s.address
        }
        ranges.push({ start: lo, end: hi })
        fallbackEnd = hi
      }
    }
    kept = [...kept].sort(compareKallsyms)
    return new SymbolTable(kept, ranges, initRange, fallbackEnd)
  }

  private resolvable(address: bigint): boolean {
    return this.ranges.some((r) => address >= r.start && address < r.end)
  }

  /** Index of the first symbol of the alias run holding the last address <= `address`. */
  private position(address: bigint): number {
    let lo = 0
    let hi = this.addresses.length
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2)
      if (this.addresses[mid] <= address) lo = mid
      else hi = mid
    }
    while (lo > 0 && this.addresses[lo - 1] === this.addresses[lo]) lo--
    return lo
  }

  private symbolEnd(index: number, addressForSection: bigint): bigint {
    const start = this.addresses[index]
    for (let i = index + 1; i < this.addresses.length; i++) {
      if (this.addresses[i] > start) return this.addresses[i]
    }
    if (this.initRange && addressForSection >= this.initRange.start && addressForSection < this.initRange.end) {
      return this.initRange.end
    }
    // no next symbol: the section end (_etext, or _end with KALLSYMS_ALL); never below the start
    return this.fallbackEnd > start ? this.fallbackEnd : start
  }

  /** kallsyms_lookup(): the symbol containing `address`, or undefined when kallsyms has none. */
  lookup(address: bigint): SymbolLookup | undefined {
    checkAddress(address)
    if (this.addresses.length === 0 || !this.resolvable(address)) return undefined
    const index = this.position(address)
    const start = this.addresses[index]
    if (start > address) return undefined
    return { name: this.names[index], offset: address - start, size: this.symbolEnd(index, address) - start }
  }

  /** `%ps`: the symbol name, or `0x<hex>` for an address kallsyms cannot resolve. */
  formatShort(address: bigint): string {
    const hit = this.lookup(address)
    return hit ? hit.name : `0x${hex(address)}`
  }

  /** `%pS`: `name+0x<off>/0x<size>` (the kernel's `%#lx` prints 0 as `0x0`), or `0x<hex>`. */
  formatLong(address: bigint): string {
    const hit = this.lookup(address)
    return hit ? `${hit.name}+0x${hex(hit.offset)}/0x${hex(hit.size)}` : `0x${hex(address)}`
  }
}

function checkAddress(address: bigint): void {
  if (typeof address !== 'bigint' || address < 0n || address > U64_MAX) {
    throw new RangeError(`address ${String(address)} is not an unsigned 64-bit value`)
  }
}

/** `%ps` / `%pS` without a symbol table: what the kernel prints for an address kallsyms lacks. */
export function formatUnknownAddress(address: bigint): string {
  checkAddress(address)
  return `0x${hex(address)}`
}
