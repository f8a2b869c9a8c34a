/**
 * The efi-pstore backend (drivers/firmware/efi/efi-pstore.c as a pstore_info, over OVMF's
 * variable store): dmesg records only (PSTORE_FLAGS_DMESG), one UEFI variable per part, files
 * `dmesg-efi-<id>` (6.1) or `dmesg-efi_pstore-<id>` (6.2+). What the firmware does behind
 * GetNextVariableName/GetVariable/SetVariable/QueryVariableInfo is OVMF's (edk2's variable
 * driver) at runtime: appends, State bits cleared in place, no reclaim until the next boot.
 */
import type { RegionImage } from '../../format/region.js'
import { inflateLimit, inflateRecord } from '../../pstore/compression.js'
import { type DmesgWrite, type PstoreRecord, type PstoreType, recordName } from '../../pstore/record.js'
import { PstoreSimError } from '../../util/errors.js'
import type { BackendMemory, BootReport, CorruptSpec, DmesgWriteResult, FlipReport, PstoreBackend } from '../backend.js'
import { type FaultTarget, type FaultUnit, injectFaults } from '../faults.js'
import { type EfiDescription, storeAreas } from './description.js'
import { type DumpName, dumpVariableName, genericId, LINUX_EFI_CRASH_GUID_TEXT, PSTORE_EFI_ATTRIBUTES, parseDumpName } from './dumpName.js'
import { type EfiSetup, efiBackendName, hasRecordSizeParam } from './efiSetup.js'
import { type EfiReadPass, type EfiVariableVerdict, efiReadWalk, kernelReadPass, nameUpToNul, type ReadStep } from './readPass.js'
import { deletable, findTracked } from './services.js'
import {
  guidBytes,
  guidText,
  isLive,
  type StoredVariable,
  VAR_ADDED,
  VAR_DELETED,
  VAR_IN_DELETED_TRANSITION,
  VARIABLE_HEADER_SIZE,
  VariableStore,
} from './varstore.js'

export class EfiError extends PstoreSimError {
  override name = 'EfiError'
}

export const CRASH_GUID = guidBytes(LINUX_EFI_CRASH_GUID_TEXT)

/**
 * The store's part kept for hardware error records, which QueryVariableInfo leaves out of the
 * common variables' room: none in Debian's OVMF (its kernels stopped writing with 5408 and 5296
 * bytes of the store free: test/fixtures/efi-6.1/c-full, efi-6.12/c-full).
 */
export const OVMF_HW_ERR_STORAGE = 0
/** OVMF's PcdMaxVariableSize / PcdMaxAuthVariableSize: below this much room the firmware reclaims at boot. */
export const OVMF_MAX_VARIABLE_SIZE = 0x8400
/** EFI_MIN_RESERVE (arch/x86/platform/efi/quirks.c): the kernel's crash-time writes leave this much. */
export const EFI_MIN_RESERVE = 5120
/** EFI_VARIABLE_HARDWARE_ERROR_RECORD. */
const HW_ERROR_RECORD = 0x8

/** enum pstore_type_id → the type a file is named by (pstore_type_to_name(); PSTORE_TYPE_MAX and above "unknown"). */
const TYPE_IDS: Record<number, PstoreType> = {
  0: 'dmesg',
  1: 'mce',
  2: 'console',
  3: 'ftrace',
  4: 'rtas',
  5: 'powerpc-ofw',
  6: 'powerpc-common',
  7: 'pmsg',
  8: 'powerpc-opal',
}

export interface EfiBootReport extends BootReport {
  reclaimedBytes?: number
}

export class EfiBackend implements PstoreBackend {
  readonly types: readonly PstoreType[] = ['dmesg']
  readonly kernelExactDeflate = true
  readonly store: VariableStore

  constructor(
    readonly setup: EfiSetup,
    readonly region: RegionImage,
  ) {
    if (region.size !== setup.memSize) throw new EfiError(`the variable store file is ${region.size} bytes but its setup says ${setup.memSize}`)
    this.store = new VariableStore(region)
  }

