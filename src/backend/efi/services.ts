/**
 * OVMF's runtime variable services as efi-pstore calls them (edk2 MdeModulePkg's
 * VariableServiceGetNextVariableName, FindVariableEx, GetVariable, the lookup of SetVariable),
 * over the non-volatile store only (the volatile store, enumerated first, holds nothing of
 * pstore's). Stateless like the firmware: each call finds the caller's name again.
 */
import type { StoredVariable } from './varstore.js'
import { VAR_ADDED, VAR_IN_DELETED_TRANSITION } from './varstore.js'

const RUNTIME_ACCESS = 0x4
const IN_TRANSITION = VAR_ADDED & VAR_IN_DELETED_TRANSITION

/** Names longer than any name buffer a kernel passes are not keyed. */
const LONG_NAME = 4096

const live = (v: StoredVariable) => v.state === VAR_ADDED || v.state === IN_TRANSITION

/**
 * FindVariableEx(): the first live variable of this GUID whose stored name (its NameSize bytes,
 * whatever they hold, none at all for NameSize 0) equals the caller's `name` over those bytes; a
 * VAR_ADDED one ends the search, one in delete transition is returned when no VAR_ADDED one
 * follows. At runtime a variable without RUNTIME_ACCESS is not seen (unless `ignoreRuntime`, as
 * SetVariable looks). Bytes of a stored name past the caller's buffer compare as zeros.
 */
export function findVariable(variables: StoredVariable[], name: Buffer, guid: Buffer, ignoreRuntime = false): StoredVariable | undefined {
  return findTracked(variables, name, guid, ignoreRuntime).variable
}

/** FindVariableEx() with its track: the variable found and, for a VAR_ADDED one, the copy in delete transition met before it. */
export function findTracked(
  variables: StoredVariable[],
  name: Buffer,
  guid: Buffer,
  ignoreRuntime: boolean,
): { variable?: StoredVariable; inTransition?: StoredVariable } {
  let inTransition: StoredVariable | undefined
  for (const v of variables) {
    if (!live(v) || (!ignoreRuntime && (v.attributes & RUNTIME_ACCESS) === 0) || !v.guid.equals(guid)) continue
    if (!sameBytes(name, v.rawName)) continue
    if (v.state === IN_TRANSITION) inTransition = v
    else return { variable: v, ...(inTransition ? { inTransition } : {}) }
  }
  return inTransition ? { variable: inTransition } : {}
}

/** Whether SetVariable(name, guid, attributes, 0) deletes: a runtime-visible variable with exactly these attributes. */
export function deletable(v: StoredVariable, attributes: number): boolean {
  return (v.attributes & RUNTIME_ACCESS) !== 0 && v.attributes === attributes
}

/**
 * The store's live variables by GUID and stored name, for a read pass's many lookups: the same
 * answers as findTracked()'s walk (a stored name matches a caller's buffer whose first NameSize
 * bytes are it). A stored name whose only NUL is its last UTF-16 unit (every name a kernel or
 * OVMF writes) can match only the caller's name up to its first NUL: one lookup finds them all.
 * The others are looked up by their few NameSize values.
 */
export class VariableIndex {
  private readonly byName = new Map<string, number[]>()
  /** The NameSize values of every keyed name, and of those that are not NUL-terminated names. */
  private readonly sizes: number[]
  private readonly oddSizes: number[]
  /** Live variables with names too long to key (compared one by one). */
  private readonly long: number[] = []

  constructor(readonly variables: StoredVariable[]) {
    const sizes = new Set<number>()
    const oddSizes = new Set<number>()
    variables.forEach((v, i) => {
      if (!live(v)) return
      if (v.rawName.length > LONG_NAME) {
        this.long.push(i)
        return
      }
      const key = v.guid.toString('latin1') + v.rawName.toString('latin1')
      const list = this.byName.get(key)
      if (list) list.push(i)
      else this.byName.set(key, [i])
      sizes.add(v.rawName.length)
      if (v.rawName.length < 2 || firstNul(v.rawName) !== v.rawName.length - 2) oddSizes.add(v.rawName.length)
    })
    this.sizes = [...sizes]
    this.oddSizes = [...oddSizes]
  }

