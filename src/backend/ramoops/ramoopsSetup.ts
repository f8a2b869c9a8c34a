/**
 * One typed description of a ramoops setup (docs/ramoops-format.md §1), built from module parameters, a
 * kernel command line or a device-tree node, then normalised the way ramoops_probe() does.
 */
import { KMSG_DUMP } from '../../pstore/record.js'
import {
  type Frontends,
  fieldProblem,
  ProbeError,
  parseKernelInteger,
  type TargetOptions,
  type TargetSetup,
  target,
  targetProblem,
  targetSetupJson,
} from '../target.js'

// The target's half of a setup is every backend's (backend/target.ts); kept importable from here.
export { type Frontends, ProbeError, parseKernelInteger, type TargetOptions, target }

/** The ramoops module parameters, as numbers. Absent = the module's default. */
export interface ModuleParams {
  mem_address?: number
  mem_size?: number
  record_size?: number
  console_size?: number
  ftrace_size?: number
  pmsg_size?: number
  ecc?: number
  max_reason?: number
  dump_oops?: number
}

/** A setup after probe normalisation: everything the layout and the record code need. */
export interface RamoopsSetup extends TargetSetup {
  backend: 'ramoops'
  source: 'module' | 'devicetree'
  memAddress: number
  memSize: number
  recordSize: number
  consoleSize: number
  ftraceSize: number
  pmsgSize: number
  /** Parity bytes per ECC block; 0 = ECC off. */
  eccSize: number
  eccBlockSize: number
  maxReason: number
  ftracePerCpu: boolean
}

/**
 * Where a ramoops setup comes from, as the sidecar keeps it: module parameters, a kernel command
 * line or a device tree (its text, and the file it was read from), and the target.
 */
export interface RamoopsSource {
  backend: 'ramoops'
  params?: ModuleParams
  cmdline?: string
  dts?: string
  dtsFile?: string
  target: TargetOptions
}

/** A ramoops setup as JSON (the sidecar's `resolved`, `inspect --json`): the platform data's fields, then the target's. */
export type RamoopsSetupJson = ReturnType<typeof ramoopsSetupJson>

const MODULE_PARAM_NAMES = ['mem_address', 'mem_size', 'record_size', 'console_size', 'ftrace_size', 'pmsg_size', 'ecc', 'max_reason', 'dump_oops'] as const

/** `ramoops.mem_size=0x100000 ramoops.record_size=0x8000 …`: the ramoops.* words; others are ignored. */
export function parseCmdline(cmdline: string): { params: ModuleParams; pstore: { compress?: string; kmsgBytes?: number } } {
  const params: ModuleParams = {}
  const pstore: { compress?: string; kmsgBytes?: number } = {}
  for (const word of cmdline.trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=')
    if (eq < 0) continue
    const key = word.slice(0, eq)
    const value = word.slice(eq + 1).replace(/^"(.*)"$/, '$1')
    if (key.startsWith('ramoops.')) {
      const name = key.slice('ramoops.'.length).replace(/-/g, '_')
      if (name === 'mem_type' || name === 'mem_name') continue // no effect on the format
      if (!(MODULE_PARAM_NAMES as readonly string[]).includes(name)) {
        throw new ProbeError(`unknown ramoops parameter "${key}" on the command line (known: ${MODULE_PARAM_NAMES.join(', ')})`)
      }
      params[name as keyof ModuleParams] = parseKernelInteger(value, key)
    } else if (key === 'pstore.compress') {
      pstore.compress = value
    } else if (key === 'pstore.kmsg_bytes') {
      pstore.kmsgBytes = parseKernelInteger(value, key)
    }
  }
  return { params, pstore }
}

