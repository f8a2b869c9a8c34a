/**
 * The efi-pstore backend (drivers/firmware/efi/efi-pstore.c as a pstore_info, over OVMF's
 * variable store): dmesg records only (PSTORE_FLAGS_DMESG), one UEFI variable per part, files
 * `dmesg-efi-<id>` (6.1) or `dmesg-efi_pstore-<id>` (6.2+). What the firmware does behind
 * GetNextVariableName/GetVariable/SetVariable/QueryVariableInfo is OVMF's (edk2's variable
 * driver) at runtime: appends, State bits cleared in place, no reclaim until the next boot.
 */
import type { RegionImage } from '../../format/region.js'
import { inflateLimit, inflateRecord } from '../../pstore/compression.js'
import type { DmesgWrite, PstoreRecord, PstoreType } from '../../pstore/record.js'
import { PstoreSimError } from '../../util/errors.js'
import type { BackendDescription, BackendMemory, BootReport, CorruptSpec, DmesgWriteResult, FlipReport, PstoreBackend } from '../backend.js'
import { type FaultTarget, type FaultUnit, injectFaults } from '../faults.js'
import { type EfiConfig, efiBackendName, hasRecordSizeParam } from './config.js'
import { DUMP_NAME_LEN, type DumpName, dumpVariableName, genericId, LINUX_EFI_CRASH_GUID_TEXT, PSTORE_EFI_ATTRIBUTES, parseDumpName } from './dumpName.js'
import { deletable, findTracked, getNextVariableName, VariableIndex } from './services.js'
import { guidBytes, guidText, isLive, type StoredVariable, VAR_DELETED, VAR_IN_DELETED_TRANSITION, VARIABLE_HEADER_SIZE, VariableStore } from './varstore.js'

export class EfiError extends PstoreSimError {
  override name = 'EfiError'
}

export const CRASH_GUID = guidBytes(LINUX_EFI_CRASH_GUID_TEXT)

const LOOPING = 'the firmware enumerates a cycle (two live variables match one name): the kernel reads 65536 records and logs "looping? Too many records seen"'
const HANGS =
  'the firmware enumerates a cycle without a pstore record in it (two live variables match one name): efi_pstore_read() never returns, Linux hangs at the mount and lists nothing'

interface EfiReadPass {
  /** The variables read, with the parsed name and the kernel's name buffer when it was read (record->priv). */
  found: Array<{ variable: StoredVariable; dump: DumpName; name: Buffer }>
  /** Why the pass ended. */
  stop: string
  hangs?: boolean
}

