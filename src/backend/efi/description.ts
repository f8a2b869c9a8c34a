/** What `inspect` shows of a UEFI variable store: every variable, live and deleted, and its free space (efi.ts describe()). */
export interface EfiDescription {
  kind: 'efi' | 'efi_pstore'
  invalid?: string
  bufsize?: number
  /** OVMF's boot before the read pass (a read-only look: 'store'; a reclaim happens at a real boot). */
  bootOutcome?: string
  store?: { start: number; end: number; freeOffset: number; freeBytes: number; remaining: number; deletedBytes: number }
  variables: EfiVariableDescription[]
}

export interface EfiVariableDescription {
  offset: number
  state: string
  live: boolean
  attributes: number
  guid: string
  name: string
  dataSize: number
  pstore?: { type: number; part: number; count: number; seconds: string; compressed: boolean; id: string }
}
