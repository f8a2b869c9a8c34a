/**
 * efi-pstore's read pass over a variable store, variable by variable, with what the kernel does
 * with each and why (drivers/firmware/efi/efi-pstore.c, 6.1 and 6.2+): efi_pstore_read() walks
 * GetNextVariableName() with a fixed name buffer (1024 bytes on 6.1, 512 on 6.2+), skips
 * variables of another vendor GUID, and hands each crash-GUID variable to efi_pstore_read_func(),
 * which parses the name with sscanf() and reads the data with GetVariable() into a
 * record_size buffer. Any error and any return of 0 is a read of size ≤ 0, which ends
 * pstore_get_backend_records(): every later variable is never read. The firmware (OVMF) returns
 * no deleted variable, and of a variable being replaced only the new copy. Two views of one
 * pass: `kernelReadPass` drives OVMF's variable services as the kernel does (the records), and
 * `efiReadWalk` says of every variable in the store what happens to it and why (the verdicts).
 */
import { DUMP_NAME_LEN, type DumpName, parseDumpName } from './dumpName.js'
import { getNextVariableName, VariableIndex } from './services.js'
import { guidText, isLive, type StoredVariable, VAR_ADDED } from './varstore.js'

/**
 * What the target kernel's boot does with one variable: lists it as a file, shows it as `.enc.z`
 * (decompress_record() failed), ends the read pass at it, never reads it (the pass ended before),
 * ignores it (deleted, or replaced), skips it (not efi-pstore's GUID), or drops it as a second
 * record of the same id (pstore_mkfile(): -EEXIST).
 */
export type EfiFate = 'lists' | 'enc.z' | 'ends-read-pass' | 'not-read' | 'ignored' | 'skipped' | 'duplicate'

export interface EfiVariableVerdict {
  fate: EfiFate
  /** The kernel (or firmware) function that decides it. */
  kernel: string
  why: string
  /** The file the variable becomes, when it becomes one. */
  file?: string
}

export interface ReadStep {
  variable: StoredVariable
  verdict: EfiVariableVerdict
  /** The parsed name, for a variable the pass reads as a record. */
  dump?: DumpName
}

export interface ReadPassOptions {
  /** efi_pstore_read()'s GetNextVariableName() buffer: 1024 bytes (6.1), 512 (6.2+). */
  nameBuffer: number
  /** record_size: the GetVariable() buffer (1024 on 6.1). */
  bufsize: number
  crashGuid: Buffer
}

const END = 'a read of size ≤ 0 ends pstore_get_backend_records(): no later variable is read'

/** The walk's verdict on one variable the firmware returns, or undefined when it becomes a record. */
function stopOrSkip(v: StoredVariable, o: ReadPassOptions): EfiVariableVerdict | 'record' {
  if (v.nameSize > o.nameBuffer)
    return {
      fate: 'ends-read-pass',
      kernel: `efi_pstore_read(): GetNextVariableName() into a ${o.nameBuffer}-byte name buffer fails (EFI_BUFFER_TOO_SMALL); ${END}`,
      why: `its name takes ${v.nameSize} bytes`,
    }
  if (!v.guid.equals(o.crashGuid))
    return {
      fate: 'skipped',
      kernel: 'efi_pstore_read(): "skip variables that don\'t concern us" (not LINUX_EFI_CRASH_GUID)',
      why: `firmware's variable (vendor ${guidText(v.guid)})`,
    }
  if (!parseDumpName(v.name))
    return {
      fate: 'ends-read-pass',
      kernel: `efi_pstore_read_func(): no sscanf() format matches, it returns 0; ${END}`,
      why: `the crash-GUID name "${v.name}" is not dump-type<type>-<part>-<count>-<seconds>[-C|D] (nor the old dump-type<type>-<part>-<seconds>)`,
    }
  if (v.dataSize > o.bufsize)
    return {
      fate: 'ends-read-pass',
      kernel: `efi_pstore_read_func(): GetVariable() into a record_size buffer fails (EFI_BUFFER_TOO_SMALL); ${END}`,
      why: `its ${v.dataSize} bytes are more than record_size ${o.bufsize}`,
    }
  if (v.dataSize === 0)
    return { fate: 'ends-read-pass', kernel: `efi_pstore_read_func() returns its size, 0; ${END}`, why: 'a crash-GUID variable with no data' }
  return 'record'
}

