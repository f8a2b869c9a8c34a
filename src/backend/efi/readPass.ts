/**
 * efi-pstore's read pass over a variable store, variable by variable, with what the kernel does
 * with each and why (drivers/firmware/efi/efi-pstore.c, 6.1 and 6.2+): efi_pstore_read() walks
 * GetNextVariableName() with a fixed name buffer (1024 bytes on 6.1, 512 on 6.2+), skips
 * variables of another vendor GUID, and hands each crash-GUID variable to efi_pstore_read_func(),
 * which parses the name with sscanf() and reads the data with GetVariable() into a
 * record_size buffer. Any error and any return of 0 is a read of size ≤ 0, which ends
 * pstore_get_backend_records(): every later variable is never read. The firmware (OVMF) returns
 * no deleted variable, and of a variable being replaced only the new copy.
 */
import { type DumpName, parseDumpName } from './dumpName.js'
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