  get name(): 'efi' | 'efi_pstore' {
    return efiBackendName(this.setup.kernel)
  }

  /** efi_pstore_info.bufsize: 1024 on 6.1, record_size on 6.2+. */
  get bufsize(): number {
    return this.setup.efiRecordSize
  }

  whyNot(type: PstoreType): string | undefined {
    if (type !== 'dmesg') return `efi-pstore stores dmesg records only (PSTORE_FLAGS_DMESG): no ${type} records`
    const bad = this.store.invalid()
    return bad ? `the variable store is unusable (${bad}): OVMF offers no variable services and efi-pstore does not register` : undefined
  }

  /**
   * OVMF's boot: the variable driver reclaims the store when the space left for common variables
   * (every variable counted, deleted ones too) is below its largest variable, or when the bytes
   * after the last variable are not erased. OVMF's own variables (MTC, ConOut…) are not added.
   */
  boot(): EfiBootReport[] {
    const bad = this.store.invalid()
    if (bad) return [{ outcome: `invalid: ${bad}` }]
    if (this.region.readOnly) return [{ outcome: 'store' }]
    const variables = this.store.variables()
    const free = this.store.freeOffset(variables)
    const { end } = this.store.geometry()
    const tail = this.region.view(Math.min(free, end), Math.max(0, end - free))
    const dirty = !tail.equals(Buffer.alloc(tail.length, 0xff))
    if (dirty || this.commonSpace() - this.usedCommon(variables) < OVMF_MAX_VARIABLE_SIZE) {
      const reclaimedBytes = this.store.reclaim()
      this.region.flush()
      return [{ outcome: 'reclaimed', reclaimedBytes }]
    }
    return [{ outcome: 'store' }]
  }

  /** CommonVariableSpace: the store less its header and the hardware-error reserve. */
  private commonSpace(): number {
    const { headerAt, end, start } = this.store.geometry()
    return end - headerAt - (start - headerAt) - OVMF_HW_ERR_STORAGE
  }

  /** At runtime every common variable counts, deleted or not (no reclaim before the next boot). */
  private usedCommon(variables: StoredVariable[]): number {
    return variables.filter((v) => (v.attributes & HW_ERROR_RECORD) === 0).reduce((n, v) => n + (v.end - v.offset), 0)
  }

  /** QueryVariableInfo's RemainingVariableStorageSize for non-volatile common variables, at runtime. */
  remainingSpace(): number {
    return this.commonSpace() - this.usedCommon(this.store.variables())
  }

  /** efi_pstore_read()'s walk: every variable with its fate (readPass.ts); the records are the steps with a parsed name. */
  private walk(variables = this.store.variables()): ReadStep[] {
    if (this.store.invalid()) return []
    // efi_pstore_read(): GetNextVariableName with a 1024-byte (6.1) or 512-byte (6.2+) name buffer
    const nameBuffer = hasRecordSizeParam(this.setup.kernel) ? 512 : 1024
    return efiReadWalk(variables, { nameBuffer, bufsize: this.bufsize, crashGuid: CRASH_GUID })
  }

  /** The last read pass and its records with the bytes they are of: inspect asks four times, an erase again. */
  private last?: { bytes: Buffer; pass: EfiReadPass; records?: Array<{ variable: StoredVariable; record?: PstoreRecord }> }

  /** One read pass as efi_pstore_read() makes it, over OVMF's variable services (readPass.ts). */
  private readPass(): EfiReadPass {
    const bytes = this.region.bytes
    if (this.last?.bytes.equals(bytes)) return this.last.pass
    let pass: EfiReadPass = { found: [], stop: 'no variable services' }
    if (!this.store.invalid()) {
      const memory = (v: StoredVariable) => this.region.view(v.offset + VARIABLE_HEADER_SIZE, Math.max(0, this.region.size - v.offset - VARIABLE_HEADER_SIZE))
      pass = kernelReadPass(this.store.variables(), memory, { newer: hasRecordSizeParam(this.setup.kernel), bufsize: this.bufsize, crashGuid: CRASH_GUID })
    }
    this.last = { bytes: Buffer.from(bytes), pass }
    return pass
  }