/** The kernel's name buffer as a string: its UTF-16 units up to the first NUL. */
function bufferName(buffer: Buffer): string {
  let end = 0
  while (end + 1 < buffer.length && buffer.readUInt16LE(end) !== 0) end += 2
  return buffer.toString('utf16le', 0, end)
}

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
    readonly config: EfiConfig,
    readonly region: RegionImage,
  ) {
    if (region.size !== config.memSize) throw new EfiError(`the variable store file is ${region.size} bytes but its setup says ${config.memSize}`)
    this.store = new VariableStore(region)
  }

  get name(): 'efi' | 'efi_pstore' {
    return efiBackendName(this.config.kernel)
  }

  /** efi_pstore_info.bufsize: 1024 on 6.1, record_size on 6.2+. */
  get bufsize(): number {
    return this.config.efiRecordSize
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
  private readPass(): EfiReadPass {
    if (this.store.invalid()) return { found: [], stop: 'no variable services' }
    const newer = hasRecordSizeParam(this.config.kernel)
    const buffer = Buffer.alloc(newer ? this.bufsize : 1024)
    const passed = newer ? 512 : 1024
    const index = new VariableIndex(this.store.variables())
    const memory = (v: StoredVariable) => this.region.view(v.offset + VARIABLE_HEADER_SIZE, Math.max(0, this.region.size - v.offset - VARIABLE_HEADER_SIZE))
    const found: EfiReadPass['found'] = []
    const states = new Map<string, number>()
    let guid = CRASH_GUID
    while (found.length < 65536) {
      const state = `${buffer.toString('latin1')}${guid.toString('latin1')}`
      const then = states.get(state)
      if (then !== undefined) return then < found.length ? { found, stop: LOOPING } : { found: [], stop: HANGS, hangs: true }
      states.set(state, found.length)
      const next = getNextVariableName(index, buffer, passed, guid, memory)
      if ('status' in next) return { found, stop: `GetNextVariableName: ${next.status} (${next.why})` }
      next.variable.rawName.copy(buffer, 0)
      guid = next.variable.guid
      if (!guid.equals(CRASH_GUID)) continue
      const name = bufferName(buffer)
      const dump = parseDumpName(name)
      if (!dump) return { found, stop: `the name ${JSON.stringify(name.slice(0, 70))} is not efi-pstore's: efi_pstore_read_func() returns 0` }
      const variable = index.find(buffer, CRASH_GUID).variable
      if (!variable) return { found, stop: `GetVariable(${JSON.stringify(name.slice(0, 70))}): EFI_NOT_FOUND` }
      if (variable.dataSize > this.bufsize)
        return { found, stop: `GetVariable: ${variable.dataSize} bytes, more than the kernel's ${this.bufsize} (EFI_BUFFER_TOO_SMALL)` }
      if (variable.dataSize === 0) return { found, stop: 'a record of size 0 ends the pass' }
      found.push({ variable, dump, name: Buffer.from(buffer) })
    }
    return { found, stop: LOOPING }
  }

  /** Why the kernel lists nothing although variables are there: its read never returns. */
  readPassFailure(): string | undefined {
    const pass = this.readPass()
    return pass.hangs ? pass.stop : undefined
  }

  readRecords(): PstoreRecord[] {
    const records: PstoreRecord[] = []
    const seen = new Set<string>()
    for (const { variable, dump } of this.readPass().found) {
      const type = TYPE_IDS[dump.type] ?? 'unknown'
      const id = genericId(dump.seconds, dump.part, dump.count)
      // pstore_mkfile(): a second record of the same type and id is -EEXIST (dropped, the pass goes on)
      if (seen.has(`${type}:${id}`)) continue
      seen.add(`${type}:${id}`)
      records.push(
        this.inflate({
          type,
          id: id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id,
          time: { sec: BigInt.asIntN(64, dump.seconds), nsec: 0n },
          compressed: dump.compressed,
          payload: this.store.data(variable),
          eccNotice: '',
        }),
      )
    }
    return records
  }

  private inflate(record: PstoreRecord): PstoreRecord {
    const flavour = this.config.quirks.compression
    return inflateRecord(record, flavour, inflateLimit(flavour, this.bufsize), this.config.compress)
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
    const full = hasRecordSizeParam(this.config.kernel) ? ('ENOSPC' as const) : ('EIO' as const)
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
    if (!found) return
    let units = 0
    while (units < DUMP_NAME_LEN && units * 2 + 1 < found.name.length && found.name.readUInt16LE(units * 2) !== 0) units++
    const priv = Buffer.alloc((units + 1) * 2)
    found.name.copy(priv, 0, 0, units * 2)
    const { variable, inTransition } = findTracked(this.store.variables(), priv, CRASH_GUID, true)
    if (!variable || !deletable(variable, PSTORE_EFI_ATTRIBUTES)) return
    if (inTransition) this.store.clearState(inTransition.offset, VAR_DELETED)
    this.store.clearState(variable.offset, VAR_DELETED)
    this.region.flush()
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

  describe(): BackendDescription {
    const bad = this.store.invalid()
    if (bad) return { kind: this.name, invalid: bad, variables: [] }
    const variables = this.store.variables()
    const { start, end } = this.store.geometry()
    const free = this.store.freeOffset(variables)
    const pass = this.readPass()
    return {
      kind: this.name,
      bufsize: this.bufsize,
      readPass: { reads: pass.found.length, stop: pass.stop },
      store: {
        start,
        end,
        freeOffset: free,
        freeBytes: end - free,
        remaining: this.remainingSpace(),
        deletedBytes: variables.filter((v) => !isLive(v.state)).reduce((n, v) => n + v.end - v.offset, 0),
      },
      variables: variables.map((v) => {
        const dump = v.guid.equals(CRASH_GUID) ? parseDumpName(v.name) : undefined
        return {
          offset: v.offset,
          state: `0x${v.state.toString(16)}`,
          live: isLive(v.state),
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
        }
      }),
    }
  }

  memory(): BackendMemory {
    return {}
  }

  restoreMemory(_memory: BackendMemory): void {}
}