/** ramoops_register_dummy(): module parameters → platform data (docs/ramoops-format.md §1.1). */
export function fromModuleParams(params: ModuleParams, options: TargetOptions = {}): RamoopsSetup {
  for (const name of MODULE_PARAM_NAMES) {
    const value = params[name]
    // NaN or a fraction would otherwise slip through the defaults below and reach the sidecar.
    if (value !== undefined && !Number.isSafeInteger(value)) throw new ProbeError(`${name} ${value} is not a whole number`)
  }
  const memSize = params.mem_size ?? 0
  if (memSize === 0) {
    throw new ProbeError('mem_size is 0: ramoops ignores its module parameters entirely (set mem_size, e.g. 0x100000)')
  }
  const maxReason =
    params.max_reason !== undefined && params.max_reason >= 0
      ? params.max_reason
      : params.dump_oops !== undefined && params.dump_oops !== -1
        ? params.dump_oops
          ? KMSG_DUMP.oops
          : KMSG_DUMP.panic
        : KMSG_DUMP.oops
  const ecc = params.ecc ?? 0
  return normalise({
    backend: 'ramoops',
    source: 'module',
    memAddress: params.mem_address ?? 0,
    memSize,
    recordSize: params.record_size ?? 4096,
    consoleSize: params.console_size ?? 4096,
    ftraceSize: params.ftrace_size ?? 4096,
    pmsgSize: params.pmsg_size ?? 4096,
    eccSize: ecc === 1 ? 16 : ecc, // "ecc=1" historically means 16 parity bytes
    eccBlockSize: 128,
    maxReason,
    ftracePerCpu: true, // module parameters always ask for per-CPU ftrace zones
    ...target(options),
  })
}

/** A ramoops setup from its source: its device tree, command line or module parameters. */
export function fromRamoopsSource(source: RamoopsSource): RamoopsSetup {
  if (source.dts !== undefined) return fromDts(source.dts, source.target, source.dtsFile ?? 'device tree')
  if (source.cmdline !== undefined) return fromCmdline(source.cmdline, source.target)
  return fromModuleParams(source.params ?? {}, source.target)
}

/** Why an object read from a sidecar is not a RamoopsSource (the values are checked when it is resolved). */
export function ramoopsSourceProblem(o: Record<string, unknown>): string | undefined {
  return (
    fieldProblem('setup', o, { params: 'object', cmdline: 'string', dts: 'string', dtsFile: 'string' }) ??
    fieldProblem('setup.params', (o.params ?? {}) as Record<string, unknown>, Object.fromEntries(MODULE_PARAM_NAMES.map((n) => [n, 'number' as const]))) ??
    targetProblem(o)
  )
}

export function fromCmdline(cmdline: string, options: TargetOptions = {}): RamoopsSetup {
  const { params, pstore } = parseCmdline(cmdline)
  return fromModuleParams(params, { compress: pstore.compress, ...options })
}

// ---------------------------------------------------------------------------------------------
// Device tree

interface DtNode {
  name: string
  props: Map<string, string | null>
  children: DtNode[]
  parent?: DtNode
}

/**
 * Comments out, in one left-to-right pass (each comment is searched for once: linear, whatever
 * the input; the regex it replaces backtracked on unterminated comments).
 */
function stripComments(text: string): string {
  let out = ''
  let i = 0
  // The next opener of each kind, searched again only once passed: every search is linear.
  let block = text.indexOf('/*')
  let line = text.indexOf('//')
  while (block >= 0 || line >= 0) {
    const isBlock = line < 0 || (block >= 0 && block < line)
    const next = isBlock ? block : line
    const end = isBlock ? text.indexOf('*/', next + 2) : text.indexOf('\n', next + 2)
    if (end < 0) {
      // An unterminated /* stays (a parse error later); a last // line goes.
      if (isBlock) break
      out += text.slice(i, next)
      i = text.length
      break
    }
    out += text.slice(i, next) + ' '
    i = isBlock ? end + 2 : end
    if (block >= 0 && block < i) block = text.indexOf('/*', i)
    if (line >= 0 && line < i) line = text.indexOf('//', i)
  }
  return out + text.slice(i)
}

const CLOSERS: Record<string, string> = { '"': '"', '<': '>', '[': ']' }

/**
 * A small .dts reader: enough for node names, `name = <cells>;`, `name = "text";` and `name;`.
 * A hand-written scanner that looks at every character once, so that no input (a hostile or
 * truncated file) can make it slow.
 */
