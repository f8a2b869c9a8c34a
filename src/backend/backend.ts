/**
 * What the simulated machine needs of a pstore backend: the kernel's `struct pstore_info`
 * (include/linux/pstore.h) as pstore-sim uses it. `machine/` talks only to this interface;
 * each backend folder (ramoops/, blk/, erst/, efi/) implements it over its own image layout.
 *
 * Kernel name → member: name → `name`; bufsize → `bufsize`; flags (PSTORE_FLAGS_DMESG, …) →
 * `types`; the driver's probe → `boot()`; open/read/close → `readRecords()`; write →
 * `writeDmesg`/`writeConsole`/`writePmsg`/`writeFtrace`; erase → `erase()`.
 */
import type { RegionImage } from '../format/region.js'
import type { DmesgWrite, PstoreRecord, PstoreType } from '../pstore/record.js'
import type { BlkDescription } from './blk/description.js'
import type { EfiDescription } from './efi/description.js'
import type { ErstDescription } from './erst/description.js'
// The fault-injection spec and report, shared by the backends (each reads `zones` as its units).
import type { CorruptSpec, FlipReport } from './faults.js'
import type { RamoopsDescription } from './ramoops/description.js'

export type { CorruptSpec, FlipReport }

/** The backend's name as it appears in file names (`dmesg-<name>-<id>`). */
export type BackendName = 'ramoops' | 'pstore_blk' | 'erst' | 'efi' | 'efi_pstore'

/** What the backend's write returned: where the part went, or the errno it refused it with. */
export type DmesgWriteResult =
  | { stored: true; slot: number; id: number | bigint }
  | { stored: false; errno: 'ENOSPC' | 'EINVAL' | 'EIO' | 'EBUSY'; why: string }

/**
 * The pmsg ring lent to a writer outside JS (the daemon's FIFO pump, which takes it as it is):
 * a persistent_ram ring in the image file, whose start and size are two little-endian int32 at
 * `headerAt`.
 */
export interface LentRing {
  /** The image, open for writing. */
  fileFd: number
  headerAt: number
  dataAt: number
  capacity: number
  start: number
  size: number
}

/** What a boot did to one zone or slot (the backend's own report extends it). */
export interface BootReport {
  outcome: string
  /** A zone with ECC: what the decode corrected and could not (ramoops) */
  ecc?: { correctedBytes: number; badBlocks: number }
}

/** Kernel memory a backend keeps between events of one boot (plain JSON, saved in the state file). */
export type BackendMemory = Record<string, number | string>

/** A backend's own description of its storage, for `inspect`: `kind` (the backend's name) tells which shape; each backend defines its own. */
export type BackendDescription = RamoopsDescription | BlkDescription | ErstDescription | EfiDescription

export interface PstoreBackend {
  /** psinfo->name: `ramoops`, `pstore_blk`, `erst`, `efi` (6.1) or `efi_pstore` (6.2+). */
  readonly name: BackendName
  /** psinfo->bufsize: the most bytes one dmesg part may hold; the kmsg dumper splits by it. */
  readonly bufsize: number
  /**
   * Whether its compressed dmesg parts must be the kernel's own deflate stream, byte for byte
   * (efi-pstore: no header parser to dodge; the variables are compared with a kernel's).
   */
  readonly kernelExactDeflate?: boolean
  /** The record types it stores (psinfo->flags); a frontend without its type is not registered. */
  readonly types: readonly PstoreType[]
  /** Why it stores no records of `type` in this setup (e.g. `console_size 0`); undefined when it does. */
  whyNot(type: PstoreType): string | undefined
  /** The image its bytes live in (flushed by every method that changes them). */
  readonly region: RegionImage
  /** Probe at boot: validates (and may repair or zap) the storage; one report per zone or slot. */
  boot(): BootReport[]
  /** One read pass (open, read until none, close): records in the kernel's order. */
  readRecords(): PstoreRecord[]
  /**
   * Why every read pass of this boot fails before its first record, when it does (the kernel
   * lists nothing then; inspect says why): e.g. pstore/blk's failed psz_recovery().
   */
  readPassFailure?(): string | undefined
  /** psinfo->write for one dmesg part; a refusal is answered, not thrown: the dump loop goes on. */
  writeDmesg(part: DmesgWrite): DmesgWriteResult
  /** psinfo->write for PSTORE_TYPE_CONSOLE (only when `types` has 'console'). */
  writeConsole?(bytes: Uint8Array): void
  /** Why the next console write would be refused, if it would (printk then skips the copy). */
  consoleRefusal?(): Error | undefined
  /** psinfo->write_user for /dev/pmsg0: bytes taken (only when `types` has 'pmsg'). */
  writePmsg?(bytes: Uint8Array): number
  /**
   * Whether /dev/pmsg0's bytes may land in the image as they come, by a writer outside JS (the
   * ring holds them verbatim: no parity to follow them, a writable file).
   */
  readonly lendsPmsgRing?: boolean
  /**
   * Lends the pmsg ring (after writing every change): until reclaimPmsgRing() the file holds
   * its truth and nothing here may touch it. Undefined when a write would be refused now.
   */
  lendPmsgRing?(): LentRing | undefined
  /** The lent ring is back: its bytes are read from the file again. */
  reclaimPmsgRing?(): void
  /** Checks that `cpu` has somewhere to write ftrace records; throws the refusal. */
  checkFtrace?(cpu: number): void
  /** psinfo->write for PSTORE_TYPE_FTRACE: binary records of `cpu`. */
  writeFtrace?(cpu: number, bytes: Uint8Array): void
  /** psinfo->erase on unlink of the record's file; throws when the backend fails it. */
  erase(type: PstoreType, id: number | bigint): void
  /**
   * SetVariable(name, guid, size 0) as efivarfs' unlink makes it (efi-pstore's store only):
   * true when a variable was deleted.
   */
  deleteVariable?(name: string, guid: Buffer): boolean
  /** Fault injection: flips bits of the storage as `spec` says (and flushes); absent when it has none. */
  corrupt?(spec: CorruptSpec): FlipReport[]
  /** What `inspect` shows of the storage as it is now (read only). */
  describe(): BackendDescription
  /** The kernel-memory state to save between commands (e.g. ramoops' dump_write_cnt). */
  memory(): BackendMemory
  /** Puts saved kernel-memory state back (after a boot it starts fresh instead). */
  restoreMemory(memory: BackendMemory): void
}
