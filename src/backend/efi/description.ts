/**
 * What `inspect` shows of an efi variable store (the `efi` variant of an inspection): its
 * areas to scale, every variable with the target kernel's verdict, the free space.
 */
import type { EfiVariableVerdict } from './readPass.js'
import { FTW_WORKING_GUID, type StoreGeometry, type VariableStore } from './varstore.js'

/** One stretch of the file that is not a variable: the headers, free space, the areas after the store. */
export interface EfiArea {
  kind: 'fv-header' | 'store-header' | 'free' | 'reserved' | 'ftw-working' | 'ftw-spare'
  offset: number
  size: number
  label: string
}

export interface EfiVariableDescription {
  offset: number
  /** Header, name, data and padding: up to where the next header begins. */
  size: number
  state: string
  live: boolean
  /** State 0x3e/0x3c: being replaced (VAR_IN_DELETED_TRANSITION cleared). */
  inTransition: boolean
  attributes: number
  guid: string
  name: string
  dataSize: number
  pstore?: { type: number; part: number; count: number; seconds: string; compressed: boolean; id: string }
  /** What the target kernel's boot does with it (backend/efi/readPass.ts). */
  verdict?: EfiVariableVerdict
}

export interface EfiDescription {
  /** The backend's name (6.1's `efi`, 6.2's `efi_pstore`): the union's tag (backend.ts BackendDescription). */
  kind: 'efi' | 'efi_pstore'
  invalid?: string
  bufsize?: number
  /** OVMF's boot before the read pass (a read-only look: 'store'; a reclaim happens at a real boot). */
  bootOutcome?: string
  store?: { start: number; end: number; freeOffset: number; freeBytes: number; remaining: number; deletedBytes: number }
  /** The kernel's read pass: how many pstore variables it reads (repeats of a cycle included once each) and why it ends. */
  readPass?: { reads: number; stop: string }
  /** The file's stretches that are not variables, in file order. */
  areas: EfiArea[]
  variables: EfiVariableDescription[]
}

const FTW_HEADER = 32

/**
 * The file's areas: the firmware volume header, the store header, the free space after the last
 * variable, and after the store the NV event log (reserved), the fault-tolerant-write working
 * block (found by its signature at a 4 KiB boundary) and its spare area up to the file's end.
 */
export function storeAreas(store: VariableStore, g: StoreGeometry, freeOffset: number): EfiArea[] {
  const size = store.region.size
  const areas: EfiArea[] = [
    { kind: 'fv-header', offset: 0, size: g.headerAt, label: 'firmware volume header (_FVH)' },
    { kind: 'store-header', offset: g.headerAt, size: g.start - g.headerAt, label: 'authenticated variable store header' },
  ]
  if (g.end > freeOffset) areas.push({ kind: 'free', offset: freeOffset, size: g.end - freeOffset, label: 'free (erased)' })
  let ftw: number | undefined
  for (let at = (g.end + 0xfff) & ~0xfff; at + FTW_HEADER <= size; at += 0x1000)
    if (store.region.view(at, 16).equals(FTW_WORKING_GUID)) {
      ftw = at
      break
    }
  if (ftw === undefined) {
    if (size > g.end) areas.push({ kind: 'reserved', offset: g.end, size: size - g.end, label: 'after the variable store' })
    return areas
  }
  if (ftw > g.end) areas.push({ kind: 'reserved', offset: g.end, size: ftw - g.end, label: 'NV event log (reserved)' })
  const queue = Number(store.region.view(ftw + 24, 8).readBigUInt64LE(0))
  const working = Math.min(size - ftw, FTW_HEADER + (Number.isSafeInteger(queue) ? queue : 0))
  areas.push({ kind: 'ftw-working', offset: ftw, size: working, label: 'fault-tolerant-write working block' })
  if (ftw + working < size) areas.push({ kind: 'ftw-spare', offset: ftw + working, size: size - ftw - working, label: 'fault-tolerant-write spare area' })
  return areas
}
