/** What `inspect` shows of an ERST file: QEMU's storage header and every slot (erst.ts describe()). */
export interface ErstDescription {
  kind: 'erst'
  header: { magic: string; recordSize: number; storageOffset: number; version: number; recordCount: number }
  invalid?: string
  bufsize: number
  slots: ErstSlotDescription[]
}

export interface ErstSlotDescription {
  slot: number
  /** The id in QEMU's slot map (the record's name); null for a free slot. */
  recordId: string | null
  headerId?: string
  length?: number
  timestamp?: string
  creator?: string
  section?: string
  part?: number
  error?: string
}