export function parseDtsTree(text: string, fileName = 'device tree'): DtNode {
  const src = stripComments(text)
  const root: DtNode = { name: '', props: new Map(), children: [] }
  let node = root
  let i = 0
  const skipSpace = () => {
    while (i < src.length && /\s/.test(src[i])) i++
  }
  const fail = (at: number, what: string) => new ProbeError(`${fileName}: ${what} near offset ${at}: "${src.slice(at, at + 40).trim()}"`)
  for (skipSpace(); i < src.length; skipSpace()) {
    const statementStart = i
    if (src[i] === '}') {
      if (!node.parent) throw new ProbeError(`${fileName}: unbalanced "}" near offset ${i}`)
      node = node.parent
      i++
      skipSpace()
      if (src[i] === ';') i++
      continue
    }
    while (i < src.length && !'{};='.includes(src[i])) i++
    const name = src.slice(statementStart, i).trim()
    if (!name || i >= src.length) throw fail(statementStart, 'cannot read the device tree')
    let value: string | undefined
    if (src[i] === '=') {
      const valueStart = ++i
      while (i < src.length && !';{}'.includes(src[i])) {
        const closer = CLOSERS[src[i]]
        if (closer === undefined) {
          i++
          continue
        }
        const end = src.indexOf(closer, i + 1)
        if (end < 0) throw fail(i, `unterminated ${src[i]}…${closer}`)
        i = end + 1
      }
      if (i >= src.length) throw fail(statementStart, 'cannot read the device tree')
      value = src.slice(valueStart, i).trim()
    }
    const terminator = src[i++]
    if (terminator === '{') {
      const child: DtNode = { name: name.replace(/^[\w-]+:\s*/, ''), props: new Map(), children: [], parent: node }
      node.children.push(child)
      node = child
    } else if (terminator === ';') {
      if (!name.startsWith('/')) node.props.set(name, value ?? null) // skip /dts-v1/; and friends
    } else {
      throw new ProbeError(`${fileName}: unexpected "}" after "${name}"`)
    }
  }
  if (node !== root) throw new ProbeError(`${fileName}: a node is not closed with "};"`)
  return root
}

function cells(value: string | null | undefined, prop: string, fileName: string): number[] {
  if (value === null || value === undefined) return []
  const m = /^<([^>]*)>$/.exec(value.trim())
  if (!m) throw new ProbeError(`${fileName}: property ${prop} must be <cells>, found ${value}`)
  return m[1]
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((c) => {
      if (!/^(0x[0-9a-fA-F]+|\d+)$/.test(c)) throw new ProbeError(`${fileName}: property ${prop}: "${c}" is not a number`)
      return Number(c)
    })
}

function findRamoops(root: DtNode): DtNode | undefined {
  // Depth first, in document order, without recursion: a deeply nested file cannot overflow the stack.
  const stack = [root]
  while (stack.length) {
    const node = stack.pop()!
    if (node.props.get('compatible')?.includes('"ramoops"')) return node
    for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i])
  }
  return undefined
}

/** ramoops_parse_dt() (docs/ramoops-format.md §1.2): device-tree defaults differ from module parameters. */
export function fromDts(text: string, options: TargetOptions = {}, fileName = 'device tree'): RamoopsSetup {
  const node = findRamoops(parseDtsTree(text, fileName))
  if (!node) throw new ProbeError(`${fileName}: no node with compatible = "ramoops"`)
  const parent = node.parent
  // of_n_addr_cells()/of_n_size_cells(): the nearest ancestor that says, else the root default 1.
  const inherited = (prop: string): number => {
    for (let n = parent; n; n = n.parent) {
      if (n.props.has(prop)) return cells(n.props.get(prop), prop, fileName)[0] ?? 1
    }
    return 1
  }
  const addressCells = inherited('#address-cells')
  const sizeCells = inherited('#size-cells')
  const reg = cells(node.props.get('reg'), 'reg', fileName)
  if (reg.length < addressCells + sizeCells) {
    throw new ProbeError(
      `${fileName}: ${node.name}: reg needs ${addressCells} address and ${sizeCells} size cells, found ${reg.length} (failed to locate DT /reserved-memory resource)`,
    )
  }
  const join = (parts: number[]) => parts.reduce((acc, c) => acc * 2 ** 32 + c, 0)
  const memAddress = join(reg.slice(0, addressCells))
  const memSize = join(reg.slice(addressCells, addressCells + sizeCells))

  const u32 = (prop: string, fallback: number): number => {
    if (!node.props.has(prop)) return fallback
    const value = cells(node.props.get(prop), prop, fileName)
    if (value.length !== 1) throw new ProbeError(`${fileName}: failed to parse property ${prop}: expected one 32-bit cell`)
    if (value[0] > 0x7fffffff) throw new ProbeError(`${fileName}: ${prop} ${value[0]} > INT_MAX: the kernel refuses the node`)
    return value[0]
  }
  let consoleSize = u32('console-size', 0)
  let pmsgSize = u32('pmsg-size', 0)
  const recordSize = u32('record-size', 0)
  const ftraceSize = u32('ftrace-size', 0)
  const eccSize = u32('ecc-size', 0)
  const flags = u32('flags', 0)
  const maxReason = u32('max-reason', node.props.has('no-dump-oops') ? KMSG_DUMP.panic : KMSG_DUMP.oops)
  // Old Chromebooks put ramoops outside /reserved-memory and relied on console/pmsg = record size.
  const parentName = (parent?.name ?? '').replace(/@.*$/, '')
  if (parentName !== 'reserved-memory' && !consoleSize && !ftraceSize && !pmsgSize && !eccSize) {
    consoleSize = recordSize
    pmsgSize = recordSize
  }
  return normalise({
    backend: 'ramoops',
    source: 'devicetree',
    memAddress,
    memSize,
    recordSize,
    consoleSize,
    ftraceSize,
    pmsgSize,
    eccSize,
    eccBlockSize: 128,
    maxReason,
    ftracePerCpu: (flags & 1) !== 0,
    ...target(options),
  })
}