  /** The records of a read pass (of the last one: made once). */
  private passRecords(pass: EfiReadPass): Array<{ variable: StoredVariable; record?: PstoreRecord }> {
    if (this.last?.pass !== pass) return this.records(pass.found)
    this.last.records ??= this.records(pass.found)
    return this.last.records
  }

  /** Why the kernel lists nothing although variables are there: its read never returns. */
  readPassFailure(): string | undefined {
    const pass = this.readPass()
    return pass.hangs ? pass.stop : undefined
  }

  readRecords(): PstoreRecord[] {
    return this.passRecords(this.readPass()).flatMap(({ record }) => (record ? [record] : []))
  }

  /** Each read variable's record, or none where pstore_mkfile() refuses a second record of its type and id (-EEXIST). */
  private records(read: Array<{ variable: StoredVariable; dump: DumpName }>): Array<{ variable: StoredVariable; record?: PstoreRecord }> {
    const seen = new Set<string>()
    return read.map(({ variable, dump }) => {
      const type = TYPE_IDS[dump.type] ?? 'unknown'
      const id = genericId(dump.seconds, dump.part, dump.count)
      if (seen.has(`${type}:${id}`)) return { variable }
      seen.add(`${type}:${id}`)
      const record = this.inflate({
        type,
        id: id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id,
        time: { sec: BigInt.asIntN(64, dump.seconds), nsec: 0n },
        compressed: dump.compressed,
        payload: this.store.data(variable),
        eccNotice: '',
      })
      return { variable, record }
    })
  }

  private inflate(record: PstoreRecord): PstoreRecord {
    const flavour = this.setup.quirks.compression
    return inflateRecord(record, flavour, inflateLimit(flavour, this.bufsize), this.setup.compress)
  }

  /**
   * efi_pstore_write(): SetVariable(name, CRASH_GUID, 7, size, buf) with the kernel's crash-time
   * check first (efi_query_variable_store, nonblocking: refused when less than EFI_MIN_RESERVE
   * would remain; u64 arithmetic, so a variable larger than the room left passes it and the
   * firmware refuses it). 6.1 answers -EIO for any failure, 6.2+ the status's errno (-ENOSPC).
   */
  writeDmesg(part: DmesgWrite): DmesgWriteResult {
    const bad = this.store.invalid()
    if (bad) return { stored: false, errno: 'EIO', why: bad }
    const count = part.count ?? 1
    const name = dumpVariableName(part.part, count, part.time.sec, part.compressed)
    const id = genericId(BigInt(part.time.sec), part.part, count)
    const full = hasRecordSizeParam(this.setup.kernel) ? ('ENOSPC' as const) : ('EIO' as const)
    const size = part.payload.length + (name.length + 1) * 2
    const remaining = BigInt(this.remainingSpace())
    if (BigInt.asUintN(64, remaining - BigInt(size)) < BigInt(EFI_MIN_RESERVE))
      return { stored: false, errno: full, why: `less than ${EFI_MIN_RESERVE} bytes of the variable store would remain (${remaining} left)` }
    const variables = this.store.variables()
    const old = this.store.find(name, CRASH_GUID, variables)
    const footprint = VariableStore.footprint(name, part.payload.length)
    if (this.usedCommon(variables) + footprint > this.commonSpace())
      return { stored: false, errno: full, why: `the variable store is full (EFI_OUT_OF_RESOURCES): part ${part.part} dropped` }
    // a variable of the same name is replaced: in delete transition, the new one added, the old deleted
    if (old) this.store.clearState(old.offset, VAR_IN_DELETED_TRANSITION)
    const at = this.store.append(name, CRASH_GUID, PSTORE_EFI_ATTRIBUTES, part.payload)
    if (at === 'full') return { stored: false, errno: full, why: `the variable store is full: part ${part.part} dropped` }
    if (old) this.store.clearState(old.offset, VAR_DELETED)
    this.region.flush()
    return { stored: true, slot: at, id: id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id }
  }

