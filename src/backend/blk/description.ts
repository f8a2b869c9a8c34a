import type { ZonedDescription } from '../zoneDescription.js'

/** What `inspect` shows of a pstore/blk disk: the module parameters as the kernel shows them, its zones, and its kernel memory after the boot. */
export interface BlkDescription extends ZonedDescription {
  kind: 'pstore_blk'
  params: Record<string, string | number | boolean>
  diskSize: number
  next: { writeCnt: number; oopsCounter: number; panicCounter: number }
}