/** Every variable in store order with its fate; the records (`dump` set) in the kernel's order. */
export function efiReadWalk(variables: StoredVariable[], o: ReadPassOptions): ReadStep[] {
  const added = new Map<string, StoredVariable>()
  for (const v of variables) if (v.state === VAR_ADDED) added.set(`${v.guid.toString('hex')}:${v.name}`, v)
  let endedAt: StoredVariable | undefined
  return variables.map((variable): ReadStep => {
    const state = `State 0x${variable.state.toString(16)}`
    if (!isLive(variable.state))
      return {
        variable,
        verdict: {
          fate: 'ignored',
          kernel: 'GetNextVariableName() (OVMF) never returns a deleted variable',
          why: `${state}: deleted; its bytes stay until the firmware reclaims the store at a boot`,
        },
      }
    const twin = variable.state !== VAR_ADDED ? added.get(`${variable.guid.toString('hex')}:${variable.name}`) : undefined
    if (twin)
      return {
        variable,
        verdict: {
          fate: 'ignored',
          kernel: 'OVMF returns the VAR_ADDED copy of a variable being replaced',
          why: `${state}: in delete transition, replaced by the variable at 0x${twin.offset.toString(16)}`,
        },
      }
    if (endedAt)
      return {
        variable,
        verdict: {
          fate: 'not-read',
          kernel: 'pstore_get_backend_records()',
          why: `the read pass ended at 0x${endedAt.offset.toString(16)} before this variable`,
        },
      }
    const verdict = stopOrSkip(variable, o)
    if (verdict !== 'record') {
      if (verdict.fate === 'ends-read-pass') endedAt = variable
      return { variable, verdict }
    }
    return {
      variable,
      dump: parseDumpName(variable.name),
      verdict: { fate: 'lists', kernel: 'efi_pstore_read_func(): the variable becomes a record, pstore_mkfile() its file', why: `${variable.dataSize} bytes` },
    }
  })
}

const LOOPING = 'the firmware enumerates a cycle (two live variables match one name): the kernel reads 65536 records and logs "looping? Too many records seen"'
const HANGS =
  'the firmware enumerates a cycle without a pstore record in it (two live variables match one name): efi_pstore_read() never returns, Linux hangs at the mount and lists nothing'

export interface EfiReadPass {
  /** The variables read, with the parsed name and the kernel's name buffer when it was read (record->priv). */
  found: Array<{ variable: StoredVariable; dump: DumpName; name: Buffer }>
  /** Why the pass ended. */
  stop: string
  hangs?: boolean
}

/** The kernel's record->priv: its name buffer's UTF-16 units up to the first NUL (at most DUMP_NAME_LEN), and the NUL. */
export function nameUpToNul(buffer: Buffer): Buffer {
  let units = 0
  while (units < DUMP_NAME_LEN && units * 2 + 1 < buffer.length && buffer.readUInt16LE(units * 2) !== 0) units++
  const priv = Buffer.alloc((units + 1) * 2)
  buffer.copy(priv, 0, 0, units * 2)
  return priv
}

/** The kernel's name buffer as a string: its UTF-16 units up to the first NUL. */
function bufferName(buffer: Buffer): string {
  let end = 0
  while (end + 1 < buffer.length && buffer.readUInt16LE(end) !== 0) end += 2
  return buffer.toString('utf16le', 0, end)
}

/**
 * One read pass as efi_pstore_read() makes it: GetNextVariableName() with the kernel's name
 * buffer (zeroed at the pass's start: 1024 bytes passed as 1024 on 6.1, record_size bytes
 * passed as 512 on 6.2+; a returned name is copied over its start, the rest keeps an earlier,
 * longer name), another GUID's variable passed over, a crash-GUID name parsed from the buffer
 * (unparsable: the pass ends) and GetVariable() of that name (not found, larger than bufsize or
 * empty: the pass ends). The firmware finds each name again, so two live variables matching
 * one name make the enumeration cycle: with records in the cycle the kernel stops after 65536
 * reads ("looping?"); without, efi_pstore_read() never returns and Linux hangs at the mount.
 */
export function kernelReadPass(
  variables: StoredVariable[],
  memory: (v: StoredVariable) => Buffer,
  o: { newer: boolean; bufsize: number; crashGuid: Buffer },
): EfiReadPass {
  const newer = o.newer
  const buffer = Buffer.alloc(newer ? o.bufsize : 1024)
  const passed = newer ? 512 : 1024
  const index = new VariableIndex(variables)
  const found: EfiReadPass['found'] = []
  const states = new Map<string, number>()
  let guid = o.crashGuid
  while (found.length < 65536) {
    const state = `${buffer.toString('latin1')}${guid.toString('latin1')}`
    const then = states.get(state)
    if (then !== undefined) return then < found.length ? { found, stop: LOOPING } : { found: [], stop: HANGS, hangs: true }
    states.set(state, found.length)
    const next = getNextVariableName(index, buffer, passed, guid, memory)
    if ('status' in next) return { found, stop: `GetNextVariableName: ${next.status} (${next.why})` }
    next.variable.rawName.copy(buffer, 0)
    guid = next.variable.guid
    if (!guid.equals(o.crashGuid)) continue
    const name = bufferName(buffer)
    const dump = parseDumpName(name)
    if (!dump) return { found, stop: `the name ${JSON.stringify(name.slice(0, 70))} is not efi-pstore's: efi_pstore_read_func() returns 0` }
    const variable = index.find(buffer, o.crashGuid).variable
    if (!variable) return { found, stop: `GetVariable(${JSON.stringify(name.slice(0, 70))}): EFI_NOT_FOUND` }
    if (variable.dataSize > o.bufsize)
      return { found, stop: `GetVariable: ${variable.dataSize} bytes, more than the kernel's ${o.bufsize} (EFI_BUFFER_TOO_SMALL)` }
    if (variable.dataSize === 0) return { found, stop: 'a record of size 0 ends the pass' }
    found.push({ variable, dump, name: Buffer.from(buffer) })
  }
  return { found, stop: LOOPING }
}