  /**
   * efi_pstore_erase(): SetVariable(name, CRASH_GUID, 7, 0, NULL) with the name the record was
   * read by (up to its NUL). The firmware finds it again (runtime access not required to find
   * it); one without RUNTIME_ACCESS is write-protected and one with other attributes refused
   * (EFI_INVALID_PARAMETER), which the unlink does not report: the variable stays. Else OVMF
   * clears one State bit (0x3f → 0x3d), first of a copy in delete transition met before it; the
   * name and data stay.
   */
  erase(type: PstoreType, id: number | bigint): void {
    const found = this.readPass().found.find(
      ({ dump }) => (TYPE_IDS[dump.type] ?? 'unknown') === type && genericId(dump.seconds, dump.part, dump.count) === BigInt(id),
    )
    if (found) this.deleteVariable(found.name, CRASH_GUID, PSTORE_EFI_ATTRIBUTES)
  }

  /**
   * SetVariable(name, guid, attributes, 0, NULL) as OVMF runs it, the one delete path (pstore's
   * erase and efivarfs' unlink): the firmware finds the name again (runtime access not required
   * to find it, the caller's name compared up to its NUL); given `attributes` (pstore's erase),
   * one without RUNTIME_ACCESS or with other attributes is refused (EFI_INVALID_PARAMETER, which
   * the kernel does not report: the variable stays). Else one State bit is cleared (0x3f →
   * 0x3d), first of a copy in delete transition met before it; name and data stay. False when
   * nothing was deleted (EFI_NOT_FOUND or refused).
   */
  deleteVariable(name: string | Buffer, guid: Buffer, attributes?: number): boolean {
    const priv = typeof name === 'string' ? Buffer.from(`${name}\0`, 'utf16le') : nameUpToNul(name)
    const { variable, inTransition } = findTracked(this.store.variables(), priv, guid, true)
    if (!variable || (attributes !== undefined && !deletable(variable, attributes))) return false
    if (inTransition) this.store.clearState(inTransition.offset, VAR_DELETED)
    this.store.clearState(variable.offset, VAR_DELETED)
    this.region.flush()
    return true
  }

  /** QueryVariableInfo() for non-volatile variables: the store's room for them and what is left. */
  queryVariableInfo(): { storage: number; remaining: number } {
    return { storage: this.commonSpace(), remaining: this.remainingSpace() }
  }

  corrupt(spec: CorruptSpec): FlipReport[] {
    const flips = injectFaults(this.region, this.faultTarget(), spec)
    this.region.flush()
    return flips
  }

  /** Fault units: `store` (the volume and store headers) and every variable `var:N` (header and name, then its data). */
  private faultTarget(): FaultTarget {
    const bad = this.store.invalid()
    const start = bad ? Math.min(this.region.size, 0x64) : this.store.geometry().start
    const units: FaultUnit[] = [{ name: 'store', header: [0, start], record: [0, 0], data: [0, 0], used: false }]
    const variables = bad ? [] : this.store.variables()
    variables.forEach((v, i) => {
      const used = isLive(v.state) && v.guid.equals(CRASH_GUID)
      units.push({
        name: `var:${i}`,
        header: [v.offset, v.dataOffset],
        record: [v.dataOffset, v.dataOffset + v.dataSize],
        data: [v.dataOffset, v.dataOffset + v.dataSize],
        used,
      })
    })
    const describe = (offset: number): string => {
      if (offset < start) return offset < 0x48 ? `firmware volume header+${offset}` : `variable store header+${offset - 0x48}`
      const i = variables.findIndex((v) => offset >= v.offset && offset < v.end)
      const v = variables[i]
      if (!v) return 'free space or beyond the store'
      if (offset < v.offset + VARIABLE_HEADER_SIZE) return `var ${i} (${v.name}) header+${offset - v.offset}`
      return offset < v.dataOffset
        ? `var ${i} (${v.name}) name+${offset - v.offset - VARIABLE_HEADER_SIZE}`
        : `var ${i} (${v.name}) data+${offset - v.dataOffset}`
    }
    return { backend: this.name, units, describe }
  }