  find(name: Buffer, guid: Buffer, ignoreRuntime = false): { variable?: StoredVariable; inTransition?: StoredVariable } {
    const g = guid.toString('latin1')
    const found = this.long.filter((i) => sameBytes(name, (this.variables[i] as StoredVariable).rawName))
    const nul = firstNul(name)
    // without a NUL in the caller's buffer a terminated name may still match (zeros past its end): every size
    const terminated = nul < 0 ? -1 : nul + 2
    if (terminated > 0) found.push(...(this.byName.get(g + name.toString('latin1', 0, terminated)) ?? []))
    for (const k of terminated > 0 ? this.oddSizes : this.sizes) {
      if (k === terminated) continue
      const prefix = k <= name.length ? name.toString('latin1', 0, k) : Buffer.concat([name, Buffer.alloc(k - name.length)]).toString('latin1')
      found.push(...(this.byName.get(g + prefix) ?? []))
    }
    if (found.length > 1) found.sort((a, b) => a - b)
    return findTracked(
      found.map((i) => this.variables[i] as StoredVariable),
      name,
      guid,
      ignoreRuntime,
    )
  }
}

/** The offset of the first NUL UTF-16 unit wholly inside `bytes`, or -1. */
function firstNul(bytes: Buffer): number {
  for (let i = 0; i + 1 < bytes.length; i += 2) if (bytes[i] === 0 && bytes[i + 1] === 0) return i
  return -1
}

function sameBytes(caller: Buffer, stored: Buffer): boolean {
  if (stored.length <= caller.length) return caller.subarray(0, stored.length).equals(stored)
  return caller.equals(stored.subarray(0, caller.length)) && stored.subarray(caller.length).every((b) => b === 0)
}

export type NextName = { variable: StoredVariable } | { status: 'EFI_NOT_FOUND' | 'EFI_INVALID_PARAMETER' | 'EFI_BUFFER_TOO_SMALL'; why: string }

/**
 * GetNextVariableName(size, buffer, guid): refused when the buffer holds no NUL in its first
 * size/2 characters; an empty name starts the walk at the store's start, another is found again
 * (FindVariableEx: not found is EFI_INVALID_PARAMETER) and the walk goes on after it to the next
 * live, runtime-visible variable (one in delete transition is passed over when a VAR_ADDED one
 * matches it). A name longer than `size` is EFI_BUFFER_TOO_SMALL. The caller copies the
 * variable's NameSize bytes over its buffer's start.
 */
export function getNextVariableName(
  index: VariableIndex,
  buffer: Buffer,
  size: number,
  guid: Buffer,
  /** The store's bytes from a variable's name on (the firmware compares a twin's name against them). */
  nameMemory: (v: StoredVariable) => Buffer,
): NextName {
  let terminated = false
  for (let i = 0; i + 1 < size && i + 1 < buffer.length && !terminated; i += 2) terminated = buffer.readUInt16LE(i) === 0
  if (!terminated) return { status: 'EFI_INVALID_PARAMETER', why: `the name buffer holds no NUL in its first ${size} bytes (a stored name without one)` }
  const variables = index.variables
  let from = 0
  if (buffer.readUInt16LE(0) !== 0) {
    const current = index.find(buffer, guid).variable
    if (!current) return { status: 'EFI_INVALID_PARAMETER', why: 'the firmware finds the previous name no more' }
    from = variables.indexOf(current) + 1
  }
  for (let i = from; i < variables.length; i++) {
    const v = variables[i] as StoredVariable
    if (!live(v) || (v.attributes & RUNTIME_ACCESS) === 0) continue
    if (v.state === IN_TRANSITION && index.find(nameMemory(v), v.guid).variable?.state === VAR_ADDED) continue
    if (v.nameSize > size)
      return { status: 'EFI_BUFFER_TOO_SMALL', why: `variable at 0x${v.offset.toString(16)}: a ${v.nameSize}-byte name, the kernel passes ${size}` }
    return { variable: v }
  }
  return { status: 'EFI_NOT_FOUND', why: 'the end of the store' }
}