// ---------------------------------------------------------------------------------------------

function roundDownPow2(n: number): number {
  if (n <= 0) return n
  return 2 ** Math.floor(Math.log2(n))
}

/** ramoops_probe()'s checks and rounding (docs/ramoops-format.md §1.3). */
export function normalise(setup: RamoopsSetup): RamoopsSetup {
  const sizes = ['memSize', 'recordSize', 'consoleSize', 'ftraceSize', 'pmsgSize'] as const
  for (const key of sizes) {
    const v = setup[key]
    if (!Number.isSafeInteger(v) || v < 0) throw new ProbeError(`${key} must be a non-negative whole number of bytes, not ${v}`)
  }
  if (setup.memSize > 2 ** 40) throw new ProbeError(`mem_size ${setup.memSize} is absurdly large (over 1 TiB)`)
  if (!setup.memSize || (!setup.recordSize && !setup.consoleSize && !setup.ftraceSize && !setup.pmsgSize)) {
    throw new ProbeError('The memory size and the record/console size must be non-zero')
  }
  if (!Number.isInteger(setup.eccSize) || setup.eccSize < 0 || setup.eccSize > 127) {
    throw new ProbeError(
      `ecc size ${setup.eccSize} is invalid: use 0 (off), 1 (= 16) or 2..127 parity bytes (a 128-byte block plus its parity must fit a 255-byte Reed-Solomon codeword)`,
    )
  }
  if (!Number.isInteger(setup.maxReason) || setup.maxReason < 0 || setup.maxReason > 0x7fffffff) {
    throw new ProbeError(`max_reason ${setup.maxReason} is invalid`)
  }
  return {
    ...setup,
    recordSize: roundDownPow2(setup.recordSize),
    consoleSize: roundDownPow2(setup.consoleSize),
    ftraceSize: roundDownPow2(setup.ftraceSize),
    pmsgSize: roundDownPow2(setup.pmsgSize),
  }
}

export function ramoopsSetupJson(setup: RamoopsSetup) {
  const { backend, kernel: _k, cpus: _c, wordBits: _w, frontends: _f, compress: _z, compressAlgorithm: _a, quirks: _q, ...own } = setup
  return { backend, ...own, ...targetSetupJson(setup) }
}

const hex = (n: number) => '0x' + n.toString(16)

/** What a boot with this setup logs after the version line: its command line, then ramoops' probe. */
export function ramoopsBootLines(setup: RamoopsSetup): string[] {
  const params = `ramoops.mem_address=${hex(setup.memAddress)} ramoops.mem_size=${hex(setup.memSize)} ramoops.record_size=${hex(setup.recordSize)} ramoops.console_size=${hex(setup.consoleSize)} ramoops.ftrace_size=${hex(setup.ftraceSize)} ramoops.pmsg_size=${hex(setup.pmsgSize)} ramoops.ecc=${setup.eccSize}`
  return [
    `Command line: console=ttyS0,115200 ${params}`,
    `ramoops: using ${setup.source === 'module' ? 'module parameters' : 'device tree'}`,
    `pstore: Using crash dump compression: ${setup.compress ? setup.compressAlgorithm : 'none'}`,
    'pstore: Registered ramoops as persistent store backend',
    `ramoops: using ${hex(setup.memSize)}@${hex(setup.memAddress)}, ecc: ${setup.eccSize}`,
  ]
}