  /** The store as inspect shows it: its areas, every variable with the target kernel's verdict, the free space. */
  describe(): EfiDescription {
    const bad = this.store.invalid()
    if (bad) return { kind: this.name, invalid: bad, areas: [], variables: [] }
    const variables = this.store.variables()
    const geometry = this.store.geometry()
    const free = this.store.freeOffset(variables)
    const pass = this.readPass()
    const verdicts = this.verdicts(variables, pass)
    return {
      kind: this.name,
      bufsize: this.bufsize,
      readPass: { reads: pass.found.length, stop: pass.stop },
      store: {
        start: geometry.start,
        end: geometry.end,
        freeOffset: free,
        freeBytes: geometry.end - free,
        remaining: this.remainingSpace(),
        deletedBytes: variables.filter((v) => !isLive(v.state)).reduce((n, v) => n + v.end - v.offset, 0),
      },
      areas: storeAreas(this.store, geometry, free),
      variables: variables.map((v, i) => {
        const dump = v.guid.equals(CRASH_GUID) ? parseDumpName(v.name) : undefined
        return {
          offset: v.offset,
          size: v.end - v.offset,
          state: `0x${v.state.toString(16)}`,
          live: isLive(v.state),
          inTransition: isLive(v.state) && v.state !== VAR_ADDED,
          attributes: v.attributes,
          guid: guidText(v.guid),
          name: v.name,
          dataSize: v.dataSize,
          ...(dump
            ? {
                pstore: {
                  type: dump.type,
                  part: dump.part,
                  count: dump.count,
                  seconds: dump.seconds.toString(),
                  compressed: dump.compressed,
                  id: genericId(dump.seconds, dump.part, dump.count).toString(),
                },
              }
            : {}),
          verdict: verdicts[i],
        }
      }),
    }
  }

  /** Each variable's fate at the target kernel's boot, with the file a read one becomes (its name, `.enc.z`, or a duplicate dropped). */
  /**
   * Each variable's fate at the target kernel's boot: the records are the read pass's (readPass:
   * the firmware's enumeration as the kernel drives it), so the listing and the verdicts agree;
   * the walk (readPass.ts) says why a variable that is not read is not.
   */
  private verdicts(variables: StoredVariable[], pass: EfiReadPass): EfiVariableVerdict[] {
    // by offset: each walk of the store parses it anew
    const read = new Map(pass.found.map((f) => [f.variable.offset, f]))
    const files = new Map(this.passRecords(pass).map(({ variable, record }) => [variable.offset, record]))
    return this.walk(variables).map(({ variable, verdict }) => {
      const found = read.get(variable.offset)
      if (!found) {
        if (verdict.fate !== 'lists') return verdict
        return { fate: 'not-read', kernel: 'efi_pstore_read(): the firmware never returns it to the kernel', why: `the pass ends first: ${pass.stop}` }
      }
      const { dump } = found
      const record = files.get(variable.offset)
      if (!record)
        return {
          fate: 'duplicate',
          kernel: 'pstore_mkfile(): a file of this type and id exists (-EEXIST), the record is dropped',
          why: `id ${genericId(dump.seconds, dump.part, dump.count)} again`,
        }
      const file = recordName(record, this.name)
      if (record.inflateError)
        return {
          fate: 'enc.z',
          kernel: 'decompress_record() fails: pstore keeps the bytes as they are',
          why: `named -C but does not inflate (${record.inflateError})`,
          file,
        }
      const listed = { fate: 'lists' as const, kernel: 'efi_pstore_read_func(): the variable becomes a record, pstore_mkfile() its file' }
      return { ...listed, why: `${variable.dataSize} bytes${dump.compressed ? ', compressed (-C), inflated' : ''}`, file }
    })
  }

  memory(): BackendMemory {
    return {}
  }

  restoreMemory(_memory: BackendMemory): void {}
}
