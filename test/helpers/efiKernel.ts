/**
 * OVMF variable stores a real kernel wrote through efi-pstore (test/fixtures/efi-6.1, efi-6.12),
 * taken apart for the tests that compare them with pstore-sim: pstore's variables in store order
 * with their bytes, the backend over a copy of a store, and the store as it was before the
 * kernel's first pstore write (OVMF's own variables kept).
 */

import { parseDumpName } from '../../src/backend/efi/dumpName.js'
import { CRASH_GUID, EfiBackend } from '../../src/backend/efi/efi.js'
import { fromEfiParams } from '../../src/backend/efi/efiSetup.js'
import { type StoredVariable, VariableStore } from '../../src/backend/efi/varstore.js'
import { RegionImage } from '../../src/format/region.js'

export function efiBackend(kernelVersion: string, store: Buffer, options: { recordSize?: number; readOnly?: boolean } = {}): EfiBackend {
  const config = fromEfiParams({ size: store.length, ...(options.recordSize ? { record_size: options.recordSize } : {}) }, { kernel: kernelVersion })
  return new EfiBackend(config, RegionImage.fromBuffer(Buffer.from(store), options.readOnly ?? false))
}

export function variablesOf(store: Buffer): StoredVariable[] {
  return new VariableStore(RegionImage.fromBuffer(Buffer.from(store), true)).variables()
}

/** pstore's variables (the crash GUID), each with its whole bytes (header to the 4-byte boundary). */
export function pstoreVariables(store: Buffer): Array<StoredVariable & { bytes: Buffer }> {
  return variablesOf(store)
    .filter((v) => v.guid.equals(CRASH_GUID))
    .map((v) => ({ ...v, bytes: Buffer.from(store.subarray(v.offset, v.end)) }))
}

/** The store with everything from the first pstore variable on erased: what the kernel's first write found. */
export function beforePstoreWrites(store: Buffer): Buffer {
  const first = pstoreVariables(store)[0]
  const out = Buffer.from(store)
  if (first) out.fill(0xff, first.offset, new VariableStore(RegionImage.fromBuffer(out, true)).geometry().end)
  return out
}

export function parsedName(v: StoredVariable) {
  const d = parseDumpName(v.name)
  if (!d) throw new Error(`not a dump name: ${v.name}`)
  return d
}
